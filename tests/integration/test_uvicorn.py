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

from ._util import HOST, assert_running_on, loop_module_path, need, run

need('uvicorn')
need('starlette')
httpx = need('httpx')
websockets = need('websockets')

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


class UvicornProcess:
    """`python -m uvicorn starlette_app:app ARGS...` with our loop or
    asyncio's, its output in a file; stopped with SIGTERM on exit, which
    uvicorn answers with a graceful shutdown."""

    def __init__(self, loop_kind, args, log_path):
        self.log_path = log_path
        loop_arg = 'loop:new_event_loop' if loop_kind == 'loop' else 'asyncio'
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(
            [loop_module_path(), os.environ.get('PYTHONPATH', '')]))
        with open(log_path, 'w') as log:
            self.proc = subprocess.Popen(
                [sys.executable, '-m', 'uvicorn', 'starlette_app:app',
                 '--app-dir', APPS, '--loop', loop_arg, '--log-level', 'info',
                 '--no-access-log', *args],
                stdout=log, stderr=subprocess.STDOUT, env=env)

    def wait_for(self, connect):
        """Wait until connect() succeeds (the server listens)."""
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                pytest.fail(f'uvicorn exited {self.proc.returncode}:\n'
                            + self.log_path.read_text())
            try:
                connect().close()
                return
            except OSError:
                time.sleep(0.05)
        pytest.fail('uvicorn did not start listening within 60 s')

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def check_clean_exit(self, processes=1):
        # uvicorn re-raises the SIGTERM it handled once it has shut down.
        output = self.log_path.read_text()
        assert self.proc.returncode in (0, -signal.SIGTERM), output
        assert output.count('Finished server process') == processes, output
        assert 'Traceback' not in output and 'ERROR' not in output, output


@pytest.mark.parametrize('http,ws', STACKS)
def test_uvicorn_cli_loop_import_string(loop, loop_kind, http, ws, tmp_path):
    """`uvicorn starlette_app:app --loop loop:new_event_loop`."""
    port = _free_port()
    with UvicornProcess(loop_kind, ['--host', HOST, '--port', str(port),
                                    '--http', http, '--ws', ws],
                        tmp_path / 'uvicorn.log') as server:
        server.wait_for(lambda: socket.create_connection((HOST, port), 1))
        run(loop, exercise(port, loop_kind))
    server.check_clean_exit()


def test_uvicorn_cli_unix_socket_two_workers(loop, loop_kind, tmp_path):
    """`--uds PATH --workers 2`: uvicorn's supervisor spawns two worker
    processes, each making its loop from the import string and serving
    the one listening socket it inherited."""
    path = str(tmp_path / 'uvicorn.sock')

    def connect():
        s = socket.socket(socket.AF_UNIX)
        try:
            s.connect(path)
        except OSError:
            s.close()
            raise
        return s

    async def main():
        assert_running_on(loop_kind)
        transport = httpx.AsyncHTTPTransport(uds=path)
        async with httpx.AsyncClient(transport=transport,
                                     base_url='http://uvicorn') as client:
            # Fresh connections, which either worker may accept.
            for _ in range(20):
                r = await client.get('/info', headers={'Connection': 'close'})
                assert r.json()['loop'].startswith(SERVER_LOOP[loop_kind])
            rs = await asyncio.gather(*[client.get('/plain') for _ in range(50)])
            assert {r.text for r in rs} == {'Hello, world!'}
        async with websockets.unix_connect(path, 'ws://uvicorn/ws') as ws:
            assert (await ws.recv()).startswith(SERVER_LOOP[loop_kind])
            await ws.send('over a Unix socket')
            assert await ws.recv() == 'over a Unix socket'

    with UvicornProcess(loop_kind, ['--uds', path, '--workers', '2'],
                        tmp_path / 'uvicorn.log') as server:
        server.wait_for(connect)
        run(loop, main())
    server.check_clean_exit(processes=2)


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


