"""asyncpg against a real PostgreSQL (started by scripts/integration.sh),
on our loop and on asyncio: queries over TCP and the Unix socket, prepared
statements, COPY in and out, a pool, cancelling a running query, and
LISTEN/NOTIFY."""
import asyncio
import datetime
import decimal
import io
import ssl
import sys
import uuid
from urllib.parse import urlsplit

import pytest

from ._util import assert_running_on, need, run

asyncpg = need('asyncpg')


def test_queries_tcp_and_unix(loop, loop_kind, pg_dsn, pg_socket_dir):
    async def main():
        assert_running_on(loop_kind)
        tcp = await asyncpg.connect(pg_dsn)
        unix = await asyncpg.connect(host=pg_socket_dir,
                                     port=urlsplit(pg_dsn).port,
                                     user='postgres', database='postgres')
        try:
            assert tcp._transport.get_extra_info('peername')[0] == '127.0.0.1'
            assert unix._transport.get_extra_info('peername').startswith(
                pg_socket_dir)
            for conn in (tcp, unix):
                assert await conn.fetchval('SELECT 1 + 1') == 2
                row = await conn.fetchrow(
                    'SELECT $1::int AS i, $2::text AS t, $3::numeric AS n, '
                    '$4::timestamptz AS ts, $5::uuid AS u, $6::bytea AS b',
                    7, 'héllo', decimal.Decimal('1.25'),
                    datetime.datetime(2024, 1, 2, 3, 4, 5,
                                      tzinfo=datetime.timezone.utc),
                    uuid.UUID(int=42), b'\x00\xff' * 1000)
                assert dict(row) == {
                    'i': 7, 't': 'héllo', 'n': decimal.Decimal('1.25'),
                    'ts': datetime.datetime(2024, 1, 2, 3, 4, 5,
                                            tzinfo=datetime.timezone.utc),
                    'u': uuid.UUID(int=42), 'b': b'\x00\xff' * 1000}
                # A result larger than the socket buffers.
                rows = await conn.fetch(
                    'SELECT g, repeat(md5(g::text), 10) AS s '
                    'FROM generate_series(1, 20000) AS g')
                assert len(rows) == 20000
                assert rows[-1]['g'] == 20000 and len(rows[-1]['s']) == 320

                await conn.execute('CREATE TEMP TABLE t (k int PRIMARY KEY, v text)')
                await conn.executemany('INSERT INTO t VALUES ($1, $2)',
                                       [(i, str(i)) for i in range(500)])
                # A failed transaction rolls back; a good one commits.
                with pytest.raises(asyncpg.UniqueViolationError):
                    async with conn.transaction():
                        await conn.execute("INSERT INTO t VALUES (1000, 'x')")
                        await conn.execute("INSERT INTO t VALUES (0, 'dup')")
                async with conn.transaction():
                    await conn.execute("INSERT INTO t VALUES (1001, 'y')")
                    # A server-side cursor, fetched in batches.
                    keys = [r['k'] async for r in conn.cursor(
                        'SELECT k FROM t ORDER BY k', prefetch=50)]
                assert keys == list(range(500)) + [1001]
                assert await conn.fetchval('SELECT count(*) FROM t') == 501
        finally:
            await tcp.close()
            await unix.close()
    run(loop, main())


def test_tls(loop, loop_kind, pg_dsn, pg_ca):
    """asyncpg asks the server for TLS (SSLRequest), then upgrades the
    connection with loop.start_tls()."""
    async def main():
        assert_running_on(loop_kind)
        ctx = ssl.create_default_context(cafile=pg_ca)
        conn = await asyncpg.connect(pg_dsn, ssl=ctx)
        try:
            assert conn._transport.get_extra_info('sslcontext') is ctx
            assert await conn.fetchval(
                'SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()')
            # About 6 MB of results: many TLS records.
            rows = await conn.fetch(
                'SELECT g, repeat(md5(g::text), 100) AS s '
                'FROM generate_series(1, 2000) g')
            assert [len(r['s']) for r in rows] == [3200] * 2000
        finally:
            await conn.close()

        # A certificate the client does not trust: the handshake fails.
        with pytest.raises(ssl.SSLCertVerificationError):
            await asyncpg.connect(pg_dsn, ssl=ssl.create_default_context())
    run(loop, main())


