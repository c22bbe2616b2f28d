"""connect_read_pipe / connect_write_pipe: pipes, FIFOs, sockets and ttys.

Every test runs on stdlib asyncio and on our loop (the `loop` fixture);
the pipe transports must behave as asyncio's unix pipe transports do.
"""
import asyncio
import errno
import gc
import logging
import os
import pty
import socket
import sys
import tty
import warnings
import weakref

import pytest

from support import run_briefly


def run(loop, coro, timeout=30):
    return loop.run_until_complete(asyncio.wait_for(coro, timeout))


def run_until(loop, predicate, timeout=10):
    async def wait():
        while not predicate():
            await asyncio.sleep(0.001)
    run(loop, wait(), timeout)


class ReadProto(asyncio.Protocol):
    """Records what a read pipe transport tells its protocol."""

    def __init__(self, loop):
        self.transport = None
        self.events = []
        self.data = bytearray()
        self.lost = loop.create_future()

    def connection_made(self, transport):
        self.transport = transport
        self.events.append('made')

    def data_received(self, data):
        self.data += data
        if self.events[-1] != 'data':
            self.events.append('data')

    def eof_received(self):
        self.events.append('eof')

    def connection_lost(self, exc):
        self.events.append('lost')
        self.lost.set_result(exc)


class WriteProto(asyncio.BaseProtocol):
    """Records what a write pipe transport tells its protocol."""

    def __init__(self, loop):
        self.transport = None
        self.events = []
        self.lost = loop.create_future()

    def connection_made(self, transport):
        self.transport = transport
        self.events.append('made')

    def pause_writing(self):
        self.events.append(('pause', self.transport.get_write_buffer_size()))

    def resume_writing(self):
        self.events.append(('resume', self.transport.get_write_buffer_size()))

    def connection_lost(self, exc):
        self.events.append('lost')
        self.lost.set_result(exc)


def rfile(fd):
    """An unbuffered binary file object to hand to connect_read_pipe()."""
    return open(fd, 'rb', buffering=0)


def wfile(fd):
    """An unbuffered binary file object to hand to connect_write_pipe()."""
    return open(fd, 'wb', buffering=0)


def connect_read(loop, pipe):
    transport, proto = run(loop, loop.connect_read_pipe(
        lambda: ReadProto(loop), pipe))
    assert proto.transport is transport
    return transport, proto


def connect_write(loop, pipe):
    transport, proto = run(loop, loop.connect_write_pipe(
        lambda: WriteProto(loop), pipe))
    assert proto.transport is transport
    return transport, proto


def is_reading(transport):
    """transport.is_reading(); on Python 3.10 asyncio's pipe transport lacks
    it (added in 3.11), so there it is what the method would answer."""
    try:
        return transport.is_reading()
    except NotImplementedError:
        return not transport._paused and not transport._closing


def body(transport):
    """The repr without the class name (asyncio's is _Unix...Transport)."""
    text = repr(transport)
    assert text.startswith('<') and text.endswith('>')
    return text[1:-1].split(' ', 1)[1]


@pytest.fixture
def pipe_fds():
    """An os.pipe() pair; whatever a test did not close is closed after."""
    r, w = os.pipe()
    fds = [r, w]
    yield fds
    for fd in fds:
        try:
            os.close(fd)
        except OSError:
            pass


# -- reading ------------------------------------------------------------------

def test_read_pipe_data_then_eof(loop, pipe_fds):
    r, w = pipe_fds
    pipe = rfile(r)
    transport, proto = connect_read(loop, pipe)
    assert isinstance(transport, asyncio.ReadTransport)
    assert transport.get_extra_info('pipe') is pipe
    assert transport.get_protocol() is proto
    assert is_reading(transport) and not transport.is_closing()
    assert proto.events == ['made']

    os.write(w, b'hello ')
    os.write(w, b'world')
    run_until(loop, lambda: len(proto.data) == 11)
    os.close(w)
    assert run(loop, proto.lost) is None
    assert proto.events == ['made', 'data', 'eof', 'lost']
    assert bytes(proto.data) == b'hello world'
    assert pipe.closed        # the transport owns the pipe now
    assert transport.is_closing()
    assert transport.get_protocol() is None


