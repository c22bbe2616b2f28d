"""call_soon_threadsafe from 16 threads; protocol callbacks that raise."""
import asyncio
import threading
import time

from ._util import HOST, close_server, run, size


def test_threadsafe_flood(loop, figure):
    threads, per_thread = 16, size(100_000, 5_000)
    seen = [[] for _ in range(threads)]
    done = loop.create_future()
    remaining = [threads * per_thread]

    def callback(t, i):
        seen[t].append(i)
        remaining[0] -= 1
        if remaining[0] == 0:
            done.set_result(None)

    start = threading.Barrier(threads + 1)

    def flood(t):
        start.wait()
        for i in range(per_thread):
            loop.call_soon_threadsafe(callback, t, i)

    workers = [threading.Thread(target=flood, args=(t,))
               for t in range(threads)]
    for w in workers:
        w.start()
    t0 = time.monotonic()
    start.wait()
    try:
        run(loop, done, size(300, 40))
    finally:
        for w in workers:
            w.join(30)
    elapsed = time.monotonic() - t0
    # Nothing lost, and each thread's callbacks ran in its order.
    for t in range(threads):
        assert seen[t] == list(range(per_thread)), f'thread {t}'
    figure('callbacks from 16 threads, none lost', threads * per_thread)
    figure('rate', threads * per_thread / elapsed, 'callbacks/s')


class Boom(Exception):
    pass


class Raising(asyncio.Protocol):
    """Echoes, and raises Boom from the callback named `where`."""

    where = None

    def connection_made(self, transport):
        self.transport = transport
        if self.where == 'connection_made':
            raise Boom('connection_made')

    def data_received(self, data):
        self.transport.write(data)
        if self.where == 'data_received':
            raise Boom('data_received')

    def eof_received(self):
        if self.where == 'eof_received':
            raise Boom('eof_received')

    def connection_lost(self, exc):
        if self.where == 'connection_lost':
            raise Boom('connection_lost')


WHERE = ['connection_made', 'data_received', 'eof_received',
         'connection_lost', None]


def test_protocol_callbacks_raise(loop, figure):
    errors = []
    loop.set_exception_handler(lambda lp, ctx: errors.append(ctx))
    rounds = size(100, 10)
    run(loop, _raising(loop, rounds), size(300, 30))
    booms = {}
    for ctx in errors:
        exc = ctx.get('exception')
        if isinstance(exc, Boom):
            booms[str(exc)] = booms.get(str(exc), 0) + 1
    figure('exceptions reported per callback',
           ', '.join(f'{k} {v}' for k, v in sorted(booms.items())))
    # Every raising callback reached the exception handler each round.
    for where in WHERE[:-1]:
        assert booms.get(where) == rounds, (where, booms)


async def _raising(loop, rounds):
    class Server(Raising):
        where = None
    server = await loop.create_server(lambda: Server(), HOST, 0)
    port = server.sockets[0].getsockname()[1]
    try:
        for _ in range(rounds):
            for where in WHERE:
                Server.where = where
                reader, writer = await asyncio.open_connection(HOST, port)
                # Whatever the raise did to this connection, it ends.
                try:
                    writer.write(b'hello')
                    writer.write_eof()
                    await reader.read()
                except ConnectionError:
                    pass
                writer.close()
                try:
                    await writer.wait_closed()
                except ConnectionError:
                    pass
                # A normal connection still gets its echo.
                Server.where = None
                reader, writer = await asyncio.open_connection(HOST, port)
                writer.write(b'still serving')
                writer.write_eof()
                assert await reader.read() == b'still serving'
                writer.close()
                await writer.wait_closed()
        await asyncio.sleep(0.05)   # the last connection_lost calls
    finally:
        await close_server(server)
