import asyncio

from aiohttp import web

from conftest import check_running_loop


async def hello(request):
    check_running_loop()
    return web.Response(text='Hello, ' + request.match_info['name'])


async def test_aiohttp_client(aiohttp_client):
    check_running_loop()
    app = web.Application()
    app.router.add_get('/hello/{name}', hello)
    client = await aiohttp_client(app)
    resp = await client.get('/hello/legacy')
    assert resp.status == 200
    assert await resp.text() == 'Hello, legacy'


async def test_loop_fixture(loop):
    assert asyncio.get_running_loop() is loop
    check_running_loop()