def test_read_pipe_close_before_eof(loop, pipe_fds):
    r, _w = pipe_fds
    transport, proto = connect_read(loop, rfile(r))
    transport.close()
    assert transport.is_closing() and not is_reading(transport)
    transport.close()       # idempotent
    assert run(loop, proto.lost) is None
    assert proto.events == ['made', 'lost']


def test_pause_and_resume_reading(loop, pipe_fds):
    r, w = pipe_fds
    transport, proto = connect_read(loop, rfile(r))
    transport.pause_reading()
    transport.pause_reading()       # no-op when paused
    assert not is_reading(transport)
    os.write(w, b'abc')
    run_briefly(loop, 5)
    assert proto.data == b''
    transport.resume_reading()
    transport.resume_reading()      # no-op when reading
    assert is_reading(transport)
    run_until(loop, lambda: proto.data == b'abc')
    transport.close()
    run(loop, proto.lost)
    transport.resume_reading()      # no-op once closed
    assert not is_reading(transport)


class PausingProto(ReadProto):
    def connection_made(self, transport):
        super().connection_made(transport)
        transport.pause_reading()


@pytest.mark.skipif(sys.version_info >= (3, 11), reason='see the 3.11+ test')
@pytest.mark.asyncio_differs(
    "3.10's pipe transport starts reading after connection_made() even if "
    "it paused reading (fixed in 3.11); ours waits, as 3.11+ does")
def test_pause_reading_in_connection_made_310(loop, pipe_fds):
    test_pause_reading_in_connection_made(loop, pipe_fds)


@pytest.mark.skipif(sys.version_info < (3, 11), reason='see the 3.10 test')
def test_pause_reading_in_connection_made(loop, pipe_fds):
    r, w = pipe_fds
    os.write(w, b'early')
    transport, proto = run(loop, loop.connect_read_pipe(
        lambda: PausingProto(loop), rfile(r)))
    pipe_fds.remove(r)
    try:
        run_briefly(loop, 5)
        assert proto.data == b''
        transport.resume_reading()
        run_until(loop, lambda: proto.data == b'early')
    finally:
        transport.close()
        run(loop, proto.lost)


def test_read_pipe_large_chunks(loop, pipe_fds):
    # More than max_size (256 KiB) per event: delivered in several chunks,
    # nothing lost.
    r, w = pipe_fds
    _transport, proto = connect_read(loop, rfile(r))
    payload = os.urandom(3 * 1024 * 1024)

    async def feed():
        writer, wproto = await loop.connect_write_pipe(
            lambda: WriteProto(loop), wfile(w))
        pipe_fds.remove(w)
        writer.write(payload)
        writer.close()
        await wproto.lost

    run(loop, feed())
    assert run(loop, proto.lost) is None
    assert bytes(proto.data) == payload
    assert proto.events == ['made', 'data', 'eof', 'lost']


def test_regular_file_is_refused(loop, tmp_path):
    path = tmp_path / 'regular'
    path.write_bytes(b'data')
    with open(path, 'rb') as f:
        with pytest.raises(ValueError,
                           match=r'^Pipe transport is for pipes/sockets '
                                 r'only\.$'):
            run(loop, loop.connect_read_pipe(lambda: ReadProto(loop), f))
        assert not f.closed     # still the caller's
    with open(path, 'ab') as f:
        with pytest.raises(ValueError,
                           match=r'^Pipe transport is only for pipes, '
                                 r'sockets and character devices$'):
            run(loop, loop.connect_write_pipe(lambda: WriteProto(loop), f))
        assert not f.closed


