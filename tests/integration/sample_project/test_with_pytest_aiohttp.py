import pytest
from aiohttp import web

from conftest import check_running_loop


async def hello(request):
    check_running_loop()
    return web.Response(text='Hello, ' + request.match_info['name'])


async def echo_ws(request):
    ws = web.WebSocketResponse()
    await ws.prepare(request)
    async for msg in ws:
        await ws.send_str(msg.data)
    return ws


@pytest.fixture
def app():
    app = web.Application()
    app.router.add_get('/hello/{name}', hello)
    app.router.add_get('/ws', echo_ws)
    return app


@pytest.mark.asyncio
async def test_aiohttp_client(aiohttp_client, app):
    check_running_loop()
    client = await aiohttp_client(app)
    resp = await client.get('/hello/loop')
    assert resp.status == 200
    assert await resp.text() == 'Hello, loop'
    async with client.ws_connect('/ws') as ws:
        await ws.send_str('ping')
        assert await ws.receive_str() == 'ping'


@pytest.mark.asyncio
async def test_aiohttp_server(aiohttp_server, app):
    check_running_loop()
    server = await aiohttp_server(app)
    import aiohttp
    async with aiohttp.ClientSession() as session, \
            session.get(server.make_url('/hello/server')) as resp:
        assert await resp.text() == 'Hello, server'
