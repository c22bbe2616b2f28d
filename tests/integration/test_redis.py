"""redis-py's asyncio client against a real Redis (started by
scripts/integration.sh), on our loop and on asyncio: commands over TCP and
the Unix socket, pipelines and transactions, a pool shared by concurrent
tasks, a cancelled blocking command, pub/sub."""
import asyncio
import os

import pytest

from ._util import assert_running_on, need, run

redis_asyncio = need('redis.asyncio')
import redis


async def _client(url, flush=True, **kwargs):
    # The tests share one database: each starts from an empty one.
    r = redis_asyncio.from_url(url, **kwargs)
    if flush:
        await r.flushdb()
    return r


def test_commands(loop, loop_kind, redis_url, redis_socket):
    async def main():
        assert_running_on(loop_kind)
        tcp = await _client(redis_url, decode_responses=True)
        unix = redis_asyncio.Redis(unix_socket_path=redis_socket,
                                   decode_responses=True)
        try:
            assert await tcp.ping() is True
            assert await unix.ping() is True
            assert await tcp.set('k', 'v') is True
            assert await unix.get('k') == 'v'       # the same server
            assert await tcp.incr('n') == 1
            assert await tcp.incrby('n', 41) == 42
            assert await tcp.expire('n', 100) is True
            assert 0 < await tcp.ttl('n') <= 100
            await tcp.hset('h', mapping={'a': '1', 'b': '2'})
            assert await tcp.hgetall('h') == {'a': '1', 'b': '2'}
            await tcp.rpush('l', *range(10))
            assert await tcp.lrange('l', 0, -1) == [str(i) for i in range(10)]
            assert await tcp.mget('k', 'missing') == ['v', None]
            # A reply of the server's error: redis-py's exception.
            with pytest.raises(redis.ResponseError, match='WRONGTYPE'):
                await tcp.incr('h')
            # A blocking command that the server answers later.
            async def push_later():
                await asyncio.sleep(0.05)
                await unix.lpush('queue', 'job')
            pusher = asyncio.ensure_future(push_later())
            assert await tcp.brpop(['queue'], timeout=30) == ('queue', 'job')
            await pusher
        finally:
            await tcp.aclose()
            await unix.aclose()

        # Values larger than the socket buffers, both ways.
        r = await _client(redis_url)
        try:
            big = os.urandom(8 << 20)
            await r.set('big', big)
            assert await r.get('big') == big
            assert await r.strlen('big') == len(big)
        finally:
            await r.aclose()
    run(loop, main())


def test_pipelines_and_transactions(loop, loop_kind, redis_url):
    async def main():
        assert_running_on(loop_kind)
        r = await _client(redis_url, decode_responses=True)
        try:
            # MULTI/EXEC with 2000 commands in one round trip.
            async with r.pipeline(transaction=True) as pipe:
                for i in range(1000):
                    pipe.set(f'key:{i}', i)
                    pipe.incr('counter')
                results = await pipe.execute()
            assert results[0::2] == [True] * 1000
            assert results[1::2] == list(range(1, 1001))

            # Without MULTI; an error stays in its slot.
            async with r.pipeline(transaction=False) as pipe:
                pipe.get('key:7').hset('hash', 'f', 'v').incr('hash').get('key:999')
                got = await pipe.execute(raise_on_error=False)
            assert got[0] == '7' and got[1] == 1 and got[3] == '999'
            assert isinstance(got[2], redis.ResponseError)

            # Optimistic locking: WATCH, a concurrent writer, retry.
            await r.set('balance', 100)
            other = await _client(redis_url, flush=False)
            tries = 0

            async def debit(pipe):
                nonlocal tries
                tries += 1
                balance = int(await pipe.get('balance'))
                if tries == 1:          # someone else writes in between
                    await other.incrby('balance', 5)
                pipe.multi()
                pipe.set('balance', balance - 30)
            try:
                await r.transaction(debit, 'balance')
            finally:
                await other.aclose()
            assert tries == 2
            assert await r.get('balance') == '75'
        finally:
            await r.aclose()
    run(loop, main())


def test_pool_and_cancelled_blocking_command(loop, loop_kind, redis_url):
    async def main():
        assert_running_on(loop_kind)
        pool = redis_asyncio.BlockingConnectionPool.from_url(
            redis_url, max_connections=10, timeout=30, client_name='pooled')
        r = redis_asyncio.Redis(connection_pool=pool)
        try:
            await r.flushdb()
            await asyncio.gather(*[r.incr('hits') for _ in range(500)])
            assert int(await r.get('hits')) == 500
            # The server saw at most the pool's size of connections.
            pooled = [c for c in await r.client_list()
                      if c['name'] == 'pooled']
            assert 1 <= len(pooled) <= 10, pooled

            # A blocking command cancelled from outside: redis-py drops the
            # connection (its reply would come later); the pool goes on.
            with pytest.raises(asyncio.TimeoutError):
                await asyncio.wait_for(r.blpop(['nothing'], timeout=0), 0.2)
            assert await r.incr('hits') == 501

            # The server kills the pool's connections: a command sent on one
            # of them fails with redis-py's ConnectionError (as on asyncio;
            # there is no retry by default), the next one reconnects.
            killed = await r.client_kill_filter(skipme=False,
                                                _type='normal')
            assert killed >= 1
            try:
                hits = await r.incr('hits')
            except redis.ConnectionError:
                hits = await r.incr('hits')
            assert hits == 502
        finally:
            await r.aclose()
            await pool.disconnect()
    run(loop, main())


def test_pubsub(loop, loop_kind, redis_url):
    async def main():
        assert_running_on(loop_kind)
        r = await _client(redis_url, decode_responses=True)
        pubsub = r.pubsub()
        try:
            await pubsub.subscribe('news')
            await pubsub.psubscribe('sport.*')
            # Wait for both confirmations before publishing.
            kinds = set()
            while kinds != {'subscribe', 'psubscribe'}:
                msg = await pubsub.get_message(timeout=10)
                assert msg is not None
                kinds.add(msg['type'])

            publisher = await _client(redis_url, flush=False)
            try:
                for i in range(200):
                    assert await publisher.publish('news', f'n{i}') == 1
                assert await publisher.publish('sport.chess', 'e4') == 1
                assert await publisher.publish('weather', 'rain') == 0
            finally:
                await publisher.aclose()

            got = []
            async for msg in pubsub.listen():
                if msg['type'] in ('message', 'pmessage'):
                    got.append((msg['channel'], msg['data']))
                    if len(got) == 201:
                        break
            assert got == [('news', f'n{i}') for i in range(200)] + [
                ('sport.chess', 'e4')]

            await pubsub.unsubscribe('news')
            await pubsub.punsubscribe()
            assert not pubsub.subscribed or await _drain(pubsub)
        finally:
            await pubsub.aclose()
            await r.aclose()
    run(loop, main())


async def _drain(pubsub):
    # Read the unsubscribe confirmations; then nothing is subscribed.
    while pubsub.subscribed:
        await pubsub.get_message(timeout=1)
    return True