def test_read_pipe_error_goes_to_exception_handler(loop, pipe_fds):
    r, w = pipe_fds
    contexts = []
    loop.set_exception_handler(lambda lp, ctx: contexts.append(ctx))
    transport, proto = connect_read(loop, rfile(r))
    # A read error that is not EIO: make os.read fail through the fd.
    real_read = os.read

    def failing_read(fd, n):
        if fd == r:
            raise OSError(errno.EBADMSG, 'bad message')
        return real_read(fd, n)

    os.write(w, b'x')
    os.read = failing_read
    try:
        exc = run(loop, proto.lost)
    finally:
        os.read = real_read
    assert isinstance(exc, OSError) and exc.errno == errno.EBADMSG
    [ctx] = contexts
    assert ctx['message'] == 'Fatal read error on pipe transport'
    assert ctx['exception'] is exc
    assert ctx['transport'] is transport and ctx['protocol'] is proto
    assert proto.events == ['made', 'lost']


# -- writing ------------------------------------------------------------------

def test_write_pipe_write_and_close(loop, pipe_fds):
    r, w = pipe_fds
    pipe = wfile(w)
    transport, proto = connect_write(loop, pipe)
    assert isinstance(transport, asyncio.WriteTransport)
    assert transport.get_extra_info('pipe') is pipe
    assert transport.can_write_eof()
    assert transport.get_write_buffer_size() == 0
    assert transport.get_write_buffer_limits() == (16384, 65536)
    transport.write(b'abc')
    transport.write(bytearray(b'def'))
    transport.write(memoryview(b'ghi'))
    transport.write(b'')
    transport.writelines([b'j', b'k'])
    assert os.read(r, 100) == b'abcdefghijk'
    transport.close()
    assert transport.is_closing()
    assert run(loop, proto.lost) is None
    assert proto.events == ['made', 'lost']
    assert pipe.closed
    assert os.read(r, 100) == b''   # EOF: the write end is closed


def test_write_eof_flushes_then_closes(loop, pipe_fds):
    r, w = pipe_fds
    transport, proto = connect_write(loop, wfile(w))
    transport.set_write_buffer_limits(high=1 << 30)     # no pause here
    payload = os.urandom(1024 * 1024)       # more than the pipe holds
    transport.write(payload)
    assert transport.get_write_buffer_size() > 0
    transport.write_eof()
    transport.write(b'dropped')             # after EOF: ignored
    assert not proto.lost.done()
    received = bytearray()
    os.set_blocking(r, False)

    def drain():
        try:
            received.extend(os.read(r, 1 << 20))
        except BlockingIOError:
            pass
        return proto.lost.done()

    run_until(loop, drain)
    assert proto.lost.result() is None
    while chunk := os.read(r, 1 << 20):
        received.extend(chunk)
    assert bytes(received) == payload


def test_write_flow_control(loop, pipe_fds):
    r, w = pipe_fds
    transport, proto = connect_write(loop, wfile(w))
    transport.set_write_buffer_limits(high=4096, low=1024)
    assert transport.get_write_buffer_limits() == (1024, 4096)
    with pytest.raises(ValueError):
        transport.set_write_buffer_limits(high=10, low=20)
    payload = os.urandom(512 * 1024)
    transport.write(payload)
    # The pipe took what it holds; the rest is buffered, over the high mark.
    size = transport.get_write_buffer_size()
    assert size > 4096
    assert proto.events == ['made', ('pause', size)]
    transport.write(b'x')       # no second pause_writing()
    assert proto.events == ['made', ('pause', size)]

    received = bytearray()
    os.set_blocking(r, False)

    def drain():
        try:
            received.extend(os.read(r, 65536))
        except BlockingIOError:
            pass
        return len(received) == len(payload) + 1

    run_until(loop, drain)
    assert bytes(received) == payload + b'x'
    # resume_writing() once the buffer fell to the low mark (it is empty:
    # a pipe write empties it or takes a pipe-sized chunk).
    assert proto.events[2][0] == 'resume' and proto.events[2][1] <= 1024
    assert len(proto.events) == 3
    transport.close()
    run(loop, proto.lost)


def test_lowering_high_water_mark_pauses(loop, pipe_fds):
    _r, w = pipe_fds
    transport, proto = connect_write(loop, wfile(w))
    transport.write(os.urandom(200 * 1024))
    size = transport.get_write_buffer_size()
    assert 0 < size <= 65536 * 4
    if ('pause', size) not in proto.events:
        transport.set_write_buffer_limits(high=0)
        assert proto.events == ['made', ('pause', size)]
    transport.abort()
    assert run(loop, proto.lost) is None


