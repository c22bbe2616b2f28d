"""Stream transports (TCP and Unix sockets) and the streams API on top.

Every test runs on stdlib asyncio and on our loop (the `loop` fixture),
and those that make a connection run over TCP on 127.0.0.1 and over Unix
sockets (the `family` fixture).  A TCP pair comes from create_server +
create_connection on port 0; a Unix pair from socket.socketpair(), one end
through connect_accepted_socket and the other through
create_connection(sock=).  Where a test needs a peer that misbehaves (a
reset, a reader that never reads), the peer is a plain socket.

What is pinned down is asyncio's selector transport, step for step: the
classes, reprs, protocol call sequences (eof_received's answer, half-close,
connection_lost's argument), what write()/writelines() take and refuse
(exception types and messages), the warnings after the connection is
lost, flow control (limits, the exact pause_writing/resume_writing
sequence), pause_reading/resume_reading, BufferedProtocol (get_buffer,
buffer_updated, their failures, switching protocols mid-stream),
get_extra_info, errors raised by protocol callbacks, loop.sendfile (native
and fallback), data integrity for large transfers (sha256, both ways at
once, with back-pressure; reads on both sides of our loop's 16 KiB
large-read switch; close right after a write), the streams API
(start_server, open_connection, the Unix variants) and 2000 concurrent
connections.
"""
import array
import asyncio
import asyncio.trsock
import contextlib
import hashlib
import inspect
import io
import logging
import os
import resource
import shutil
import socket
import struct
import sys
import tempfile
from unittest import mock

import pytest

from support import run_finishing

HOST = '127.0.0.1'
MiB = 1024 * 1024
PY311 = sys.version_info >= (3, 11)
PY312 = sys.version_info >= (3, 12)


def _asyncio_writelines_does(name):
    """Whether asyncio's own writelines() (3.12+; before, WriteTransport's
    write(b''.join(...))) mentions `name`: two of its early bugs were fixed
    in later patch releases, and the installed Python may have either."""
    if not PY312:
        return True
    from asyncio import selector_events
    try:
        source = inspect.getsource(
            selector_events._SelectorSocketTransport.writelines)
    except OSError:         # no source: assume a fixed release
        return True
    return name in source


# gh-127655 (fixed in 3.12.9 and 3.13.2): writelines() never called
# pause_writing().
ASYNCIO_WRITELINES_PAUSES = _asyncio_writelines_does('_maybe_pause_protocol')
# writelines() once the connection is lost calls the _write_ready that
# close() set to None: TypeError (3.12.1, 3.13.0).
ASYNCIO_WRITELINES_AFTER_CLOSE_OK = _asyncio_writelines_does('_conn_lost')


def run(loop, coro, timeout=30):
    return run_finishing(loop, coro, timeout)


async def until(predicate, timeout=20):
    """Wait (polling) until predicate() is true."""
    async def wait():
        while not predicate():
            await asyncio.sleep(0.001)
    await asyncio.wait_for(wait(), timeout)


async def passes(n=5):
    """Let the running loop go round n times."""
    for _ in range(n):
        await asyncio.sleep(0)


@pytest.fixture(params=('tcp', 'unix'))
def family(request):
    return request.param


# -- protocols ------------------------------------------------------------------

class Tracked:
    """What every protocol here records: its transport, the calls it got
    (consecutive data calls count once), and futures for made/eof/lost."""

    keep_open = None        # what eof_received() returns

    def __init__(self):
        loop = asyncio.get_running_loop()
        self.transport = None
        self.events = []
        self.made = loop.create_future()
        self.eof = loop.create_future()
        self.lost = loop.create_future()
        self._wakeup = None

    def connection_made(self, transport):
        self.transport = transport
        self.events.append('made')
        self.made.set_result(None)

    def eof_received(self):
        self.events.append('eof')
        if not self.eof.done():         # (a second EOF: see below)
            self.eof.set_result(None)
        self.wake()
        return self.keep_open

    def connection_lost(self, exc):
        self.events.append('lost')
        self.lost.set_result(exc)
        self.wake()

    def note_data(self):
        if not self.events or self.events[-1] != 'data':
            self.events.append('data')
        self.wake()

    def wake(self):
        if self._wakeup is not None and not self._wakeup.done():
            self._wakeup.set_result(None)

    async def received(self, n):
        """Wait until n bytes in all have arrived."""
        while self.size < n:
            if self.eof.done() or self.lost.done():
                raise AssertionError(
                    f'the connection ended after {self.size} of {n} bytes')
            self._wakeup = asyncio.get_running_loop().create_future()
            await self._wakeup


class Peer(Tracked, asyncio.Protocol):
    """Keeps every chunk data_received() got (the objects themselves: a
    reused buffer behind them would show as corrupted data)."""

    def __init__(self):
        super().__init__()
        self.chunks = []
        self.types = set()
        self.size = 0
        self.flow = []

    def data_received(self, data):
        self.types.add(type(data))
        self.chunks.append(data)
        self.size += len(data)
        self.note_data()

    def pause_writing(self):
        self.flow.append(('pause', self.transport.get_write_buffer_size()))

    def resume_writing(self):
        self.flow.append(('resume', self.transport.get_write_buffer_size()))

    @property
    def data(self):
        return b''.join(self.chunks)


class HalfClose(Peer):
    keep_open = True


class BufPeer(Tracked, asyncio.BufferedProtocol):
    """A BufferedProtocol that reads into a bytearray of `bufsize` bytes
    and keeps what arrived."""

    bufsize = 4096

    def __init__(self):
        super().__init__()
        self.buffer = bytearray(self.bufsize)
        self.hints = []
        self.received_data = bytearray()
        self.size = 0

    def get_buffer(self, sizehint):
        self.hints.append(sizehint)
        return self.buffer

    def buffer_updated(self, nbytes):
        self.received_data += self.buffer[:nbytes]
        self.size += nbytes
        self.note_data()


@contextlib.asynccontextmanager
async def connected(family, client_factory=Peer, server_factory=Peer):
    """(client, server) protocols of a connected pair of the running loop.

    tcp: create_server + create_connection on 127.0.0.1 port 0.  unix: a
    socketpair, the 'server' end by connect_accepted_socket and the
    'client' end by create_connection(sock=).  Both transports are aborted
    (if still open) and the server closed afterwards.
    """
    loop = asyncio.get_running_loop()
    server = None
    protocols = []
    try:
        if family == 'tcp':
            accepted = []

            def make_server_protocol():
                accepted.append(server_factory())
                protocols.append(accepted[-1])
                return accepted[-1]
            server = await loop.create_server(make_server_protocol, HOST, 0)
            _, client = await loop.create_connection(
                client_factory, *server.sockets[0].getsockname())
            protocols.append(client)
            await until(lambda: accepted)
            srv = accepted[0]
            await srv.made
        else:
            a, b = socket.socketpair()
            try:
                _, srv = await loop.connect_accepted_socket(server_factory, a)
            except BaseException:
                a.close()
                b.close()
                raise
            protocols.append(srv)
            try:
                _, client = await loop.create_connection(client_factory,
                                                         sock=b)
            except BaseException:
                b.close()
                raise
            protocols.append(client)
        yield client, srv
    finally:
        for proto in protocols:
            # (Not once connection_lost has run: asyncio's abort() then
            # fails when a close() had to drain the buffer first.)
            t = proto.transport
            if t is not None and t.get_protocol() is not None:
                t.abort()
        await passes(3)
        if server is not None:
            server.close()
            await server.wait_closed()


def socket_pair(family):
    """Two connected non-blocking stream sockets of the family."""
    if family == 'unix':
        a, b = socket.socketpair()
    else:
        with socket.socket() as listener:
            listener.bind((HOST, 0))
            listener.listen(1)
            a = socket.create_connection(listener.getsockname())
            b, _ = listener.accept()
    a.setblocking(False)
    b.setblocking(False)
    return a, b