def test_prepared_statements(loop, loop_kind, pg_dsn):
    async def main():
        assert_running_on(loop_kind)
        conn = await asyncpg.connect(pg_dsn)
        try:
            stmt = await conn.prepare(
                'SELECT $1::int * g AS x FROM generate_series(1, $2::int) g')
            assert [t.name for t in stmt.get_parameters()] == ['int4', 'int4']
            assert [a.name for a in stmt.get_attributes()] == ['x']
            for k in range(50):
                assert [r['x'] for r in await stmt.fetch(k, 10)] == [
                    k * g for g in range(1, 11)]
            assert await stmt.fetchval(3, 1) == 3
            assert (await stmt.fetchrow(2, 5))['x'] == 2
            plan = await stmt.explain(4, 4)
            assert plan[0]['Plan']['Node Type'] == 'Function Scan'
            # Bad arguments get asyncpg's errors, as on any loop.
            with pytest.raises(asyncpg.DataError):
                await stmt.fetch('not an int', 1)
            assert await stmt.fetchval(5, 1) == 5
        finally:
            await conn.close()
    run(loop, main())


def test_copy_in(loop, loop_kind, pg_dsn):
    async def main():
        assert_running_on(loop_kind)
        conn = await asyncpg.connect(pg_dsn)
        try:
            await conn.execute(
                'CREATE TEMP TABLE c (id int, name text, score float8)')
            # COPY FROM STDIN, binary, from Python records.
            records = [(i, f'name {i}', i / 4) for i in range(50000)]
            assert await conn.copy_records_to_table(
                'c', records=records) == 'COPY 50000'

            # COPY FROM STDIN as CSV, from an async iterable, in pieces.
            text = ''.join(f'{i},name {i},{i / 4}\n'
                           for i in range(50000)).encode()
            await conn.execute('CREATE TEMP TABLE c2 (LIKE c)')

            async def source():
                for i in range(0, len(text), 7919):
                    yield text[i:i + 7919]
            assert await conn.copy_to_table(
                'c2', source=source(), format='csv') == 'COPY 50000'
            assert await conn.fetchval(
                'SELECT count(*) FROM (SELECT * FROM c EXCEPT '
                'SELECT * FROM c2) d') == 0
        finally:
            await conn.close()
    run(loop, main())


# asyncpg's COPY OUT fails on Python 3.10 on stdlib asyncio as on our loop:
# a plain asyncio.run() script copying a 50000-row table out with
# asyncpg 0.30, 0.31 or 0.32 raises AttributeError("'NoneType' object has
# no attribute 'cancelled'") from BaseProtocol._dispatch_result (a batch of
# CopyData dispatched when copy_out() has no waiter); 3.11+ pass.
@pytest.mark.xfail(sys.version_info < (3, 11), strict=True,
                   reason="asyncpg's COPY OUT is broken on Python 3.10, "
                   'on any loop')
def test_copy_out(loop, loop_kind, pg_dsn):
    async def main():
        assert_running_on(loop_kind)
        conn = await asyncpg.connect(pg_dsn)
        try:
            await conn.execute(
                'CREATE TEMP TABLE c AS SELECT g AS id, '
                "'name ' || g AS name, g / 4.0 AS score "
                'FROM generate_series(0, 49999) g')

            # COPY TO STDOUT into a file-like object.
            out = io.BytesIO()
            assert await conn.copy_from_table(
                'c', output=out, format='csv') == 'COPY 50000'
            text = out.getvalue()
            assert text.count(b'\n') == 50000
            assert text.startswith(b'0,name 0,0.00000000000000000000\n')

            # COPY (query) TO STDOUT, to an async callable that is slow
            # to take the data: the server has to wait for us.
            chunks = []

            async def sink(data):
                chunks.append(bytes(data))
                await asyncio.sleep(0)
            assert await conn.copy_from_query(
                'SELECT id FROM c WHERE id % 1000 = 0 ORDER BY id',
                output=sink) == 'COPY 50'
            assert b''.join(chunks).split() == [
                str(i).encode() for i in range(0, 50000, 1000)]
        finally:
            await conn.close()
    run(loop, main())