def test_uvicorn_keepalive_timeout_and_shutdown(loop, loop_kind):
    """uvicorn closes an idle kept-alive connection after
    timeout_keep_alive (a timer of the loop), and shuts down gracefully
    with connections open: the WebSocket gets 1012 (service restart), an
    idle HTTP connection is closed, and serve() returns."""
    import uvicorn

    from .apps.starlette_app import app

    async def main():
        assert_running_on(loop_kind)
        config = uvicorn.Config(app, host=HOST, port=0, lifespan='on',
                                log_level='warning', timeout_keep_alive=1,
                                ws='websockets-sansio')
        server = uvicorn.Server(config)
        task = asyncio.create_task(server.serve())
        while not server.started:
            assert not task.done(), task
            await asyncio.sleep(0.01)
        port = server.servers[0].sockets[0].getsockname()[1]
        try:
            # One request, then the connection idles until uvicorn closes
            # it: EOF, well within the test's time bound.
            reader, writer = await asyncio.open_connection(HOST, port)
            writer.write(b'GET /plain HTTP/1.1\r\nHost: test\r\n\r\n')
            head = await reader.readuntil(b'\r\n\r\n')
            assert head.startswith(b'HTTP/1.1 200 ')
            assert await reader.readexactly(13) == b'Hello, world!'
            assert await reader.read() == b''
            writer.close()
            await writer.wait_closed()

            ws = await websockets.connect(f'ws://{HOST}:{port}/ws')
            assert (await ws.recv()).startswith(SERVER_LOOP[loop_kind])
            reader, writer = await asyncio.open_connection(HOST, port)
            writer.write(b'GET /plain HTTP/1.1\r\nHost: test\r\n\r\n')
            await reader.readuntil(b'\r\n\r\n')
            await reader.readexactly(13)

            server.should_exit = True
            with pytest.raises(websockets.ConnectionClosed) as info:
                await ws.recv()
            assert info.value.rcvd.code == 1012
            assert await reader.read() == b''     # the idle one is closed
            writer.close()
            await writer.wait_closed()
            await ws.close()
            await task
            with pytest.raises(OSError):
                await asyncio.open_connection(HOST, port)
        finally:
            server.should_exit = True
            await task
    run(loop, main())


def test_gunicorn_uvicorn_workers(loop, loop_kind, tmp_path):
    """gunicorn with two uvicorn workers whose worker class sets the loop
    (README's recipe; apps/workers.py), stopped gracefully by SIGTERM."""
    need('gunicorn')
    need('uvicorn_worker')
    worker = ('workers.LoopUvicornWorker' if loop_kind == 'loop'
              else 'workers.AsyncioUvicornWorker')
    port = _free_port()
    log_path = tmp_path / 'gunicorn.log'
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [loop_module_path(), os.environ.get('PYTHONPATH', '')]))
    with open(log_path, 'w') as log:
        proc = subprocess.Popen(
            [sys.executable, '-m', 'gunicorn', 'starlette_app:app',
             '--chdir', APPS, '-k', worker, '-w', '2',
             '-b', f'{HOST}:{port}', '--graceful-timeout', '20'],
            stdout=log, stderr=subprocess.STDOUT, env=env)

    async def main():
        async with httpx.AsyncClient(base_url=f'http://{HOST}:{port}',
                                     timeout=30) as client:
            for _ in range(20):
                r = await client.get('/info', headers={'Connection': 'close'})
                assert r.json()['loop'].startswith(SERVER_LOOP[loop_kind])
            rs = await asyncio.gather(*[client.get('/plain') for _ in range(50)])
            assert {r.text for r in rs} == {'Hello, world!'}
    try:
        deadline = time.monotonic() + 60
        # Both workers booted and serving (each logs its startup).
        while log_path.read_text().count('Application startup complete') < 2:
            assert proc.poll() is None, log_path.read_text()
            assert time.monotonic() < deadline, log_path.read_text()
            time.sleep(0.05)
        run(loop, main())
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    output = log_path.read_text()
    assert proc.returncode == 0, output
    assert output.count('Finished server process') == 2, output
    assert 'Traceback' not in output and 'ERROR' not in output, output