def test_abort_drops_the_buffer(loop, pipe_fds):
    _r, w = pipe_fds
    transport, proto = connect_write(loop, wfile(w))
    transport.set_write_buffer_limits(high=1 << 30)
    transport.write(os.urandom(1024 * 1024))
    assert transport.get_write_buffer_size() > 0
    transport.abort()
    assert transport.get_write_buffer_size() == 0
    assert run(loop, proto.lost) is None
    assert proto.events == ['made', 'lost']


def test_reader_closing_is_noticed_without_writing(loop, pipe_fds):
    # The "reader trick": EPOLLERR on the write end when the read end closes.
    r, w = pipe_fds
    _transport, proto = connect_write(loop, wfile(w))
    os.close(r)
    pipe_fds.remove(r)
    assert run(loop, proto.lost) is None
    assert proto.events == ['made', 'lost']


def test_reader_closing_with_buffered_data_is_broken_pipe(loop, pipe_fds,
                                                          caplog):
    r, w = pipe_fds
    transport, proto = connect_write(loop, wfile(w))
    transport.set_write_buffer_limits(high=1 << 30)
    transport.write(os.urandom(1024 * 1024))
    os.close(r)
    pipe_fds.remove(r)
    exc = run(loop, proto.lost)
    assert isinstance(exc, BrokenPipeError)
    assert transport.get_write_buffer_size() == 0

    # Later writes are dropped; from the 5th on, each one logs a warning.
    with caplog.at_level(logging.WARNING, logger='asyncio'):
        for _ in range(7):
            transport.write(b'lost')
    warned = [rec for rec in caplog.records
              if rec.getMessage() == 'pipe closed by peer or '
                                     'os.write(pipe, data) raised exception.']
    assert len(warned) == 2


def test_write_to_closed_reader_is_epipe(loop, pipe_fds):
    # The reader went away and the loop has not noticed yet: os.write()
    # fails with EPIPE (Python ignores SIGPIPE), which closes the transport
    # without bothering the exception handler.
    r, w = pipe_fds
    contexts = []
    loop.set_exception_handler(lambda lp, ctx: contexts.append(ctx))
    transport, proto = connect_write(loop, wfile(w))
    os.close(r)
    pipe_fds.remove(r)
    transport.write(b'data')
    exc = run(loop, proto.lost)
    assert isinstance(exc, BrokenPipeError)
    assert contexts == []
    assert proto.events == ['made', 'lost']


def test_write_requires_bytes(loop, pipe_fds):
    if not __debug__:
        pytest.skip('asyncio checks the type with an assert')
    _r, w = pipe_fds
    transport, proto = connect_write(loop, wfile(w))
    with pytest.raises(AssertionError):
        transport.write('text')
    transport.close()
    run(loop, proto.lost)


def test_large_transfer_between_two_pipe_transports(loop, pipe_fds):
    # 10 MiB through one pipe, both ends on the loop, with flow control:
    # the writer pauses whenever the reader falls behind.
    r, w = pipe_fds
    payload = os.urandom(10 * 1024 * 1024)

    class Reader(ReadProto):
        def data_received(self, data):
            super().data_received(data)
            # A slow consumer: pause now and then.
            if len(self.data) % 7 == 0:
                self.transport.pause_reading()
                asyncio.get_running_loop().call_soon(
                    self.transport.resume_reading)

    async def main():
        _, rproto = await loop.connect_read_pipe(
            lambda: Reader(loop), rfile(r))
        writer, wproto = await loop.connect_write_pipe(
            lambda: WriteProto(loop), wfile(w))
        pipe_fds.clear()
        view = memoryview(payload)
        for i in range(0, len(payload), 100_000):
            writer.write(view[i:i + 100_000])
            if writer.get_write_buffer_size() > 65536:
                while wproto.events[-1][0] != 'resume':
                    await asyncio.sleep(0)
        writer.close()
        await wproto.lost
        await rproto.lost
        return rproto, wproto

    rproto, wproto = run(loop, main(), timeout=60)
    assert bytes(rproto.data) == payload
    pauses = [e for e in wproto.events if e[0] == 'pause']
    resumes = [e for e in wproto.events if e[0] == 'resume']
    assert pauses and len(pauses) == len(resumes)


