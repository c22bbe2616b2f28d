"""aiohttp's server and client, on our loop and on asyncio: streamed
request and response bodies, a file sent with sendfile, WebSocket, the
client's connection pool, and `web.run_app()` in a process of its own
(given our loop, or under `python -m loop run`)."""
import asyncio
import hashlib
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time

import pytest

from ._util import HOST, assert_running_on, loop_module_path, need, run

aiohttp = need('aiohttp')
from aiohttp import web

PEERS = web.AppKey('peers', list)
FILE = web.AppKey('file', object)
ENDED = web.AppKey('ended', asyncio.Future)


def make_app():
    peers = []      # the client address of every request, in order

    async def info(request):
        peers.append(request.transport.get_extra_info('peername'))
        running = asyncio.get_running_loop()
        return web.json_response({'loop': type(running).__module__})

    async def upload(request):
        # A slow reader: the body arrives faster than it is consumed, so
        # aiohttp pauses reading the socket and the client's writes wait
        # for the transport to drain (flow control both ways).
        digest = hashlib.sha256()
        size = 0
        async for chunk in request.content.iter_chunked(65536):
            digest.update(chunk)
            size += len(chunk)
            await asyncio.sleep(0.0005)
        return web.json_response({'size': size, 'sha256': digest.hexdigest()})

    async def endless(request):
        # Streams until the client goes away; records how writing ended.
        resp = web.StreamResponse()
        await resp.prepare(request)
        try:
            while True:
                await resp.write(b'z' * 65536)
        except Exception as exc:
            request.app[ENDED].set_result(exc)
            raise
        finally:
            if not request.app[ENDED].done():
                request.app[ENDED].set_result(None)

    async def stream(request):
        n = int(request.query['n'])
        size = int(request.query['size'])
        resp = web.StreamResponse()
        resp.enable_chunked_encoding()
        await resp.prepare(request)
        for i in range(n):
            await resp.write(bytes([i % 256]) * size)   # waits for drain
        await resp.write_eof()
        return resp

    async def file(request):
        return web.FileResponse(request.app[FILE])

    async def ws_echo(request):
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        async for msg in ws:
            if msg.type == aiohttp.WSMsgType.TEXT:
                if msg.data == 'close':
                    await ws.close(code=4001, message=b'bye')
                else:
                    await ws.send_str(msg.data)
            elif msg.type == aiohttp.WSMsgType.BINARY:
                await ws.send_bytes(msg.data)
        return ws

    app = web.Application(client_max_size=64 << 20)
    app[PEERS] = peers
    app.router.add_get('/info', info)
    app.router.add_post('/upload', upload)
    app.router.add_get('/stream', stream)
    app.router.add_get('/endless', endless)
    app.router.add_get('/file', file)
    app.router.add_get('/ws', ws_echo)
    return app


async def serve(app):
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, HOST, 0)
    await site.start()
    port = runner.addresses[0][1]
    return runner, f'http://{HOST}:{port}'


def test_streaming_bodies_and_sendfile(loop, loop_kind, tmp_path):
    file_data = os.urandom(5 << 20)
    (tmp_path / 'blob').write_bytes(file_data)

    async def main():
        assert_running_on(loop_kind)
        app = make_app()
        app[FILE] = tmp_path / 'blob'
        runner, base = await serve(app)
        try:
            async with aiohttp.ClientSession(base) as session:
                async with session.get('/info') as r:
                    assert (await r.json())['loop'].split('.')[0] == (
                        'loop' if loop_kind == 'loop' else 'asyncio')

                # Upload a streamed body (chunked) of 20 MiB.
                block = os.urandom(1 << 20)

                async def body():
                    for _ in range(20):
                        yield block
                async with session.post('/upload', data=body()) as r:
                    assert r.status == 200
                    assert await r.json() == {
                        'size': 20 << 20,
                        'sha256': hashlib.sha256(block * 20).hexdigest()}

                # Read a streamed response chunk by chunk.
                n, size = 400, 50000
                expected = hashlib.sha256(b''.join(
                    bytes([i % 256]) * size for i in range(n))).hexdigest()
                got = hashlib.sha256()
                total = 0
                async with session.get('/stream',
                                       params={'n': n, 'size': size}) as r:
                    async for chunk in r.content.iter_chunked(65536):
                        got.update(chunk)
                        total += len(chunk)
                assert (total, got.hexdigest()) == (n * size, expected)

                # A file: aiohttp sends it with loop.sendfile().
                async with session.get('/file') as r:
                    assert r.status == 200
                    assert await r.read() == file_data
        finally:
            await runner.cleanup()
    run(loop, main())