def test_pool(loop, loop_kind, pg_dsn):
    async def main():
        assert_running_on(loop_kind)
        async with asyncpg.create_pool(pg_dsn, min_size=2,
                                       max_size=5) as pool:
            async def work(i):
                async with pool.acquire() as conn:
                    pid = await conn.fetchval('SELECT pg_backend_pid()')
                    # Holds the connection a moment, so that they overlap.
                    assert await conn.fetchval(
                        'SELECT $1::int FROM pg_sleep(0.001)', i) == i
                    return pid
            pids = await asyncio.gather(*[work(i) for i in range(200)])
            # Work spread over the pool's connections and no more.
            assert 1 <= len(set(pids)) <= 5
            assert await pool.fetchval('SELECT 42') == 42
            assert pool.get_size() <= 5

            # The server ends a pooled connection's session: asyncpg sees the
            # connection lost (its termination listeners run), the pool's
            # proxy is detached, and the pool replaces the connection.
            async with pool.acquire() as conn:
                pid = await conn.fetchval('SELECT pg_backend_pid()')
                lost = asyncio.get_running_loop().create_future()
                conn.add_termination_listener(
                    lambda c: lost.done() or lost.set_result(None))
                assert await pool.fetchval(
                    'SELECT pg_terminate_backend($1)', pid) is True
                await lost
                with pytest.raises(asyncpg.InterfaceError,
                                   match='released back to the pool'):
                    await conn.fetchval('SELECT 1')
            assert await asyncio.gather(
                *[pool.fetchval('SELECT $1::int', i) for i in range(20)]
            ) == list(range(20))
    run(loop, main())


def test_cancel_running_query(loop, loop_kind, pg_dsn):
    """Cancelling the task running a query sends PostgreSQL a cancel
    request (over a second connection): the server stops the query, and
    the connection is usable again."""
    async def main():
        assert_running_on(loop_kind)
        conn = await asyncpg.connect(pg_dsn)
        watcher = await asyncpg.connect(pg_dsn)
        try:
            pid = await conn.fetchval('SELECT pg_backend_pid()')
            task = asyncio.ensure_future(conn.execute('SELECT pg_sleep(300)'))
            # Wait until the server runs it, then cancel.
            while await watcher.fetchval(
                    "SELECT state FROM pg_stat_activity WHERE pid = $1",
                    pid) != 'active':
                await asyncio.sleep(0.01)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            assert await conn.fetchval('SELECT 7') == 7
            assert await watcher.fetchval(
                "SELECT state FROM pg_stat_activity WHERE pid = $1",
                pid) == 'idle'

            # asyncpg's own timeout= goes the same way.
            with pytest.raises(asyncio.TimeoutError):
                await conn.execute('SELECT pg_sleep(300)', timeout=0.2)
            assert await conn.fetchval('SELECT 8') == 8
        finally:
            await conn.close()
            await watcher.close()
    run(loop, main())


def test_listen_notify(loop, loop_kind, pg_dsn):
    async def main():
        assert_running_on(loop_kind)
        listener = await asyncpg.connect(pg_dsn)
        sender = await asyncpg.connect(pg_dsn)
        received = asyncio.Queue()
        try:
            def on_notify(conn, pid, channel, payload):
                assert asyncio.get_running_loop() is loop
                received.put_nowait((channel, payload))
            await listener.add_listener('news', on_notify)
            await listener.add_listener('other', on_notify)
            for i in range(100):
                await sender.execute("SELECT pg_notify('news', $1)", str(i))
            await sender.execute("NOTIFY other, 'hello'")
            got = [await received.get() for _ in range(101)]
            assert got == [('news', str(i)) for i in range(100)] + [
                ('other', 'hello')]

            # Notifications sent in one transaction arrive at its commit.
            async with sender.transaction():
                await sender.execute("NOTIFY news, 'a'")
                await sender.execute("NOTIFY news, 'b'")
            assert [await received.get() for _ in range(2)] == [
                ('news', 'a'), ('news', 'b')]

            await listener.remove_listener('news', on_notify)
            await sender.execute("NOTIFY news, 'unheard'")
            await sender.execute("NOTIFY other, 'heard'")
            assert await received.get() == ('other', 'heard')
            assert received.empty()
        finally:
            await listener.close()
            await sender.close()
    run(loop, main())
