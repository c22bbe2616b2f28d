"""Where transport callbacks run: their place in a loop pass, their context.

asyncio queues an I/O callback as a handle behind the callbacks that were
already ready, ahead of the timers that became due, and makes the handle
when the reader or writer is added, so the callback runs in a copy of the
context current then (the transport's creation, the server's start, the
write that started buffering).  Our transports are called by the poller
directly, not through handles; these tests pin down that nothing of that
shows.  Both loops run every test.

Also here: small compatibility points found by running uvloop's and
aiohttp's test suites on our loop (create_task's keywords, loop._closed,
attributes set on a transport).
"""
import asyncio
import contextvars
import socket
import sys

import pytest

cv = contextvars.ContextVar('cv', default='outer')


def run(loop, coro, timeout=20):
    return loop.run_until_complete(asyncio.wait_for(coro, timeout))


class Recorder(asyncio.Protocol):
    """Logs each call with the value of `cv` it saw."""

    def __init__(self, log=None):
        self.log = [] if log is None else log
        self.lost = asyncio.get_running_loop().create_future()

    def connection_made(self, transport):
        self.transport = transport
        self.log.append(('made', cv.get()))

    def data_received(self, data):
        self.log.append(('data', cv.get()))

    def eof_received(self):
        self.log.append(('eof', cv.get()))

    def connection_lost(self, exc):
        self.log.append(('lost', cv.get()))
        self.lost.set_result(exc)


# -- order within a pass ------------------------------------------------------

def test_io_runs_after_the_callbacks_already_ready(loop):
    async def main():
        a, b = socket.socketpair()
        log = []

        class P(asyncio.Protocol):
            def data_received(self, data):
                log.append(('data', data))

        tr, _ = await loop.connect_accepted_socket(P, a)
        await asyncio.sleep(0)
        try:
            b.send(b'x')                 # readable at the next poll
            loop.call_soon(log.append, 'ready before the poll')
            for _ in range(3):
                await asyncio.sleep(0)
            return log
        finally:
            tr.close()
            b.close()
            await asyncio.sleep(0)

    assert run(loop, main()) == ['ready before the poll', ('data', b'x')]


def test_io_runs_before_due_timers_and_its_callbacks_in_the_next_pass(loop):
    # One pass: ready callbacks, then I/O, then due timers.  What the I/O
    # callback schedules waits for the next pass, after the timers.
    async def main():
        a, b = socket.socketpair()
        log = []
        done = loop.create_future()

        class P(asyncio.Protocol):
            def data_received(self, data):
                log.append('io')
                loop.call_soon(log.append, 'scheduled by io')

        tr, _ = await loop.connect_accepted_socket(P, a)
        await asyncio.sleep(0)

        def in_one_callback():
            b.send(b'x')
            loop.call_at(loop.time() - 1, log.append, 'due timer')
            loop.call_later(0, log.append, 'timer of 0 s')
            loop.call_soon(log.append, 'soon')
            loop.call_later(0.05, done.set_result, None)

        loop.call_soon(in_one_callback)
        try:
            await done
            return log
        finally:
            tr.close()
            b.close()
            await asyncio.sleep(0)

    assert run(loop, main()) == ['soon', 'io', 'due timer', 'timer of 0 s',
                                 'scheduled by io']


def test_a_busy_loop_sees_io_within_a_few_passes(loop):
    # A callback that reschedules itself keeps the ready queue non-empty, so
    # no pass waits.  I/O made ready in one pass reaches its reader in the
    # next on asyncio; ours runs what the last pass's I/O callbacks
    # scheduled before polling again, so one pass later at most.  Counted
    # in passes (ticks), while a reader answers each byte with another.
    async def main():
        a, b = socket.socketpair()
        a.setblocking(False)
        ticks = 0
        delays = []
        sent_at = None
        done = loop.create_future()

        def tick():
            ticks_up()
            if not done.done():
                loop.call_soon(tick)

        def ticks_up():
            nonlocal ticks
            ticks += 1

        def send():
            nonlocal sent_at
            sent_at = ticks
            b.send(b'x')

        def readable():
            a.recv(100)
            delays.append(ticks - sent_at)
            if len(delays) == 200:
                done.set_result(None)
            else:
                loop.call_soon(send)

        loop.add_reader(a, readable)
        loop.call_soon(tick)
        loop.call_soon(send)
        try:
            await done
        finally:
            loop.remove_reader(a)
            a.close()
            b.close()
        return delays

    delays = run(loop, main())
    assert max(delays) <= 2, delays


