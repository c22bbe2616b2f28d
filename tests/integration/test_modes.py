"""The libraries again, with the loop in asyncio's debug mode and with
eager tasks (3.12+): modes in which the loop does more checking, or runs
coroutines' first steps at once, where a loop that differs from asyncio
shows it.  One mixed workload: aiohttp server and client, an asyncpg pool
with LISTEN/NOTIFY, redis-py pipelines and pub/sub, all at once."""
import asyncio
import logging
import os
import sys

import pytest

from ._util import HOST, assert_running_on, need, run

aiohttp = need('aiohttp')
asyncpg = need('asyncpg')
redis_asyncio = need('redis.asyncio')
from aiohttp import web


async def _http(n):
    async def echo(request):
        return web.Response(body=await request.read())

    async def ws_echo(request):
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        async for msg in ws:
            await ws.send_str(msg.data)
        return ws

    app = web.Application()
    app.router.add_post('/echo', echo)
    app.router.add_get('/ws', ws_echo)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, HOST, 0).start()
    base = f'http://{HOST}:{runner.addresses[0][1]}'
    try:
        body = os.urandom(1 << 20)
        async with aiohttp.ClientSession(base) as session:
            async def post(i):
                async with session.post('/echo', data=body[:i * 1000]) as r:
                    assert await r.read() == body[:i * 1000]
            await asyncio.gather(*[post(i) for i in range(n)])
            async with session.ws_connect('/ws') as ws:
                for i in range(n):
                    await ws.send_str(str(i))
                    assert await ws.receive_str() == str(i)
    finally:
        await runner.cleanup()


async def _postgres(dsn, n):
    async with asyncpg.create_pool(dsn, min_size=1, max_size=4) as pool:
        assert await asyncio.gather(
            *[pool.fetchval('SELECT $1::int * 2', i) for i in range(n)]
        ) == [i * 2 for i in range(n)]
        got = asyncio.Queue()
        async with pool.acquire() as listener:
            def on_notify(conn, pid, channel, payload):
                got.put_nowait(payload)
            await listener.add_listener('modes', on_notify)
            for i in range(n):
                await pool.execute("SELECT pg_notify('modes', $1)", str(i))
            assert [await got.get() for _ in range(n)] == [
                str(i) for i in range(n)]
            await listener.remove_listener('modes', on_notify)


async def _redis(url, n):
    r = redis_asyncio.from_url(url, decode_responses=True)
    try:
        async with r.pipeline() as pipe:
            for i in range(n):
                pipe.set(f'modes:{i}', i)
            assert await pipe.execute() == [True] * n
        async with r.pubsub() as pubsub:
            await pubsub.subscribe('modes')
            assert (await pubsub.get_message(timeout=10))['type'] == 'subscribe'
            for i in range(n):
                await r.publish('modes', str(i))
            got = []
            while len(got) < n:
                msg = await pubsub.get_message(timeout=10)
                assert msg is not None
                got.append(msg['data'])
            assert got == [str(i) for i in range(n)]
    finally:
        await r.aclose()


MODES = ['debug', pytest.param('eager', marks=pytest.mark.skipif(
    sys.version_info < (3, 12), reason='eager tasks are new in Python 3.12'))]


@pytest.mark.parametrize('mode', MODES)
def test_mixed_workload(loop, loop_kind, mode, pg_dsn, redis_url, caplog):
    if mode == 'debug':
        loop.set_debug(True)
        # Slow-callback warnings depend on the machine's load, not on the
        # loop: only errors count.
        loop.slow_callback_duration = 10
    else:
        loop.set_task_factory(asyncio.eager_task_factory)

    async def main():
        assert_running_on(loop_kind)
        await asyncio.gather(_http(50), _postgres(pg_dsn, 50),
                             _redis(redis_url, 50))
    with caplog.at_level(logging.WARNING, logger='asyncio'):
        run(loop, main())
    assert not caplog.records, caplog.text