# -- other kinds of pipe ------------------------------------------------------

def test_fifo(loop, tmp_path):
    path = tmp_path / 'fifo'
    os.mkfifo(path)
    # Opening the read end first, non-blocking, lets the write end open.
    rpipe = rfile(os.open(path, os.O_RDONLY | os.O_NONBLOCK))
    wpipe = wfile(path)
    _reader, rproto = connect_read(loop, rpipe)
    writer, wproto = connect_write(loop, wpipe)
    writer.write(b'through a fifo')
    writer.close()
    assert run(loop, wproto.lost) is None
    assert run(loop, rproto.lost) is None
    assert bytes(rproto.data) == b'through a fifo'
    assert rproto.events == ['made', 'data', 'eof', 'lost']


def test_socket_pair(loop):
    a, b = socket.socketpair()
    reader, rproto = connect_read(loop, a)
    writer, wproto = connect_write(loop, b)
    assert reader.get_extra_info('pipe') is a
    writer.write(b'through a socket')
    writer.close()
    assert run(loop, wproto.lost) is None
    assert run(loop, rproto.lost) is None
    assert bytes(rproto.data) == b'through a socket'
    assert a.fileno() == -1 and b.fileno() == -1    # closed by the transports


def test_socket_peer_closing_closes_write_pipe(loop):
    a, b = socket.socketpair()
    writer, wproto = connect_write(loop, b)
    writer.write(b'x')
    assert a.recv(10) == b'x'
    a.close()
    assert run(loop, wproto.lost) is None


def test_pty_both_directions(loop):
    master, slave = pty.openpty()
    tty.setraw(slave)
    write_slave = os.dup(slave)
    reader, rproto = connect_read(loop, rfile(slave))
    writer, wproto = connect_write(loop, wfile(write_slave))
    try:
        writer.write(b'to the terminal')
        received = bytearray()
        while len(received) < 15:
            received += os.read(master, 100)
        assert received == b'to the terminal'
        os.write(master, b'from the terminal')
        run_until(loop, lambda: len(rproto.data) == 17)
        assert rproto.data == b'from the terminal'
        assert 'polling' in body(reader)
        # A tty gets no reader trick: only the reader polls.
        assert body(writer) == f'fd={write_slave} idle bufsize=0'
        writer.close()
        reader.close()
        assert run(loop, wproto.lost) is None
        assert run(loop, rproto.lost) is None
    finally:
        os.close(master)


def test_pty_master_read_gets_eio_when_slave_closes(loop):
    # Reading a pty master whose slave side is closed fails with EIO: the
    # transport closes with that error, and it is not reported to the
    # exception handler (it is how a terminal ends).
    master, slave = pty.openpty()
    contexts = []
    loop.set_exception_handler(lambda lp, ctx: contexts.append(ctx))
    _reader, rproto = connect_read(loop, rfile(master))
    os.write(slave, b'bye')
    run_until(loop, lambda: len(rproto.data) >= 3)
    os.close(slave)
    exc = run(loop, rproto.lost)
    assert isinstance(exc, OSError) and exc.errno == errno.EIO
    assert contexts == []
    assert rproto.events == ['made', 'data', 'lost']


def test_dev_null_is_a_character_device(loop):
    writer, wproto = connect_write(loop, wfile(os.devnull))
    writer.write(b'x' * 1_000_000)
    assert writer.get_write_buffer_size() == 0
    writer.close()
    assert run(loop, wproto.lost) is None


# -- reprs, ownership, leaks --------------------------------------------------