def test_add_reader_callbacks_keep_the_same_order(loop):
    async def main():
        a, b = socket.socketpair()
        log = []
        done = loop.create_future()

        def readable():
            log.append('reader')
            a.recv(100)
            loop.remove_reader(a)
            loop.call_soon(log.append, 'scheduled by reader')

        loop.add_reader(a, readable)

        def in_one_callback():
            b.send(b'x')
            loop.call_at(loop.time() - 1, log.append, 'due timer')
            loop.call_soon(log.append, 'soon')
            loop.call_later(0.05, done.set_result, None)

        loop.call_soon(in_one_callback)
        try:
            await done
            return log
        finally:
            a.close()
            b.close()

    assert run(loop, main()) == ['soon', 'reader', 'due timer',
                                 'scheduled by reader']


def test_pause_reading_from_a_ready_callback_stops_this_pass_read(loop):
    # The data is there at the poll, but a callback that was ready before
    # it pauses reading: asyncio's queued read handle is cancelled.
    async def main():
        a, b = socket.socketpair()
        log = []

        class P(asyncio.Protocol):
            def data_received(self, data):
                log.append(('data', data))

        tr, _ = await loop.connect_accepted_socket(P, a)
        await asyncio.sleep(0)
        try:
            b.send(b'x')
            loop.call_soon(tr.pause_reading)
            for _ in range(3):
                await asyncio.sleep(0)
            before = list(log)
            tr.resume_reading()
            for _ in range(3):
                await asyncio.sleep(0)
            return before, log
        finally:
            tr.close()
            b.close()
            await asyncio.sleep(0)

    assert run(loop, main()) == ([], [('data', b'x')])


# -- the context of protocol calls --------------------------------------------

@pytest.mark.parametrize('how', ['create_connection', 'sock=',
                                 'connect_accepted_socket'])
def test_client_protocol_calls_run_in_the_callers_context(loop, how):
    async def main():
        cv.set('caller')
        listener = socket.create_server(('127.0.0.1', 0))
        proto = Recorder()
        try:
            if how == 'create_connection':
                await loop.create_connection(
                    lambda: proto, *listener.getsockname())
                peer, _ = listener.accept()
            elif how == 'sock=':
                sock = socket.create_connection(listener.getsockname())
                peer, _ = listener.accept()
                await loop.create_connection(lambda: proto, sock=sock)
            else:
                sock = socket.create_connection(listener.getsockname())
                peer, _ = listener.accept()
                await loop.connect_accepted_socket(lambda: proto, sock)
            cv.set('changed after')     # the copy was made before
            with peer:
                peer.sendall(b'x')
                peer.shutdown(socket.SHUT_WR)
                await proto.lost
            return proto.log
        finally:
            listener.close()

    assert run(loop, main()) == [('made', 'caller'), ('data', 'caller'),
                                 ('eof', 'caller'), ('lost', 'caller')]


def test_server_protocol_calls_run_in_a_copy_of_the_servers_context(loop):
    # The factory too; and each connection gets its own copy: what one
    # factory sets is not seen by the next.
    async def main():
        cv.set('server')
        seen_by_factory = []
        protos = []

        def factory():
            seen_by_factory.append(cv.get())
            cv.set(f'connection {len(protos)}')
            protos.append(Recorder())
            return protos[-1]

        server = await loop.create_server(factory, '127.0.0.1', 0)
        cv.set('changed after')
        try:
            for i in range(2):
                with socket.create_connection(
                        server.sockets[0].getsockname()) as peer:
                    peer.sendall(b'x')
                    peer.shutdown(socket.SHUT_WR)
                    while len(protos) <= i or not protos[i].lost.done():
                        await asyncio.sleep(0.01)
        finally:
            server.close()
            await server.wait_closed()
        return seen_by_factory, [p.log for p in protos]

    factory_saw, logs = run(loop, main())
    assert factory_saw == ['server', 'server']
    assert logs == [[(name, f'connection {i}')
                     for name in ('made', 'data', 'eof', 'lost')]
                    for i in range(2)]