def body(transport):
    """The repr without the class name (asyncio's is
    _SelectorSocketTransport, ours SocketTransport)."""
    text = repr(transport)
    assert text.startswith('<') and text.endswith('>')
    return text[1:-1].split(' ', 1)[1]


def fill(transport):
    """Write until the kernel takes no more and the transport buffers the
    rest (the peer must not be reading); return the bytes written."""
    chunk = b'f' * (256 * 1024)
    written = 0
    while transport.get_write_buffer_size() == 0:
        assert written < 256 * MiB, 'the kernel took 256 MiB with no reader'
        transport.write(chunk)
        written += len(chunk)
    return written


def sha(data):
    return hashlib.sha256(data).hexdigest()


def collect_errors(loop):
    """The contexts the loop's exception handler gets from now on."""
    contexts = []
    loop.set_exception_handler(lambda lp, context: contexts.append(context))
    return contexts


# -- the transport object ----------------------------------------------------------

def test_transport_classes_and_closing(loop, family):
    async def main():
        async with connected(family) as (client, server):
            t = client.transport
            assert isinstance(t, asyncio.Transport)
            assert isinstance(t, asyncio.ReadTransport)
            assert isinstance(t, asyncio.WriteTransport)
            assert isinstance(t, asyncio.BaseTransport)
            assert isinstance(server.transport, asyncio.Transport)
            assert t.get_protocol() is client
            assert t.can_write_eof() is True
            assert server.transport.can_write_eof() is True
            assert not t.is_closing() and t.is_reading()
            assert isinstance(repr(t), str)
            t.close()
            assert t.is_closing() and not t.is_reading()
            assert isinstance(repr(t), str)
            t.close()                               # no-op
            assert await client.lost is None
            assert t.is_closing()
            assert isinstance(repr(t), str)
            assert client.events == ['made', 'lost']
            assert await server.lost is None
            assert server.events == ['made', 'eof', 'lost']
            assert t.can_write_eof() is True
    run(loop, main())


def test_repr_follows_the_state(loop, family):
    async def main():
        async with connected(family) as (client, server):
            t = client.transport
            fd = t.get_extra_info('socket').fileno()
            assert body(t) == f'fd={fd} read=polling write=<idle, bufsize=0>'
            t.pause_reading()
            assert body(t) == f'fd={fd} read=idle write=<idle, bufsize=0>'
            t.resume_reading()
            server.transport.pause_reading()
            fill(t)
            size = t.get_write_buffer_size()
            assert body(t) == (f'fd={fd} read=polling '
                               f'write=<polling, bufsize={size}>')
            t.close()
            assert body(t) == (f'closing fd={fd} read=idle '
                               f'write=<polling, bufsize={size}>')
            t.abort()
            assert await client.lost is None
            assert body(t) == f'closed fd={fd}'
    run(loop, main())


# -- protocol call sequences -----------------------------------------------------------

def test_eof_received_false_closes_the_transport(loop, family):
    async def main():
        async with connected(family) as (client, server):
            client.transport.write(b'hello')
            client.transport.write_eof()
            assert not client.transport.is_closing()
            await server.eof
            # eof_received() returned None: the transport closes itself.
            assert server.transport.is_closing()
            assert await server.lost is None
            assert server.events == ['made', 'data', 'eof', 'lost']
            assert server.data == b'hello'
            # The client sees the server's close as its EOF, and closes.
            assert await client.lost is None
            assert client.events == ['made', 'eof', 'lost']
    run(loop, main())


def test_eof_received_true_half_closes(loop, family):
    # The server keeps its side open after the client's write_eof: it can
    # still write (small and large), and the client gets it all, then EOF.
    reply = os.urandom(2 * MiB)

    async def main():
        async with connected(family, server_factory=HalfClose) as (
                client, server):
            client.transport.write(b'ping')
            client.transport.write_eof()
            await server.eof
            assert not server.transport.is_closing()
            assert server.data == b'ping'
            server.transport.write(b'pong:')
            server.transport.write(reply)
            server.transport.write_eof()
            assert await client.lost is None
            assert client.events == ['made', 'data', 'eof', 'lost']
            assert client.data == b'pong:' + reply
            assert server.events == ['made', 'data', 'eof']
            server.transport.close()
            assert await server.lost is None
            assert server.events == ['made', 'data', 'eof', 'lost']
    run(loop, main())


def test_reading_after_a_kept_open_eof(loop, family):
    # asyncio stops watching the socket after eof_received() returns True
    # but leaves is_reading() true; a pause_reading()/resume_reading()
    # pair then watches it again, and the EOF is reported a second time.
    async def main():
        async with connected(family, server_factory=HalfClose) as (
                client, server):
            client.transport.write_eof()
            await server.eof
            t = server.transport
            assert t.is_reading() and not t.is_closing()
            assert 'read=idle' in body(t)
            t.pause_reading()
            t.resume_reading()
            await until(lambda: server.events.count('eof') == 2)
            assert server.events == ['made', 'eof', 'eof']
            assert not t.is_closing()
    run(loop, main())


def test_peer_reset_gives_connection_reset_error(loop, family):
    # TCP: the peer closes with SO_LINGER 0 (an RST).  Unix: the peer
    # closes with data it never read, which the kernel reports to us as
    # ECONNRESET.
    async def main():
        a, b = socket_pair(family)
        with b:
            t, proto = await loop.connect_accepted_socket(Peer, a)
            if family == 'tcp':
                b.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                             struct.pack('ii', 1, 0))
            else:
                t.write(b'never read')
                await passes()
                assert t.get_write_buffer_size() == 0
        exc = await proto.lost
        assert isinstance(exc, ConnectionResetError)
        assert proto.events == ['made', 'lost']
        assert t.is_closing()
    run(loop, main())


def test_peer_close_is_eof_then_connection_lost_none(loop, family):
    async def main():
        a, b = socket_pair(family)
        with b:
            _, proto = await loop.connect_accepted_socket(Peer, a)
            b.send(b'last words')
        assert await proto.lost is None
        assert proto.events == ['made', 'data', 'eof', 'lost']
        assert proto.data == b'last words'
    run(loop, main())


# -- write / writelines -------------------------------------------------------------------

def test_write_accepts_bytes_like_objects(loop, family):
    async def main():
        async with connected(family) as (client, server):
            t = client.transport
            t.write(b'a')
            t.write(bytearray(b'b'))
            t.write(memoryview(b'cd'))
            t.write(memoryview(b'..ef..')[2:4])
            t.write(b'')
            t.write(bytearray())
            t.write(memoryview(b''))
            # A memoryview of another format goes as its raw bytes.
            t.write(memoryview(array.array('i', [1, 2])))
            t.writelines([b'g', bytearray(b'h'), memoryview(b'i')])
            t.writelines([b'j'])
            t.writelines([])
            t.writelines(iter([b'k', b'l']))          # any iterable
            t.writelines((b'', b'm'))
            t.write_eof()
            await server.eof
            assert server.data == (b'abcdef' + array.array('i', [1, 2])
                                   .tobytes() + b'ghijklm')
            assert server.types == {bytes}
    run(loop, main())


def test_write_refuses_what_is_not_bytes_like(loop, family):
    async def main():
        async with connected(family) as (client, server):
            t = client.transport
            for bad, name in (('text', 'str'), (42, 'int'), (None, 'NoneType'),
                              ([b'a'], 'list')):
                with pytest.raises(TypeError) as info:
                    t.write(bad)
                assert str(info.value) == (
                    f'data argument must be a bytes-like object, '
                    f'not {name!r}')
            assert not t.is_closing()
            t.write(b'still fine')
            await server.received(10)
            assert server.data == b'still fine'
    run(loop, main())


