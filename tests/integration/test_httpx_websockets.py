"""httpx's async client and the websockets library (client and server), on
our loop and on asyncio, in plain TCP, TLS (a trustme CA) and, for
websockets, over a Unix socket."""
import asyncio
import hashlib
import os
import ssl

import pytest

from ._util import HOST, assert_running_on, need, run

httpx = need('httpx')
websockets = need('websockets')
aiohttp = need('aiohttp')
trustme = need('trustme')
from aiohttp import web
from websockets.asyncio.client import connect, unix_connect
from websockets.asyncio.server import broadcast, serve, unix_serve


@pytest.fixture(scope='module')
def tls():
    """(server context, client context) for 'localhost' and 127.0.0.1."""
    ca = trustme.CA()
    cert = ca.issue_cert('localhost', '127.0.0.1')
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(server)
    client = ssl.create_default_context()
    ca.configure_trust(client)
    return server, client


RELEASE = web.AppKey('release', asyncio.Event)


def _http_app():
    async def hello(request):
        return web.Response(text='hello ' + request.query.get('who', ''))

    async def download(request):
        size = int(request.query['size'])
        resp = web.StreamResponse()
        resp.content_length = size
        await resp.prepare(request)
        chunk = b'x' * 65536
        for offset in range(0, size, len(chunk)):
            await resp.write(chunk[:size - offset])
        return resp

    async def slow(request):
        # Answers only once the test has seen its client time out.
        await request.app[RELEASE].wait()
        return web.Response(text='too late')

    async def redirect(request):
        raise web.HTTPFound('/hello?who=redirected')

    app = web.Application()
    app[RELEASE] = asyncio.Event()
    app.router.add_get('/hello', hello)
    app.router.add_get('/download', download)
    app.router.add_get('/slow', slow)
    app.router.add_get('/redirect', redirect)
    return app


@pytest.mark.parametrize('scheme', ['http', 'https'])
def test_httpx_async_client(loop, loop_kind, scheme, tls):
    server_ctx, client_ctx = tls

    async def main():
        assert_running_on(loop_kind)
        app = _http_app()
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, HOST, 0,
                           ssl_context=server_ctx if scheme == 'https' else None)
        await site.start()
        port = runner.addresses[0][1]
        base = f'{scheme}://{HOST}:{port}'
        try:
            limits = httpx.Limits(max_connections=3)
            async with httpx.AsyncClient(base_url=base, verify=client_ctx,
                                         limits=limits, timeout=30) as client:
                r = await client.get('/hello', params={'who': 'you'})
                assert (r.status_code, r.text) == (200, 'hello you')
                assert r.http_version == 'HTTP/1.1'

                # Concurrent requests through a pool of 3 connections.
                rs = await asyncio.gather(*[
                    client.get('/hello', params={'who': str(i)})
                    for i in range(60)])
                assert [r.text for r in rs] == [f'hello {i}' for i in range(60)]

                # A streamed download of 12 MB.
                size = 12_000_000
                digest = hashlib.sha256()
                async with client.stream('GET', '/download',
                                         params={'size': size}) as r:
                    async for chunk in r.aiter_raw():
                        digest.update(chunk)
                assert digest.hexdigest() == hashlib.sha256(
                    b'x' * size).hexdigest()

                r = await client.get('/redirect', follow_redirects=True)
                assert r.text == 'hello redirected'
                assert [h.status_code for h in r.history] == [302]

                # httpx's read timeout, then the pool still works.
                with pytest.raises(httpx.ReadTimeout):
                    await client.get('/slow', timeout=0.2)
                app[RELEASE].set()
                assert (await client.get('/hello')).status_code == 200

            # Nobody listens on the port any more: httpx's ConnectError.
            await runner.cleanup()
            runner = None
            async with httpx.AsyncClient(verify=client_ctx) as client:
                with pytest.raises(httpx.ConnectError):
                    await client.get(base + '/hello')
        finally:
            if runner is not None:
                await runner.cleanup()
    run(loop, main())


async def _echo(ws):
    async for message in ws:
        if message == 'close please':
            await ws.close(4002, 'as asked')
            return
        await ws.send(message)


@pytest.mark.parametrize('transport', ['tcp', 'tls', 'unix'])
def test_websockets_client_and_server(loop, loop_kind, transport, tls,
                                      tmp_path):
    server_ctx, client_ctx = tls
    path = str(tmp_path / 'ws.sock')

    async def main():
        assert_running_on(loop_kind)
        if transport == 'unix':
            server = await unix_serve(_echo, path)
            client = lambda: unix_connect(path, uri='ws://localhost/')
        else:
            ssl_ctx = server_ctx if transport == 'tls' else None
            server = await serve(_echo, HOST, 0, ssl=ssl_ctx)
            port = server.sockets[0].getsockname()[1]
            scheme = 'wss' if transport == 'tls' else 'ws'
            client = lambda: connect(
                f'{scheme}://{HOST}:{port}/',
                ssl=client_ctx if transport == 'tls' else None)
        async with server:
            async with client() as ws:
                for i in range(300):
                    await ws.send(f'message {i}')
                    assert await ws.recv() == f'message {i}'
                big = os.urandom(900_000)    # under the 1 MiB default limit
                await ws.send(big)
                assert await ws.recv() == big
                latency = await (await ws.ping())
                assert latency >= 0
                # Fragmented message, sent from an async iterator.
                async def parts():
                    for p in ('frag', 'ment', 'ed'):
                        yield p
                await ws.send(parts())
                assert await ws.recv() == 'fragmented'
                await ws.send('close please')
                with pytest.raises(websockets.ConnectionClosed) as info:
                    await ws.recv()
                assert (info.value.rcvd.code, info.value.rcvd.reason) == (
                    4002, 'as asked')

            # Many clients at once, and a broadcast to all of them.
            clients = [await client().__aenter__() for _ in range(30)]
            try:
                await asyncio.gather(*[ws.send('hi') for ws in clients])
                assert await asyncio.gather(
                    *[ws.recv() for ws in clients]) == ['hi'] * 30
                broadcast(server.connections, 'to everyone')
                assert await asyncio.gather(
                    *[ws.recv() for ws in clients]) == ['to everyone'] * 30
            finally:
                for ws in clients:
                    await ws.close()
            server.close()
            await server.wait_closed()
    run(loop, main())