def test_buffered_protocol_calls_run_in_the_callers_context(loop):
    async def main():
        cv.set('caller')
        a, b = socket.socketpair()
        log = []
        lost = loop.create_future()

        class P(asyncio.BufferedProtocol):
            def get_buffer(self, sizehint):
                log.append(('get_buffer', cv.get()))
                return bytearray(100)

            def buffer_updated(self, nbytes):
                log.append(('buffer_updated', cv.get()))

            def eof_received(self):
                log.append(('eof', cv.get()))

            def connection_lost(self, exc):
                lost.set_result(None)

        await loop.connect_accepted_socket(P, a)
        cv.set('changed after')
        with b:
            b.sendall(b'x')
            b.shutdown(socket.SHUT_WR)
            await lost
        return log

    assert run(loop, main()) == [('get_buffer', 'caller'),
                                 ('buffer_updated', 'caller'),
                                 ('get_buffer', 'caller'), ('eof', 'caller')]


def test_resume_writing_runs_in_the_context_of_the_write_that_buffered(loop):
    async def main():
        a, b = socket.socketpair()
        seen = []
        resumed = loop.create_future()

        class P(asyncio.Protocol):
            def pause_writing(self):
                seen.append(('pause', cv.get()))

            def resume_writing(self):
                seen.append(('resume', cv.get()))
                resumed.set_result(None)

        tr, _ = await loop.connect_accepted_socket(P, a)
        tr.set_write_buffer_limits(high=1024, low=0)

        async def writer():
            cv.set('writer')
            while not seen:
                tr.write(b'x' * 65536)

        await asyncio.create_task(writer())
        b.setblocking(False)
        try:
            while not resumed.done():
                try:
                    b.recv(1 << 20)
                except BlockingIOError:
                    await asyncio.sleep(0.001)
            return seen
        finally:
            tr.close()
            b.close()
            await asyncio.sleep(0)

    assert run(loop, main()) == [('pause', 'writer'), ('resume', 'writer')]


# -- compatibility points ------------------------------------------------------

def test_create_task_takes_only_asyncios_keywords(loop):
    async def coro():
        return 'ran'

    for keyword in ('eager_start', 'loop', 'whatever'):
        c = coro()
        with pytest.raises(TypeError) as info:
            loop.create_task(c, **{keyword: True})
        c.close()
        assert str(info.value) == ('BaseEventLoop.create_task() got an '
                                   f'unexpected keyword argument {keyword!r}')
    task = loop.create_task(coro(), name='named')
    assert task.get_name() == 'named'
    if sys.version_info >= (3, 11):
        ctx = contextvars.copy_context()
        task2 = loop.create_task(coro(), context=ctx)
        if sys.version_info >= (3, 12):
            assert task2.get_context() is ctx
        assert loop.run_until_complete(task2) == 'ran'
    else:
        c = coro()
        with pytest.raises(TypeError):
            loop.create_task(c, context=contextvars.copy_context())
        c.close()
    assert loop.run_until_complete(task) == 'ran'


def test_loop_closed_attribute(loop):
    # Not public API, but read by libraries (asyncio's own loops have it).
    assert loop._closed is False
    loop.close()
    assert loop._closed is True


def test_transport_closing_attribute_and_patching(loop):
    async def main():
        a, b = socket.socketpair()
        tr, _ = await loop.connect_accepted_socket(asyncio.Protocol, a)
        try:
            assert tr._closing is False
            # Tests patch a transport's methods on the instance.
            calls = []
            tr.write = calls.append
            tr.write(b'x')
            assert calls == [b'x']
            del tr.write
            tr.custom = 'attribute'
            assert tr.custom == 'attribute'
        finally:
            tr.close()
            b.close()
        assert tr._closing is True
        await asyncio.sleep(0)

    run(loop, main())