def writelines_type_error(index):
    # 3.10/3.11: writelines() is WriteTransport's, write(b''.join(...));
    # 3.12+: the selector transport's own, memoryview() of each item.
    if PY312:
        return "memoryview: a bytes-like object is required, not 'str'"
    return f'sequence item {index}: expected a bytes-like object, str found'


def test_writelines_refuses_str_items(loop, family):
    async def main():
        async with connected(family) as (client, server):
            t = client.transport
            with pytest.raises(TypeError) as info:
                t.writelines(['text'])
            assert str(info.value) == writelines_type_error(0)
            with pytest.raises(TypeError) as info:
                t.writelines([b'ok', 'text'])
            assert str(info.value) == writelines_type_error(1)
            t.write(b'!')
            await server.received(1)
            # Nothing of the refused calls was sent.
            assert server.data == b'!'
    run(loop, main())


def test_write_of_a_non_contiguous_memoryview(loop, family):
    # asyncio hands the object to socket.send(), whose BufferError is
    # a fatal write error of the transport (not an OSError: it reaches the
    # exception handler).
    async def main():
        errors = collect_errors(loop)
        async with connected(family) as (client, server):
            t = client.transport
            t.write(memoryview(b'abcdef')[::2])
            exc = await client.lost
            assert isinstance(exc, BufferError)
            assert [c['message'] for c in errors] == [
                'Fatal write error on socket transport']
            assert errors[0]['exception'] is exc
            assert errors[0]['transport'] is t
            assert errors[0]['protocol'] is client
            await server.eof
            assert server.data == b''
    run(loop, main())


def test_write_after_write_eof(loop, family):
    lines_message = ('Cannot call writelines() after write_eof()' if PY312
                     else 'Cannot call write() after write_eof()')

    async def main():
        async with connected(family) as (client, server):
            t = client.transport
            t.write(b'before')
            t.write_eof()
            t.write_eof()                       # no-op
            for data in (b'after', b''):
                with pytest.raises(RuntimeError) as info:
                    t.write(data)
                assert str(info.value) == (
                    'Cannot call write() after write_eof()')
            for lines in ([b'a', b'b'], [b'a'], []):
                with pytest.raises(RuntimeError) as info:
                    t.writelines(lines)
                assert str(info.value) == lines_message
            await server.eof
            assert server.data == b'before'
            assert not t.is_closing()
    run(loop, main())


def socket_send_warnings(caplog):
    return sum(1 for r in caplog.records
               if r.name == 'asyncio' and r.levelno == logging.WARNING and
               r.getMessage() == 'socket.send() raised exception.')


def test_write_after_close_is_dropped_then_warned(loop, family, caplog):
    # close() with nothing buffered counts as the first lost write
    # (conn_lost = 1); each later write counts one more and, from the
    # fifth count on, logs asyncio's warning.  Empty writes do not count.
    caplog.set_level(logging.WARNING, logger='asyncio')

    async def main():
        async with connected(family) as (client, server):
            t = client.transport
            t.close()
            warned = []
            for _ in range(7):
                before = socket_send_warnings(caplog)
                t.write(b'x')
                t.write(b'')
                warned.append(socket_send_warnings(caplog) - before)
            assert warned == [0, 0, 0, 0, 1, 1, 1]
            assert await client.lost is None
            t.write(b'y')
            assert socket_send_warnings(caplog) == 4
            await server.eof
            assert server.data == b''
            assert client.events == ['made', 'lost']
    run(loop, main())


@(pytest.mark.asyncio_differs(
    "this asyncio's writelines() after close() calls the _write_ready "
    'that close() set to None: TypeError; ours drops the data as write() '
    'does (as 3.10/3.11 do)')
  if not ASYNCIO_WRITELINES_AFTER_CLOSE_OK else lambda f: f)
def test_writelines_after_close_is_dropped(loop, family, caplog):
    caplog.set_level(logging.WARNING, logger='asyncio')

    async def main():
        async with connected(family) as (client, server):
            t = client.transport
            t.close()
            for _ in range(3):
                t.writelines([b'a', b'b'])
            assert socket_send_warnings(caplog) == 0
            assert await client.lost is None
            for _ in range(3):
                t.writelines([b'c'])
            assert socket_send_warnings(caplog) == 2
            await server.eof
            assert server.data == b''
    run(loop, main())


def test_write_after_abort_is_dropped(loop, family, caplog):
    caplog.set_level(logging.WARNING, logger='asyncio')

    async def main():
        async with connected(family) as (client, server):
            t = client.transport
            t.abort()
            for _ in range(4):
                t.write(b'x')
            assert socket_send_warnings(caplog) == 0
            t.write(b'x')
            assert socket_send_warnings(caplog) == 1
            assert await client.lost is None
            await server.lost
            assert server.data == b''
    run(loop, main())


def test_write_after_close_with_data_buffered_is_still_sent(loop, family):
    # asyncio's close() with a non-empty buffer only stops reading; until
    # the buffer drains, write() keeps appending, and all of it is sent
    # before the connection is closed.
    async def main():
        async with connected(family) as (client, server):
            server.transport.pause_reading()
            t = client.transport
            sent = fill(t)
            t.close()
            t.write(b'after close')
            server.transport.resume_reading()
            assert await client.lost is None
            await server.eof
            assert server.size == sent + len(b'after close')
            assert server.data.endswith(b'after close')
    run(loop, main())


@pytest.mark.asyncio_differs(
    "asyncio's abort() raises AttributeError ('NoneType' object has no "
    "attribute 'call_soon'): the transport let go of its loop when the "
    'connection was lost, and a close() that drained never counted it lost')
def test_abort_after_a_draining_close_completed(loop, family):
    async def main():
        errors = collect_errors(loop)
        async with connected(family) as (client, server):
            t = client.transport
            server.transport.pause_reading()
            fill(t)
            t.close()
            server.transport.resume_reading()
            assert await client.lost is None
            t.abort()
            await passes()
            assert errors == []
            assert client.events == ['made', 'lost']
    run(loop, main())


# -- data integrity ------------------------------------------------------------------

class Streamer(Peer):
    """Sends `payload` with flow control (writes while not paused) and
    hashes what it receives.  Reads slowly: it pauses reading for a few
    ms after each MiB."""

    payload = b''

    def __init__(self):
        super().__init__()
        self.digest = hashlib.sha256()
        self.offset = 0
        self.paused = False
        self.next_pause = MiB
        self.reading_pauses = 0

    def data_received(self, data):
        self.digest.update(data)
        self.size += len(data)
        self.note_data()
        if self.size >= self.next_pause and self.transport.is_reading():
            self.next_pause = self.size + MiB
            self.reading_pauses += 1
            self.transport.pause_reading()
            asyncio.get_running_loop().call_later(
                0.002, self.transport.resume_reading)

    def pause_writing(self):
        super().pause_writing()
        self.paused = True

    def resume_writing(self):
        super().resume_writing()
        self.paused = False
        self.send()

    def send(self):
        view = memoryview(self.payload)
        while not self.paused and self.offset < len(view):
            self.transport.write(view[self.offset:self.offset + 256 * 1024])
            self.offset += 256 * 1024


