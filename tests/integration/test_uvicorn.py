"""uvicorn serving a Starlette app, on our loop and on asyncio.

Two ways users run it: the command line with the loop named by import
string (`uvicorn app:app --loop loop:new_event_loop`, uvicorn >= 0.36), in
a subprocess; and `uvicorn.Server(config).serve()` as a task of a loop the
program made.  Each is exercised over HTTP (keep-alive, a streamed response,
a large streamed upload, concurrent requests) and WebSocket, with httpx and
websockets as clients, running on the same kind of loop.  Both of uvicorn's
HTTP parsers (h11, httptools) and both of its websockets protocols are
covered.
"""
import asyncio
import hashlib
import os
import signal
import socket
import subprocess
import sys
import time

import pytest

from ._util import HOST, assert_running_on, loop_module_path, run

pytest.importorskip('uvicorn')
pytest.importorskip('starlette')
httpx = pytest.importorskip('httpx')
websockets = pytest.importorskip('websockets')

APPS = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'apps')
# (uvicorn's --http, --ws): each parser and each websockets protocol once.
STACKS = [('h11', 'websockets-sansio'), ('httptools', 'websockets')]
SERVER_LOOP = {'loop': 'loop.', 'asyncio': 'asyncio.'}


async def exercise(port, loop_kind):
    """Talk to the app over HTTP and WebSocket; check every answer."""
    assert_running_on(loop_kind)
    base = f'http://{HOST}:{port}'
    async with httpx.AsyncClient(base_url=base, timeout=30) as client:
        # Keep-alive: sequential requests share one connection, so the
        # server sees one client address.
        seen = set()
        for _ in range(20):
            r = await client.get('/info')
            assert r.status_code == 200
            seen.add(tuple(r.json()['client']))
            assert r.json()['loop'].startswith(SERVER_LOOP[loop_kind])
        assert len(seen) == 1, seen

        # A streamed response: 512 chunks of 32 KiB, chunk i all i % 256.
        n, size = 512, 32768
        expected = hashlib.sha256()
        for i in range(n):
            expected.update(bytes([i % 256]) * size)
        got = hashlib.sha256()
        total = 0
        async with client.stream('GET', '/stream',
                                 params={'n': n, 'size': size}) as r:
            assert r.status_code == 200
            async for chunk in r.aiter_bytes():
                got.update(chunk)
                total += len(chunk)
        assert total == n * size
        assert got.hexdigest() == expected.hexdigest()

        # A large upload, streamed by the client (chunked): 24 MiB.
        block = os.urandom(1 << 20)

        async def body():
            for _ in range(24):
                yield block
        r = await client.post('/upload', content=body())
        assert r.status_code == 200
        assert r.json() == {
            'size': 24 << 20,
            'sha256': hashlib.sha256(block * 24).hexdigest()}

        # Concurrent requests over a small pool of connections.
        responses = await asyncio.gather(
            *[client.get('/plain') for _ in range(100)])
        assert [r.text for r in responses] == ['Hello, world!'] * 100

    async with websockets.connect(f'ws://{HOST}:{port}/ws') as ws:
        assert (await ws.recv()).startswith(SERVER_LOOP[loop_kind])
        for i in range(200):
            await ws.send(f'message {i}')
            assert await ws.recv() == f'message {i}'
        payload = os.urandom(512 * 1024)
        await ws.send(payload)
        assert await ws.recv() == payload
        await ws.send('close')
        with pytest.raises(websockets.ConnectionClosed) as info:
            await ws.recv()
        assert info.value.rcvd.code == 4000
        assert info.value.rcvd.reason == 'asked to'


def _free_port():
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def _wait_listening(proc, port, log_path):
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            with open(log_path) as f:
                pytest.fail(f'uvicorn exited {proc.returncode}:\n{f.read()}')
        try:
            socket.create_connection((HOST, port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    pytest.fail('uvicorn did not start listening within 60 s')


@pytest.mark.parametrize('http,ws', STACKS)
def test_uvicorn_cli_loop_import_string(loop, loop_kind, http, ws, tmp_path):
    """`uvicorn starlette_app:app --loop loop:new_event_loop`."""
    loop_arg = 'loop:new_event_loop' if loop_kind == 'loop' else 'asyncio'
    port = _free_port()
    log_path = tmp_path / 'uvicorn.log'
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [loop_module_path(), os.environ.get('PYTHONPATH', '')]))
    with open(log_path, 'w') as log:
        proc = subprocess.Popen(
            [sys.executable, '-m', 'uvicorn', 'starlette_app:app',
             '--app-dir', APPS, '--host', HOST, '--port', str(port),
             '--loop', loop_arg, '--http', http, '--ws', ws,
             '--log-level', 'info', '--no-access-log'],
            stdout=log, stderr=subprocess.STDOUT, env=env)
    try:
        _wait_listening(proc, port, log_path)
        run(loop, exercise(port, loop_kind))
    finally:
        # uvicorn shuts down gracefully on SIGTERM, then re-raises it.
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    output = log_path.read_text()
    assert proc.returncode in (0, -signal.SIGTERM), output
    assert 'Finished server process' in output, output
    assert 'Traceback' not in output and 'ERROR' not in output, output


@pytest.mark.parametrize('http,ws', STACKS)
def test_uvicorn_server_in_our_loop(loop, loop_kind, http, ws):
    """uvicorn.Server(config).serve() as a task of the test's loop."""
    import uvicorn

    from .apps.starlette_app import app

    async def main():
        config = uvicorn.Config(app, host=HOST, port=0, http=http, ws=ws,
                                lifespan='on', log_level='warning')
        server = uvicorn.Server(config)
        task = asyncio.create_task(server.serve())
        while not server.started:
            assert not task.done(), task
            await asyncio.sleep(0.01)
        port = server.servers[0].sockets[0].getsockname()[1]
        try:
            await exercise(port, loop_kind)
        finally:
            server.should_exit = True
            await task
    run(loop, main())