def test_client_goes_away_mid_stream(loop, loop_kind):
    """The client reads a little of an endless response and drops the
    connection: the server's write fails with a ConnectionError (aiohttp's
    'Connection lost', from the transport's connection_lost while the
    handler waited for it to drain), and the handler ends."""
    async def main():
        assert_running_on(loop_kind)
        app = make_app()
        app[ENDED] = asyncio.get_running_loop().create_future()
        runner, base = await serve(app)
        try:
            async with aiohttp.ClientSession(base) as session:
                r = await session.get('/endless')
                assert len(await r.content.readexactly(1 << 20)) == 1 << 20
                r.close()           # drops the connection
            exc = await app[ENDED]
            assert isinstance(exc, ConnectionError), repr(exc)
        finally:
            await runner.cleanup()
    run(loop, main())


def test_websocket(loop, loop_kind):
    async def main():
        assert_running_on(loop_kind)
        runner, base = await serve(make_app())
        try:
            async with aiohttp.ClientSession(base) as session:
                async with session.ws_connect('/ws', autoping=True) as ws:
                    for i in range(300):
                        await ws.send_str(f'text {i}')
                        assert await ws.receive_str() == f'text {i}'
                    payload = os.urandom(2 << 20)
                    await ws.send_bytes(payload)
                    assert await ws.receive_bytes() == payload
                    await ws.ping(b'are you there')
                    await ws.send_str('close')
                    msg = await ws.receive()
                    assert msg.type == aiohttp.WSMsgType.CLOSE
                    assert (msg.data, msg.extra) == (4001, 'bye')
                assert ws.closed
                assert ws.close_code == 4001
        finally:
            await runner.cleanup()
    run(loop, main())


def test_client_connection_pool(loop, loop_kind):
    async def main():
        assert_running_on(loop_kind)
        app = make_app()
        runner, base = await serve(app)
        try:
            connector = aiohttp.TCPConnector(limit=4)
            async with aiohttp.ClientSession(base, connector=connector) as s:
                async def get():
                    async with s.get('/info') as r:
                        assert r.status == 200
                        await r.read()
                # 200 concurrent requests through at most 4 connections.
                await asyncio.gather(*[get() for _ in range(200)])
                assert len(app[PEERS]) == 200
                assert 1 <= len(set(app[PEERS])) <= 4, set(app[PEERS])
                # Sequential requests reuse the pooled connections.
                before = set(app[PEERS])
                for _ in range(20):
                    await get()
                assert set(app[PEERS]) == before
        finally:
            await runner.cleanup()
    run(loop, main())


RUN_APP = textwrap.dedent('''
    import asyncio, sys
    from aiohttp import web
    import loop as eloop

    async def info(request):
        return web.json_response(
            {'loop': type(asyncio.get_running_loop()).__module__})

    app = web.Application()
    app.router.add_get('/info', info)
    # 'given': run_app(loop=...) with a loop of the kind; 'default': aiohttp
    # makes the loop itself (asyncio's, or ours under `python -m loop run`).
    how, kind, port = sys.argv[1:]
    kwargs = {}
    if how == 'given':
        kwargs['loop'] = (eloop.new_event_loop() if kind == 'loop'
                          else asyncio.new_event_loop())
    web.run_app(app, host='127.0.0.1', port=int(port),
                print=lambda *a: print(*a, flush=True), **kwargs)
    print('run_app returned', flush=True)
''')


@pytest.mark.parametrize('how', ['given', 'default'])
def test_run_app(loop, loop_kind, how, tmp_path):
    """The README's recipes: web.run_app(app, loop=loop.new_event_loop()),
    and a script calling plain web.run_app(app) run by `python -m loop run`
    (by plain `python` for asyncio); stopped by Ctrl-C (SIGINT)."""
    with socket.socket() as s:
        s.bind((HOST, 0))
        port = s.getsockname()[1]
    log_path = tmp_path / 'run_app.log'
    script = tmp_path / 'server.py'
    script.write_text(RUN_APP)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [loop_module_path(), os.environ.get('PYTHONPATH', '')]))
    runner = ([sys.executable, '-m', 'loop', 'run']
              if how == 'default' and loop_kind == 'loop'
              else [sys.executable])
    with open(log_path, 'w') as log:
        proc = subprocess.Popen(
            [*runner, str(script), how, loop_kind, str(port)],
            stdout=log, stderr=subprocess.STDOUT, env=env)
    try:
        deadline = time.monotonic() + 60
        while 'Running on' not in log_path.read_text():
            assert proc.poll() is None, log_path.read_text()
            assert time.monotonic() < deadline, log_path.read_text()
            time.sleep(0.05)

        async def get():
            async with aiohttp.ClientSession() as session, \
                    session.get(f'http://{HOST}:{port}/info') as r:
                return (await r.json())['loop']
        assert run(loop, get()).split('.')[0] == (
            'loop' if loop_kind == 'loop' else 'asyncio')
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    output = log_path.read_text()
    assert proc.returncode == 0, output
    assert 'run_app returned' in output and 'Traceback' not in output, output