def test_reprs(loop, pipe_fds):
    r, w = pipe_fds
    reader, rproto = connect_read(loop, rfile(r))
    writer, wproto = connect_write(loop, wfile(w))
    assert body(reader) == f'fd={r} polling'
    reader.pause_reading()
    assert body(reader) == f'fd={r} idle'
    assert body(writer) == f'fd={w} idle bufsize=0'
    writer.set_write_buffer_limits(high=1 << 30)
    writer.write(os.urandom(1024 * 1024))
    size = writer.get_write_buffer_size()
    assert body(writer) == f'fd={w} polling bufsize={size}'
    writer.abort()
    assert body(writer) == f'closing fd={w} idle bufsize=0'
    reader.close()
    assert body(reader) == f'closing fd={r} idle'
    run(loop, rproto.lost)
    run(loop, wproto.lost)
    assert body(reader) == f'closed fd={r} closed'
    assert body(writer) == f'closed fd={w} closed'


def test_repr_and_cleanup_after_loop_closed(loop_factory, pipe_fds):
    # python/asyncio#314: transports left open by a closed loop still have
    # a repr, and dropping them warns and closes their pipes.
    r, w = pipe_fds
    ev = loop_factory()
    try:
        reader, _ = connect_read(ev, rfile(r))
        writer, _ = connect_write(ev, wfile(w))
    finally:
        ev.close()
    pipe_fds.clear()
    assert body(reader) == f'fd={r} open'
    assert body(writer) == f'fd={w} open'
    refs = [weakref.ref(reader), weakref.ref(writer)]
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter('always')
            del reader, writer, ev, _
            gc.collect()
        messages = [str(c.message) for c in caught
                    if issubclass(c.category, ResourceWarning)]
        for fd in (r, w):
            assert sum(m.startswith('unclosed transport') and f'fd={fd} ' in m
                       for m in messages) == 1
        assert [ref() for ref in refs] == [None, None]
    finally:
        for ref in refs:        # if the test failed: no fd leak on top
            if ref() is not None and ref()._pipe is not None:
                ref()._pipe.close()
                ref()._pipe = None


@pytest.mark.asyncio_differs(
    "asyncio's pipe transports do not register their fd, so add_reader() "
    'silently takes it over; ours refuse, as for socket transports')
def test_add_reader_refuses_a_pipe_transports_fd(loop, pipe_fds):
    r, _w = pipe_fds
    reader, rproto = connect_read(loop, rfile(r))
    try:
        with pytest.raises(RuntimeError, match='is used by transport'):
            loop.add_reader(r, lambda: None)
        with pytest.raises(RuntimeError, match='is used by transport'):
            loop.remove_reader(r)
    finally:
        reader.close()
        run(loop, rproto.lost)


def test_set_protocol(loop, pipe_fds):
    r, w = pipe_fds
    reader, rproto = connect_read(loop, rfile(r))
    other = ReadProto(loop)
    other.events.append('made')
    reader.set_protocol(other)
    assert reader.get_protocol() is other
    os.write(w, b'to the other one')
    os.close(w)
    pipe_fds.remove(w)
    assert run(loop, other.lost) is None
    assert other.data == b'to the other one'
    assert rproto.events == ['made']


def test_cancelled_connect_closes_the_transport(loop, pipe_fds):
    r, _w = pipe_fds
    pipe = rfile(r)
    protos = []

    def factory():
        protos.append(ReadProto(loop))
        return protos[-1]

    async def main():
        task = asyncio.ensure_future(loop.connect_read_pipe(factory, pipe))
        await asyncio.sleep(0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        return await protos[0].lost

    assert run(loop, main()) is None
    assert pipe.closed
    assert protos[0].events[-1] == 'lost'


def test_debug_mode(loop, pipe_fds, caplog):
    loop.set_debug(True)
    r, w = pipe_fds
    with caplog.at_level(logging.DEBUG, logger='asyncio'):
        reader, rproto = connect_read(loop, rfile(r))
        reader.pause_reading()
        reader.resume_reading()
        os.close(w)
        pipe_fds.remove(w)
        run(loop, rproto.lost)
    messages = [rec.getMessage() for rec in caplog.records]
    assert any(m.startswith(f'Read pipe {r} connected') for m in messages)
    assert any(m.endswith('pauses reading') for m in messages)
    assert any(m.endswith('resumes reading') for m in messages)
    assert any(m.endswith('was closed by peer') for m in messages)