def test_16_mib_both_ways_at_once_with_back_pressure(loop, family):
    size = 16 * MiB
    payloads = {'client': os.urandom(size), 'server': os.urandom(size)}

    def factory(name):
        def make():
            proto = Streamer()
            proto.payload = payloads[name]
            return proto
        return make

    async def main():
        async with connected(family, factory('client'),
                             factory('server')) as (client, server):
            # Neither side reads until both writers have been paused: the
            # kernel cannot hold 16 MiB, so each transport must buffer
            # past its high-water mark.
            for proto in (client, server):
                proto.transport.pause_reading()
            for proto in (client, server):
                proto.send()
            await until(lambda: client.flow and server.flow)
            for proto in (client, server):
                proto.transport.resume_reading()
            await client.received(size)
            await server.received(size)
            assert client.digest.hexdigest() == sha(payloads['server'])
            assert server.digest.hexdigest() == sha(payloads['client'])
            for proto in (client, server):
                assert proto.size == size
                assert proto.offset == size
                # Paused and resumed in turn, every pause was followed by
                # a resume, the first one above the high-water mark.
                kinds = [kind for kind, _ in proto.flow]
                assert kinds[:2] == ['pause', 'resume']
                assert kinds == ['pause', 'resume'] * (len(kinds) // 2)
                assert proto.flow[0][1] > 64 * 1024
                assert all(n <= 16 * 1024 for kind, n in proto.flow
                           if kind == 'resume')
                assert proto.reading_pauses >= 10
    run(loop, main(), timeout=60)


def test_close_right_after_a_large_write_loses_nothing(loop, family):
    payload = os.urandom(8 * MiB)

    async def main():
        async with connected(family) as (client, server):
            client.transport.write(payload)
            client.transport.write(b'END')
            client.transport.close()
            assert client.transport.is_closing()
            assert await client.lost is None
            assert await server.lost is None
            assert server.events == ['made', 'data', 'eof', 'lost']
            assert server.size == len(payload) + 3
            assert sha(server.data) == sha(payload + b'END')
    run(loop, main())


def test_write_eof_after_a_large_write_loses_nothing(loop, family):
    payload = os.urandom(8 * MiB)

    async def main():
        async with connected(family, server_factory=HalfClose) as (
                client, server):
            client.transport.writelines([payload, b'END'])
            client.transport.write_eof()
            await server.eof
            assert sha(server.data) == sha(payload + b'END')
            server.transport.write(b'ack')
            await client.received(3)
            assert client.data == b'ack'
    run(loop, main())


def test_abort_drops_buffered_data(loop, family):
    async def main():
        async with connected(family) as (client, server):
            server.transport.pause_reading()
            t = client.transport
            sent = fill(t)
            buffered = t.get_write_buffer_size()
            assert buffered > 0
            t.abort()
            assert t.is_closing()
            assert t.get_write_buffer_size() == 0
            assert await client.lost is None
            assert client.events == ['made', 'lost']
            server.transport.resume_reading()
            await server.eof
            # What the kernel had taken arrives; the buffered rest is lost.
            assert server.size == sent - buffered
    run(loop, main())


def test_queued_writes_arrive_in_order_and_are_counted(loop, family):
    # Everything below is queued (the peer is not reading): small and
    # large pieces of every accepted type, which the queue keeps or copies
    # in different ways; the buffer size counts each one's bytes and the
    # peer gets them all, in order.
    large = os.urandom(100 * 1024)
    pieces = [b'a' * 10, large, bytearray(b'b' * 100), memoryview(large)[7:],
              b'c' * 4096, b'd' * 4097, bytearray(os.urandom(50_000)),
              memoryview(b'e' * 3000), b'f']
    pieces += [bytes([i]) * (i + 1) for i in range(200)]

    async def main():
        async with connected(family) as (client, server):
            server.transport.pause_reading()
            t = client.transport
            t.set_write_buffer_limits(high=256 * MiB)
            sent = fill(t)
            expected = b'f' * sent
            for piece in pieces:
                size = t.get_write_buffer_size()
                t.write(piece)
                assert t.get_write_buffer_size() == size + len(piece)
                expected += bytes(piece)
            t.writelines([b'g' * 10, large])
            expected += b'g' * 10 + large
            server.transport.resume_reading()
            await server.received(len(expected))
            assert sha(server.data) == sha(expected)
            await until(lambda: t.get_write_buffer_size() == 0)
    run(loop, main())


# 3.12+ queues a memoryview of what it could not send at once: a bytearray
# changed after write() changes what is sent, and resizing it raises
# BufferError while the view is queued (3.10 and 3.11 copy).  Ours copies
# what it cannot keep as it is, as 3.11 did.
asyncio_keeps_callers_buffers = (
    pytest.mark.asyncio_differs('3.12+ queues a view of the bytearray')
    if PY312 else (lambda test: test))


@asyncio_keeps_callers_buffers
def test_queued_writes_keep_what_write_was_given(loop, family):
    small, large = bytearray(b's' * 100), bytearray(b'L' * 100_000)
    viewed = bytearray(b'v' * 20_000)

    async def main():
        async with connected(family) as (client, server):
            server.transport.pause_reading()
            t = client.transport
            sent = fill(t)
            for data in (small, large, memoryview(viewed)[1000:]):
                t.write(data)
            # The caller reuses its buffers at once.
            small[:] = b'x' * 100
            large.extend(b'more')
            del large[:50_000]
            viewed[:] = b'y' * 20_000
            t.close()
            server.transport.resume_reading()
            await server.eof
            expected = b'f' * sent + b's' * 100 + b'L' * 100_000 + b'v' * 19_000
            assert server.size == len(expected)
            assert sha(server.data) == sha(expected)
    run(loop, main())


@asyncio_keeps_callers_buffers
def test_partly_sent_write_keeps_its_tail(loop, family):
    # One write larger than the kernel takes: the part sent at once and the
    # queued rest join up, from a bytes object, a bytearray changed after
    # write() and a memoryview.
    payloads = [os.urandom(8 * MiB), bytearray(os.urandom(8 * MiB)),
                memoryview(os.urandom(8 * MiB))]

    async def main():
        async with connected(family) as (client, server):
            expected = b''
            for payload in payloads:
                client.transport.write(payload)
                expected += bytes(payload)
                assert client.transport.get_write_buffer_size() > 0
                if isinstance(payload, bytearray):
                    payload[:] = b'changed'
            client.transport.close()
            await server.eof
            assert server.size == len(expected)
            assert sha(server.data) == sha(expected)
    run(loop, main())


# Sizes around our loop's switch (a read of 16 KiB or more makes the next
# read go straight into a new bytes object), each sent alone and awaited,
# so that the reads are about these sizes.
BOUNDARY_SIZES = [1, 100, 16383, 16384, 16385, 65536, 120 * 1024 + 1, MiB,
                  1, 100, 16383, 5, 16384, 1, 16385, 2, 256 * 1024 + 1, 7]


def test_reads_across_the_16_kib_switch(loop, family):
    chunks = [os.urandom(n) for n in BOUNDARY_SIZES]

    async def main():
        async with connected(family) as (client, server):
            total = 0
            for chunk in chunks:
                client.transport.write(chunk)
                total += len(chunk)
                await server.received(total)
                assert server.data[-len(chunk):] == chunk
            client.transport.write_eof()
            await server.eof
            # The bytes objects data_received() got are still intact.
            assert server.types == {bytes}
            assert sha(server.data) == sha(b''.join(chunks))
    run(loop, main())


def test_stream_of_mixed_sizes_checksummed(loop, family):
    # The same sizes written back to back, many times: reads of every size.
    chunks = [os.urandom(n) for n in BOUNDARY_SIZES] * 3
    expected = b''.join(chunks)

    async def main():
        async with connected(family) as (client, server):
            for chunk in chunks:
                client.transport.write(chunk)
            client.transport.write_eof()
            await server.eof
            assert server.size == len(expected)
            assert sha(server.data) == sha(expected)
    run(loop, main())


# -- flow control ---------------------------------------------------------------------------

def test_write_buffer_limits(loop, family):
    async def main():
        async with connected(family) as (client, _):
            t = client.transport
            assert t.get_write_buffer_limits() == (16 * 1024, 64 * 1024)
            assert t.get_write_buffer_size() == 0
            t.set_write_buffer_limits(high=1000)
            assert t.get_write_buffer_limits() == (250, 1000)
            t.set_write_buffer_limits(low=100)
            assert t.get_write_buffer_limits() == (100, 400)
            t.set_write_buffer_limits(high=100, low=100)
            assert t.get_write_buffer_limits() == (100, 100)
            t.set_write_buffer_limits(0)
            assert t.get_write_buffer_limits() == (0, 0)
            t.set_write_buffer_limits()
            assert t.get_write_buffer_limits() == (16 * 1024, 64 * 1024)
            for high, low in ((1, 2), (10, -1), (-4, None), (None, -4)):
                with pytest.raises(ValueError) as info:
                    t.set_write_buffer_limits(high=high, low=low)
                h = high if high is not None else 4 * low
                lo = low if low is not None else h // 4
                assert str(info.value) == (
                    f'high ({h!r}) must be >= low ({lo!r}) must be >= 0')
            assert t.get_write_buffer_limits() == (16 * 1024, 64 * 1024)
            assert client.flow == []
    run(loop, main())


def test_pause_and_resume_writing_sequence(loop, family):
    async def main():
        async with connected(family) as (client, server):
            t = client.transport
            server.transport.pause_reading()
            t.set_write_buffer_limits(high=1 << 40, low=0)
            fill(t)
            n = t.get_write_buffer_size()
            assert client.flow == []
            # At the mark: not above it, no pause.
            t.set_write_buffer_limits(high=n, low=0)
            assert client.flow == []
            # Below the buffer: pause_writing() at once.
            t.set_write_buffer_limits(high=n - 1, low=0)
            assert client.flow == [('pause', n)]
            # More writes while paused: no second call.
            t.write(b'1')
            t.writelines([b'23', b'4'])
            assert t.get_write_buffer_size() == n + 4
            # Raising the mark does not resume: only draining does.
            t.set_write_buffer_limits(high=1 << 40, low=0)
            assert client.flow == [('pause', n)]
            server.transport.resume_reading()
            await until(lambda: len(client.flow) == 2)
            assert client.flow == [('pause', n), ('resume', 0)]
            assert t.get_write_buffer_size() == 0
            await passes()
            assert client.flow == [('pause', n), ('resume', 0)]
    run(loop, main())


@(pytest.mark.asyncio_differs(
    "this asyncio's writelines() never calls pause_writing() (gh-127655, "
    'fixed in 3.12.9 and 3.13.2); ours pauses as write() does')
  if not ASYNCIO_WRITELINES_PAUSES else lambda f: f)
def test_pause_writing_through_writelines_and_write(loop, family):
    async def main():
        async with connected(family) as (client, server):
            t = client.transport
            server.transport.pause_reading()
            t.set_write_buffer_limits(high=1 << 40, low=0)
            fill(t)
            n = t.get_write_buffer_size()
            t.set_write_buffer_limits(high=n + 100, low=50)
            t.writelines([b'a' * 60, b'b' * 40])        # n + 100: at the mark
            assert client.flow == []
            t.writelines([b'c', b'd'])
            assert client.flow == [('pause', n + 102)]
            t.write(b'e' * 1000)
            assert client.flow == [('pause', n + 102)]
            server.transport.resume_reading()
            await until(lambda: len(client.flow) == 2)
            kind, size = client.flow[1]
            assert kind == 'resume' and size <= 50
            t.write_eof()
            await server.eof
            assert server.data.endswith(
                b'a' * 60 + b'b' * 40 + b'cd' + b'e' * 1000)
    run(loop, main())


def test_flow_control_callbacks_that_raise(loop, family):
    class Failing(Peer):
        def pause_writing(self):
            super().pause_writing()
            raise ZeroDivisionError('pause')

        def resume_writing(self):
            super().resume_writing()
            raise ValueError('resume')

    async def main():
        errors = collect_errors(loop)
        async with connected(family, client_factory=Failing) as (
                client, server):
            t = client.transport
            server.transport.pause_reading()
            t.set_write_buffer_limits(high=1 << 40, low=0)
            fill(t)
            t.set_write_buffer_limits(high=0, low=0)
            assert [c['message'] for c in errors] == [
                'protocol.pause_writing() failed']
            assert isinstance(errors[0]['exception'], ZeroDivisionError)
            assert errors[0]['transport'] is t
            assert errors[0]['protocol'] is client
            server.transport.resume_reading()
            await until(lambda: len(errors) == 2)
            assert errors[1]['message'] == 'protocol.resume_writing() failed'
            assert isinstance(errors[1]['exception'], ValueError)
            # Neither closes the transport.
            assert not t.is_closing()
            t.write(b'more')
            assert [kind for kind, _ in client.flow] == ['pause', 'resume']
    run(loop, main())


# -- pause_reading / resume_reading ------------------------------------------------------

def test_pause_and_resume_reading(loop, family):
    async def main():
        async with connected(family) as (client, server):
            t = server.transport
            assert t.is_reading()
            t.pause_reading()
            assert not t.is_reading()
            t.pause_reading()                   # no-op when paused
            assert not t.is_reading()
            client.transport.write(b'while paused')
            client.transport.write_eof()
            await asyncio.sleep(0.05)
            assert server.events == ['made']   # neither data nor EOF
            t.resume_reading()
            assert t.is_reading()
            t.resume_reading()                  # no-op when reading
            assert t.is_reading()
            assert await server.lost is None
            assert server.events == ['made', 'data', 'eof', 'lost']
            assert server.data == b'while paused'
            assert not t.is_reading()
            t.resume_reading()                  # no-ops once closed
            t.pause_reading()
            assert not t.is_reading()
    run(loop, main())


def test_pause_reading_while_closing_is_ignored(loop, family):
    async def main():
        async with connected(family) as (client, server):
            t = client.transport
            server.transport.pause_reading()
            fill(t)
            t.close()                           # data still buffered
            assert not t.is_reading()
            t.pause_reading()
            t.resume_reading()
            assert not t.is_reading()
            assert 'read=idle' in body(t)
            server.transport.resume_reading()
            assert await client.lost is None
    run(loop, main())


class PausingPeer(Peer):
    def connection_made(self, transport):
        super().connection_made(transport)
        transport.pause_reading()


@pytest.mark.skipif(PY311, reason='see the 3.11+ test')
@pytest.mark.asyncio_differs(
    "3.10's socket transport starts reading after connection_made() even "
    'if it paused reading (fixed in 3.11); ours waits, as 3.11+ does')
def test_pause_reading_in_connection_made_310(loop, family):
    test_pause_reading_in_connection_made(loop, family)


@pytest.mark.skipif(not PY311, reason='see the 3.10 test')
def test_pause_reading_in_connection_made(loop, family):
    async def main():
        a, b = socket_pair(family)
        with b:
            b.send(b'early')
            t, proto = await loop.connect_accepted_socket(PausingPeer, a)
            try:
                await asyncio.sleep(0.05)
                assert proto.events == ['made']
                assert not t.is_reading()
                t.resume_reading()
                await proto.received(5)
                assert proto.data == b'early'
            finally:
                t.close()
                await proto.lost
    run(loop, main())


# -- BufferedProtocol -------------------------------------------------------------------------

def test_buffered_protocol_receives_into_its_buffer(loop, family):
    payload = os.urandom(3 * MiB + 5)

    async def main():
        async with connected(family, server_factory=BufPeer) as (
                client, server):
            client.transport.write(payload)
            client.transport.write_eof()
            assert await server.lost is None
            assert server.events == ['made', 'data', 'eof', 'lost']
            assert server.size == len(payload)
            assert sha(server.received_data) == sha(payload)
            assert set(server.hints) == {-1}
    run(loop, main())


class SlicePeer(BufPeer):
    """Hands out a 10-byte window in the middle of its buffer."""

    bufsize = 30

    def __init__(self):
        super().__init__()
        self.buffer[:] = b'#' * 30

    def get_buffer(self, sizehint):
        self.hints.append(sizehint)
        return memoryview(self.buffer)[10:20]

    def buffer_updated(self, nbytes):
        self.received_data += self.buffer[10:10 + nbytes]
        self.size += nbytes
        self.outside_intact = self.buffer[:10] + self.buffer[20:] == b'#' * 20
        self.note_data()


def test_buffered_protocol_buffer_is_a_window(loop, family):
    async def main():
        async with connected(family, server_factory=SlicePeer) as (
                client, server):
            client.transport.write(b'0123456789abcdefghijXYZ')
            await server.received(23)
            assert bytes(server.received_data) == b'0123456789abcdefghijXYZ'
            assert server.outside_intact
            # At most 10 bytes a call.
            assert len(server.hints) >= 3
    run(loop, main())


class EmptyBuffer(BufPeer):
    def get_buffer(self, sizehint):
        return bytearray()


class RaisingGetBuffer(BufPeer):
    def get_buffer(self, sizehint):
        raise ZeroDivisionError('no buffer')


class RaisingBufferUpdated(BufPeer):
    def buffer_updated(self, nbytes):
        super().buffer_updated(nbytes)
        raise ValueError('bad update')


class ReadOnlyBuffer(BufPeer):
    def get_buffer(self, sizehint):
        return b'read-only'


@pytest.mark.parametrize('factory, message, exc_type, text', [
    (EmptyBuffer, 'Fatal error: protocol.get_buffer() call failed.',
     RuntimeError, 'get_buffer() returned an empty buffer'),
    (RaisingGetBuffer, 'Fatal error: protocol.get_buffer() call failed.',
     ZeroDivisionError, 'no buffer'),
    (RaisingBufferUpdated,
     'Fatal error: protocol.buffer_updated() call failed.',
     ValueError, 'bad update'),
], ids=['empty', 'get_buffer-raises', 'buffer_updated-raises'])
def test_buffered_protocol_failures(loop, family, factory, message, exc_type,
                                    text):
    async def main():
        errors = collect_errors(loop)
        async with connected(family, server_factory=factory) as (
                client, server):
            client.transport.write(b'data')
            exc = await server.lost
            assert type(exc) is exc_type and str(exc) == text
            assert [c['message'] for c in errors] == [message]
            assert errors[0]['exception'] is exc
            assert errors[0]['transport'] is server.transport
            assert errors[0]['protocol'] is server
            assert server.transport.is_closing()
            # (The client may see EOF or a reset: the server closed with
            # data it had not read.)
            await client.lost
    run(loop, main())


def test_buffered_protocol_read_only_buffer(loop, family):
    async def main():
        errors = collect_errors(loop)
        async with connected(family, server_factory=ReadOnlyBuffer) as (
                client, server):
            client.transport.write(b'data')
            exc = await server.lost
            assert type(exc) is TypeError
            assert str(exc) == ('recv_into() argument 1 must be read-write '
                                'bytes-like object, not bytes')
            assert [c['message'] for c in errors] == [
                'Fatal read error on socket transport']
            assert errors[0]['exception'] is exc
    run(loop, main())


def test_set_protocol_switches_between_protocol_kinds(loop, family):
    async def main():
        async with connected(family) as (client, first):
            t = first.transport
            client.transport.write(b'one')
            await first.received(3)
            second = BufPeer()
            t.set_protocol(second)
            assert t.get_protocol() is second
            client.transport.write(b'two')
            await second.received(3)
            third = Peer()
            t.set_protocol(third)
            assert t.get_protocol() is third
            client.transport.write(b'three')
            await third.received(5)
            client.transport.close()
            assert await third.lost is None
            assert first.data == b'one'
            assert bytes(second.received_data) == b'two'
            assert third.data == b'three'
            # connection_made is never repeated; EOF and loss go to the
            # protocol in place.
            assert first.events == ['made', 'data']
            assert second.events == ['data']
            assert third.events == ['data', 'eof', 'lost']
            assert t.get_protocol() is None     # dropped once lost
    run(loop, main())


# -- get_extra_info ---------------------------------------------------------------------

def test_get_extra_info(loop, family):
    async def main():
        a, b = socket_pair(family)
        with b:
            fd, name, peer = a.fileno(), a.getsockname(), a.getpeername()
            t, proto = await loop.connect_accepted_socket(Peer, a)
            sock = t.get_extra_info('socket')
            assert isinstance(sock, asyncio.trsock.TransportSocket)
            assert sock.fileno() == fd
            assert sock.family == (socket.AF_INET if family == 'tcp'
                                   else socket.AF_UNIX)
            assert sock.type == socket.SOCK_STREAM
            assert t.get_extra_info('sockname') == name
            assert t.get_extra_info('peername') == peer
            assert t.get_extra_info('peername') == b.getsockname()
            assert t.get_extra_info('no such key') is None
            assert t.get_extra_info('no such key', 'default') == 'default'
            if family == 'tcp':
                # Nagle is off on the transport's socket.
                assert sock.getsockopt(socket.IPPROTO_TCP,
                                       socket.TCP_NODELAY)
            t.close()
            await proto.lost
            assert t.get_extra_info('socket') is sock
            assert sock.fileno() == -1
            assert t.get_extra_info('peername') == peer
    run(loop, main())


def test_get_extra_info_of_create_connection(loop):
    async def main():
        async with connected('tcp') as (client, server):
            port = server.transport.get_extra_info('sockname')[1]
            assert client.transport.get_extra_info('peername') == (HOST, port)
            assert (server.transport.get_extra_info('peername') ==
                    client.transport.get_extra_info('sockname'))
    run(loop, main())



def test_get_extra_info_is_base_transports(loop):
    # asyncio's socket transports inherit it, and tests patch it there.
    async def main():
        async with connected('tcp') as (client, _server):
            with mock.patch.object(asyncio.BaseTransport, 'get_extra_info',
                                   return_value='patched'):
                assert client.transport.get_extra_info('peername') == 'patched'
    run(loop, main())


class CountingSocket(socket.socket):
    """A socket.socket subclass whose I/O methods count their calls and can
    be made to fail: asyncio's transports call the socket's methods, so a
    subclass's overrides are used (websockets' tests rely on it)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.calls = {'recv': 0, 'recv_into': 0, 'send': 0, 'sendmsg': 0}
        self.fail = None

    def _count(self, name):
        self.calls[name] += 1
        if self.fail is not None:
            raise self.fail

    def recv(self, *args):
        self._count('recv')
        return super().recv(*args)

    def recv_into(self, *args):
        self._count('recv_into')
        return super().recv_into(*args)

    def send(self, *args):
        self._count('send')
        return super().send(*args)

    def sendmsg(self, *args):
        self._count('sendmsg')
        return super().sendmsg(*args)


def counting_pair(family):
    """socket_pair(family) with the first socket a CountingSocket."""
    a, b = socket_pair(family)
    counted = CountingSocket(a.family, a.type, a.proto, fileno=a.detach())
    counted.setblocking(False)
    return counted, b


@pytest.mark.parametrize('factory', [Peer, BufPeer])
def test_a_socket_subclass_methods_do_the_io(loop, family, factory):
    payload = os.urandom(8 * MiB)

    async def main():
        a, b = counting_pair(family)
        with b:
            t, proto = await loop.connect_accepted_socket(factory, a)
            b.sendall(b'x' * 100)
            await proto.received(100)
            read = 'recv' if factory is Peer else 'recv_into'
            assert a.calls[read] >= 1
            # More than the kernel takes at once: the rest is queued and
            # sent from the readiness callback, by a method too (sendmsg
            # on 3.12+, send before).
            t.write(payload)
            assert t.get_write_buffer_size() > 0
            assert a.calls['send'] == 1
            flush = 'sendmsg' if PY312 else 'send'
            sends = a.calls[flush]
            received = bytearray()
            while len(received) < len(payload):
                received += await loop.sock_recv(b, 256 * 1024)
            assert sha(received) == sha(payload)
            assert a.calls[flush] > sends
            t.close()
            await proto.lost
    run(loop, main())


@pytest.mark.parametrize('factory', [Peer, BufPeer])
def test_a_socket_subclass_method_error_is_fatal(loop, family, factory):
    async def main():
        a, b = counting_pair(family)
        with b:
            t, proto = await loop.connect_accepted_socket(factory, a)
            await proto.made
            error = ConnectionResetError('from the subclass')
            a.fail = error
            b.sendall(b'x')
            assert await proto.lost is error
            assert t.is_closing()
    run(loop, main())


# -- errors in protocol callbacks ------------------------------------------------------------

class RaisingData(Peer):
    def data_received(self, data):
        super().data_received(data)
        raise ZeroDivisionError('in data_received')


class RaisingEof(Peer):
    def eof_received(self):
        super().eof_received()
        raise ValueError('in eof_received')


def test_data_received_that_raises_closes_the_transport(loop, family):
    async def main():
        errors = collect_errors(loop)
        async with connected(family, server_factory=RaisingData) as (
                client, server):
            client.transport.write(b'boom')
            exc = await server.lost
            assert isinstance(exc, ZeroDivisionError)
            assert [c['message'] for c in errors] == [
                'Fatal error: protocol.data_received() call failed.']
            context = errors[0]
            assert sorted(context) == ['exception', 'message', 'protocol',
                                       'transport']
            assert context['exception'] is exc
            assert context['transport'] is server.transport
            assert context['protocol'] is server
            assert server.events == ['made', 'data', 'lost']
            assert server.transport.is_closing()
            assert await client.lost is None
            assert client.events == ['made', 'eof', 'lost']
    run(loop, main())


def test_eof_received_that_raises_closes_the_transport(loop, family):
    async def main():
        errors = collect_errors(loop)
        async with connected(family, server_factory=RaisingEof) as (
                client, server):
            client.transport.write_eof()
            exc = await server.lost
            assert isinstance(exc, ValueError)
            assert [c['message'] for c in errors] == [
                'Fatal error: protocol.eof_received() call failed.']
            assert errors[0]['exception'] is exc
            assert server.events == ['made', 'eof', 'lost']
    run(loop, main())


def test_callback_error_in_the_default_handler_log(loop, family, caplog):
    caplog.set_level(logging.ERROR, logger='asyncio')

    async def main():
        async with connected(family, server_factory=RaisingData) as (
                client, server):
            client.transport.write(b'boom')
            await server.lost
    run(loop, main())
    records = [r for r in caplog.records if r.name == 'asyncio']
    assert len(records) == 1
    lines = records[0].getMessage().splitlines()
    assert lines[0] == 'Fatal error: protocol.data_received() call failed.'
    assert [line.split(':')[0] for line in lines[1:]] == [
        'protocol', 'transport']
    assert records[0].exc_info[0] is ZeroDivisionError


# -- loop.sendfile ----------------------------------------------------------------------------

@pytest.fixture
def data_file(tmp_path):
    """A 3 MiB + 123 byte file of random data: (open file, its bytes)."""
    content = os.urandom(3 * MiB + 123)
    path = tmp_path / 'payload'
    path.write_bytes(content)
    with open(path, 'rb') as f:
        yield f, content


def test_sendfile(loop, family, data_file):
    f, content = data_file

    async def main():
        async with connected(family) as (client, server):
            t = client.transport
            n = await loop.sendfile(t, f, offset=1000, count=2 * MiB)
            assert n == 2 * MiB
            assert f.tell() == 1000 + 2 * MiB
            t.write(b'|')
            n = await loop.sendfile(t, f)               # offset 0, to the end
            assert n == len(content)
            assert f.tell() == len(content)
            n = await loop.sendfile(t, f, offset=len(content) - 10)
            assert n == 10
            # Reading was paused during each sendfile and resumed after.
            assert t.is_reading()
            assert t.get_protocol() is client
            server.transport.write(b'reply')
            await client.received(5)
            t.write_eof()
            await server.eof
            expected = (content[1000:1000 + 2 * MiB] + b'|' + content +
                        content[-10:])
            assert server.size == len(expected)
            assert sha(server.data) == sha(expected)
    run(loop, main())


def test_sendfile_fallback_on_a_file_without_fileno(loop, family):
    # io.BytesIO has no file descriptor: zero-copy is impossible, native
    # sendfile raises SendfileNotAvailableError and fallback=True writes
    # through the transport.  160 KiB: the kernel takes it all even if the
    # reader were slow, so nothing stays buffered (see the next test).
    content = os.urandom(160 * 1024 + 5)

    async def main():
        async with connected(family) as (client, server):
            t = client.transport
            f = io.BytesIO(content)
            with pytest.raises(asyncio.SendfileNotAvailableError):
                await loop.sendfile(t, f, fallback=False)
            assert f.tell() == 0
            assert t.is_reading()
            n = await loop.sendfile(t, f, offset=10, count=len(content) - 20)
            assert n == len(content) - 20
            assert f.tell() == len(content) - 10
            assert t.get_protocol() is client
            assert t.is_reading()
            n = await loop.sendfile(t, f, offset=len(content) - 10)
            assert n == 10
            t.write_eof()
            await server.eof
            assert sha(server.data) == sha(content[10:-10] + content[-10:])
    run(loop, main())


@(pytest.mark.asyncio_differs(
    "asyncio 3.12+ keeps the fallback's memoryview of its reused block in "
    'the write buffer when the kernel does not take it at once, so the '
    'next block overwrites it (corrupt data)')
  if PY312 else lambda f: f)
def test_sendfile_fallback_with_back_pressure(loop, family):
    # The reader waits until the transport is above its high-water mark,
    # so the fallback has to wait for the buffer to drain (the kernel can
    # take a few MiB with nobody reading: send more).
    content = os.urandom(16 * MiB + 123)

    async def main():
        async with connected(family) as (client, server):
            t = client.transport
            server.transport.pause_reading()
            task = asyncio.ensure_future(loop.sendfile(t, io.BytesIO(content)))
            await until(lambda: t.get_write_buffer_size() > 64 * 1024 or
                        task.done())
            if task.done():
                await task              # the failure is its error, if any
                pytest.fail('sendfile finished with the reader paused')
            server.transport.resume_reading()
            assert await task == len(content)
            assert t.get_protocol() is client
            t.write_eof()
            await server.eof
            assert server.size == len(content)
            assert sha(server.data) == sha(content)
    run(loop, main())


def test_write_during_sendfile_is_refused(loop, family, tmp_path):
    content = os.urandom(16 * MiB)
    path = tmp_path / 'payload'
    path.write_bytes(content)

    async def main():
        async with connected(family) as (client, server):
            t = client.transport
            # The kernel cannot take 16 MiB with nobody reading.
            server.transport.pause_reading()
            task = asyncio.ensure_future(loop.sendfile(t, f))
            await passes()
            assert not task.done()
            assert not t.is_reading()
            with pytest.raises(RuntimeError) as info:
                t.write(b'x')
            assert str(info.value) == 'unable to write; sendfile is in progress'
            with pytest.raises(RuntimeError) as info:
                t.writelines([b'x', b'y'])
            lines_message = str(info.value)     # checked once all is done
            server.transport.resume_reading()
            assert await task == len(content)
            assert t.is_reading()
            t.write(b'after')
            t.write_eof()
            await server.eof
            assert sha(server.data) == sha(content + b'after')
            assert lines_message == (
                'unable to writelines; sendfile is in progress' if PY312
                else 'unable to write; sendfile is in progress')
    with open(path, 'rb') as f:
        run(loop, main())


def test_abort_while_sendfile_waits_for_the_buffer(loop, family, data_file):
    f, _ = data_file

    async def main():
        async with connected(family) as (client, server):
            t = client.transport
            server.transport.pause_reading()
            fill(t)
            task = asyncio.ensure_future(loop.sendfile(t, f))
            await passes()
            assert not task.done()
            t.abort()
            with pytest.raises(ConnectionError) as info:
                await asyncio.wait_for(task, 3)
            assert str(info.value) == 'Connection is closed by peer'
    run(loop, main())


def test_sendfile_on_a_closing_transport(loop, family, data_file):
    f, _ = data_file

    async def main():
        async with connected(family) as (client, _):
            client.transport.close()
            with pytest.raises(RuntimeError, match='^Transport is closing$'):
                await loop.sendfile(client.transport, f)
    run(loop, main())


# -- asyncio streams ----------------------------------------------------------------------------

@pytest.fixture
def unix_path():
    """A socket path short enough for sun_path, removed after the test."""
    directory = tempfile.mkdtemp(prefix='st-')
    yield os.path.join(directory, 'sock')
    shutil.rmtree(directory, ignore_errors=True)


@contextlib.asynccontextmanager
async def stream_server(family, handler, unix_path, **kwargs):
    """A streams server; yields the open_connection coroutine function."""
    if family == 'tcp':
        server = await asyncio.start_server(handler, HOST, 0, **kwargs)
        port = server.sockets[0].getsockname()[1]

        def connect(**kw):
            return asyncio.open_connection(HOST, port, **kw)
    else:
        server = await asyncio.start_unix_server(handler, unix_path, **kwargs)

        def connect(**kw):
            return asyncio.open_unix_connection(unix_path, **kw)
    try:
        yield connect
    finally:
        server.close()
        await server.wait_closed()


def test_streams_conversation(loop, family, unix_path):
    payload = os.urandom(4 * MiB)

    async def main():
        done = loop.create_future()

        async def handler(reader, writer):
            try:
                line = await reader.readline()
                writer.write(line.upper())
                writer.write((await reader.readexactly(5))[::-1])
                upto = await reader.readuntil(b'END')
                writer.write(b'%d\n' % len(upto))
                size = int(await reader.readline())
                digest = hashlib.sha256()
                while size:
                    chunk = await reader.read(min(size, 65536))
                    assert chunk
                    digest.update(chunk)
                    size -= len(chunk)
                writer.write(digest.hexdigest().encode() + b'\n')
                await writer.drain()
                rest = await reader.read()
                assert reader.at_eof()
                writer.write(b'bye:' + rest)
                writer.close()
                await writer.wait_closed()
                done.set_result(writer.get_extra_info('sockname'))
            except BaseException as exc:
                done.set_exception(exc)
                raise

        async with stream_server(family, handler, unix_path) as connect:
            reader, writer = await connect()
            writer.write(b'hello\n')
            assert await reader.readline() == b'HELLO\n'
            writer.write(b'abcde')
            assert await reader.readexactly(5) == b'edcba'
            writer.write(b'xyzEND')
            assert await reader.readline() == b'6\n'
            writer.write(b'%d\n' % len(payload))
            for i in range(0, len(payload), 256 * 1024):
                writer.write(payload[i:i + 256 * 1024])
                await writer.drain()
            assert await reader.readline() == sha(payload).encode() + b'\n'
            assert writer.can_write_eof()
            writer.write(b'tail')
            writer.write_eof()
            assert not reader.at_eof()
            assert await reader.read() == b'bye:tail'
            assert reader.at_eof()
            sockname = await done
            if family == 'tcp':
                assert writer.get_extra_info('peername') == sockname
            else:
                assert writer.get_extra_info('peername') == unix_path
            writer.close()
            await writer.wait_closed()
            assert writer.is_closing()
    run(loop, main())


def test_streams_incomplete_reads_at_eof(loop, family, unix_path):
    async def main():
        async def handler(reader, writer):
            writer.write(b'partial line')
            writer.close()
            await writer.wait_closed()

        async with stream_server(family, handler, unix_path) as connect:
            reader, writer = await connect()
            with pytest.raises(asyncio.IncompleteReadError) as info:
                await reader.readexactly(100)
            assert info.value.partial == b'partial line'
            assert info.value.expected == 100
            assert await reader.readline() == b''
            with pytest.raises(asyncio.IncompleteReadError) as info:
                await reader.readuntil(b'\n')
            assert info.value.partial == b''
            assert reader.at_eof()
            writer.close()
            await writer.wait_closed()
    run(loop, main())


def test_streams_readuntil_limit(loop, family, unix_path):
    async def main():
        async def handler(reader, writer):
            writer.write(b'x' * 100 + b'\n' + b'short\n')
            await writer.drain()
            writer.close()
            await writer.wait_closed()

        async with stream_server(family, handler, unix_path) as connect:
            reader, writer = await connect(limit=50)
            with pytest.raises(asyncio.LimitOverrunError):
                await reader.readuntil(b'\n')
            with pytest.raises(ValueError):
                await reader.readline()
            assert await reader.readline() == b'short\n'
            writer.close()
            await writer.wait_closed()
    run(loop, main())


def test_streams_drain_applies_back_pressure(loop, family, unix_path):
    payload = os.urandom(16 * MiB)
    chunk = 64 * 1024

    async def main():
        start_reading = asyncio.Event()
        done = loop.create_future()

        async def handler(reader, writer):
            await start_reading.wait()
            digest = hashlib.sha256()
            total = 0
            while True:
                data = await reader.read(chunk)
                if not data:
                    break
                digest.update(data)
                total += len(data)
                await asyncio.sleep(0)
            done.set_result((total, digest.hexdigest()))
            writer.close()
            await writer.wait_closed()

        async with stream_server(family, handler, unix_path) as connect:
            _, writer = await connect()
            high = writer.transport.get_write_buffer_limits()[1]
            blocked = 0
            for i in range(0, len(payload), chunk):
                writer.write(payload[i:i + chunk])
                if writer.transport.get_write_buffer_size() > high:
                    # Above the mark: the protocol is paused and drain()
                    # must wait for the reader.
                    blocked += 1
                    start_reading.set()
                await writer.drain()
                assert writer.transport.get_write_buffer_size() <= high
            assert blocked > 0
            writer.write_eof()
            assert await done == (len(payload), sha(payload))
            writer.close()
            await writer.wait_closed()
    run(loop, main(), timeout=60)


# -- many connections -----------------------------------------------------------------------

@contextlib.contextmanager
def open_files_limit(needed):
    """RLIMIT_NOFILE's soft limit raised to `needed` if lower, restored."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < needed:
        if hard != resource.RLIM_INFINITY and hard < needed:
            pytest.skip(f'RLIMIT_NOFILE hard limit {hard} < {needed}')
        resource.setrlimit(resource.RLIMIT_NOFILE, (needed, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def test_2000_concurrent_connections(loop):
    n = 2000
    served = []

    async def handler(reader, writer):
        line = await reader.readline()
        served.append(line)
        writer.write(b'echo:' + line)
        await writer.drain()
        writer.close()
        await writer.wait_closed()

    async def client(port, i, all_connected):
        reader, writer = await asyncio.open_connection(HOST, port)
        try:
            connected_count[0] += 1
            if connected_count[0] == n:
                all_connected.set()
            # Every connection is open before any message goes out.
            await all_connected.wait()
            writer.write(b'%d\n' % i)
            reply = await reader.readline()
            rest = await reader.read()
        finally:
            writer.close()
            await writer.wait_closed()
        return reply, rest

    connected_count = [0]

    async def main():
        all_connected = asyncio.Event()
        server = await asyncio.start_server(handler, HOST, 0, backlog=n)
        port = server.sockets[0].getsockname()[1]
        try:
            results = await asyncio.gather(
                *[client(port, i, all_connected) for i in range(n)])
        finally:
            server.close()
            await server.wait_closed()
        assert results == [(b'echo:%d\n' % i, b'') for i in range(n)]
        assert sorted(served) == sorted(b'%d\n' % i for i in range(n))

    # Two sockets a connection, the listener, the loop's own fds, and
    # pytest's: ask for room to spare.
    with open_files_limit(2 * n + 500):
        run(loop, main(), timeout=120)
