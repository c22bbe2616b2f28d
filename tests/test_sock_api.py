"""The loop's low-level socket API: sock_recv, sock_recv_into,
sock_recvfrom, sock_recvfrom_into, sock_sendall, sock_sendto, sock_connect,
sock_accept and sock_sendfile, each compared with asyncio's.

Every test runs on both loops (the `loop` fixture).  Our loop has its own
sock_* operations (src/core/sockops.pyx).  sock_sendfile is asyncio's own
code running on our add_writer/remove_writer, run_in_executor and
sock_sendall.  Our sock_recv reads 16 KiB or more straight into a new bytes
object and shrinks it, and smaller reads into a static buffer, so sizes on
both sides of 16384 are tried.

The peer that is not under test uses plain socket calls where that keeps
the test deterministic (a non-blocking send that is known to fit), and the
loop's sock_* otherwise.
"""
import asyncio
import contextlib
import errno
import hashlib
import io
import os
import random
import selectors
import socket
import struct
import tempfile

import pytest

from support import has_ipv6_loopback

# A guard against a hang only, never a timing assertion.
TIMEOUT = 60

# Our sock_recv's threshold for reading into a new bytes object
# (LARGE_READ in src/core/transports/stream.pyx).
LARGE_READ = 16 * 1024
KiB = 1024
MiB = 1024 * 1024

# asyncio has sock_recvfrom, sock_recvfrom_into and sock_sendto from 3.11.
# Our loop has them on 3.10 too, but there is nothing to compare them with.
needs_dgram_api = pytest.mark.skipif(
    not hasattr(asyncio.AbstractEventLoop, 'sock_recvfrom'),
    reason="asyncio of this Python has no sock_recvfrom, sock_recvfrom_into "
           "or sock_sendto (3.11+): no reference behaviour")


needs_ipv6 = pytest.mark.skipif(not has_ipv6_loopback(),
                                reason='this machine has no IPv6 loopback')


# -- helpers ------------------------------------------------------------------

def run(loop, coro):
    """loop.run_until_complete(coro), failing instead of hanging."""
    return loop.run_until_complete(asyncio.wait_for(coro, TIMEOUT))


async def settle():
    """Let tasks just created run until they wait for their sockets."""
    for _ in range(5):
        await asyncio.sleep(0)


def interest(loop):
    """(readers, writers): how many fds the loop watches for each.

    Compared before and after an operation: a finished or cancelled
    sock_* call must leave no registration behind (the socket may be
    closed or reused next)."""
    if isinstance(loop, asyncio.selector_events.BaseSelectorEventLoop):
        keys = list(loop._selector.get_map().values())
        return (sum(bool(k.events & selectors.EVENT_READ) for k in keys),
                sum(bool(k.events & selectors.EVENT_WRITE) for k in keys))
    stats = loop.stats()
    return stats['readers'], stats['writers']


def payload(size, seed=0):
    """`size` reproducible pseudo-random bytes."""
    return random.Random(seed).randbytes(size)


def sha256(data):
    return hashlib.sha256(data).hexdigest()


def nonblocking(*socks):
    for s in socks:
        s.setblocking(False)
    return socks


def send_now(sock, data):
    """Send `data` in one non-blocking send() that must take all of it (the
    peer's buffer has room): the data is all there before the loop runs."""
    assert sock.send(data) == len(data)


def reset(sock):
    """Close `sock` with SO_LINGER 0: the kernel sends an RST."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                    struct.pack('ii', 1, 0))
    sock.close()


async def recv_until_eof(loop, sock, nbytes=64 * KiB):
    chunks = []
    while True:
        chunk = await loop.sock_recv(sock, nbytes)
        if not chunk:
            return b''.join(chunks)
        chunks.append(chunk)


async def recv_exactly(loop, sock, size, nbytes=64 * KiB):
    chunks, got = [], 0
    while got < size:
        chunk = await loop.sock_recv(sock, min(nbytes, size - got))
        assert chunk, f'EOF after {got} of {size} bytes'
        chunks.append(chunk)
        got += len(chunk)
    return b''.join(chunks)


@pytest.fixture
def own():
    """own(sock) -> sock, closed after the test."""
    with contextlib.ExitStack() as stack:
        yield stack.enter_context


@pytest.fixture
def pair(own):
    """A connected AF_UNIX stream socketpair (a, b), non-blocking."""
    a, b = socket.socketpair()
    return nonblocking(own(a), own(b))


def tcp_pair(own, family=socket.AF_INET, host='127.0.0.1'):
    """A connected TCP pair (client, server side), non-blocking."""
    with socket.socket(family) as listener:
        listener.bind((host, 0))
        listener.listen(1)
        client = own(socket.socket(family))
        client.connect(listener.getsockname())
        server = own(listener.accept()[0])
    return nonblocking(client, server)


def tcp_listener(own, family=socket.AF_INET, host='127.0.0.1', backlog=10):
    listener = own(socket.socket(family))
    listener.bind((host, 0))
    listener.listen(backlog)
    listener.setblocking(False)
    return listener


def udp_socket(own, family=socket.AF_INET, host='127.0.0.1'):
    s = own(socket.socket(family, socket.SOCK_DGRAM))
    s.bind((host, 0))
    s.setblocking(False)
    return s


def full_unix_dgram(own, unix_dir):
    """(sender, receiver, receiver's path): AF_UNIX datagram sockets, the
    receiver's queue full, so the sender's next sendto() says EAGAIN.  The
    sender is connected: only then does epoll tell it when the receiver's
    queue has room."""
    path = os.path.join(unix_dir, 'receiver')
    receiver = own(socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM))
    receiver.bind(path)
    sender = own(socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM))
    sender.bind(os.path.join(unix_dir, 'sender'))
    sender.connect(path)
    nonblocking(sender, receiver)
    for _ in range(100000):
        try:
            sender.sendto(b'filler', path)
        except BlockingIOError:
            return sender, receiver, path
    pytest.fail("the receiver's queue never filled")


@pytest.fixture
def unix_dir():
    # Short: a Unix socket path is at most 107 bytes, which pytest's
    # tmp_path of a long test name can exceed.
    with tempfile.TemporaryDirectory(prefix='sockapi-') as d:
        yield d


# -- sock_recv ----------------------------------------------------------------

def recv_when(loop, a, b, data, nbytes, ready, op=None):
    """sock_recv(a, nbytes) (or `op()`), with `data` sent by b before the
    call (ready) or once the call waits for the socket."""
    op = op or (lambda: loop.sock_recv(a, nbytes))

    async def main():
        if ready:
            send_now(b, data)
            return await op()
        task = loop.create_task(op())
        await settle()
        assert not task.done(), 'no data yet: the call must wait'
        send_now(b, data)
        return await task

    return run(loop, main())


READY = pytest.mark.parametrize('ready', [True, False],
                                ids=['data-ready', 'data-later'])



class RecordingSocket(socket.socket):
    """A socket.socket subclass that records its recv() calls: asyncio's
    sock_recv() calls the method, so an override takes effect."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.recv_calls = []

    def recv(self, *args):
        self.recv_calls.append(args)
        return super().recv(*args)


@READY
def test_sock_recv_calls_a_socket_subclass_recv(loop, pair, ready):
    a, b = pair
    sub = RecordingSocket(a.family, a.type, a.proto, fileno=a.detach())
    try:
        sub.setblocking(False)
        assert recv_when(loop, sub, b, b'data', 100, ready) == b'data'
        assert (100,) in sub.recv_calls
    finally:
        sub.close()

@READY
@pytest.mark.parametrize('nbytes', [100, LARGE_READ - 1, LARGE_READ,
                                    64 * KiB, 1 * MiB])
def test_sock_recv_short_read_returns_what_is_there(loop, pair, nbytes,
                                                    ready):
    a, b = pair
    assert recv_when(loop, a, b, b'0123456789', nbytes, ready) == (
        b'0123456789')


@READY
@pytest.mark.parametrize('nbytes', [1, 100, LARGE_READ - 1, LARGE_READ,
                                    64 * KiB])
def test_sock_recv_exact_read(loop, pair, nbytes, ready):
    a, b = pair
    data = payload(nbytes)
    assert recv_when(loop, a, b, data, nbytes, ready) == data


@READY
@pytest.mark.parametrize('nbytes', [100, LARGE_READ - 1, LARGE_READ,
                                    64 * KiB])
def test_sock_recv_more_there_than_asked(loop, pair, nbytes, ready):
    # 100 KiB queued on a socketpair: each read takes exactly nbytes (the
    # last one the rest), in order.
    a, b = pair
    data = payload(100 * KiB)
    first = recv_when(loop, a, b, data, nbytes, ready)
    assert first == data[:nbytes]

    async def rest():
        chunks = [first]
        while sum(map(len, chunks)) < len(data):
            chunks.append(await loop.sock_recv(a, nbytes))
        return chunks

    chunks = run(loop, rest())
    assert [len(c) for c in chunks[:-1]] == [nbytes] * (len(chunks) - 1)
    assert b''.join(chunks) == data


@READY
@pytest.mark.parametrize('nbytes', [100, LARGE_READ - 1, LARGE_READ,
                                    64 * KiB])
def test_sock_recv_eof(loop, pair, nbytes, ready):
    a, b = pair

    async def main():
        if ready:
            b.shutdown(socket.SHUT_WR)
            return await loop.sock_recv(a, nbytes)
        task = loop.create_task(loop.sock_recv(a, nbytes))
        await settle()
        assert not task.done()
        b.shutdown(socket.SHUT_WR)
        return await task

    assert run(loop, main()) == b''


@pytest.mark.parametrize('nbytes', [100, LARGE_READ, 64 * KiB])
def test_sock_recv_data_then_eof_then_eof_again(loop, pair, nbytes):
    a, b = pair
    data = payload(3000)
    send_now(b, data)
    b.close()

    async def main():
        got = await recv_exactly(loop, a, len(data), nbytes)
        return got, await loop.sock_recv(a, nbytes), await loop.sock_recv(
            a, nbytes)

    assert run(loop, main()) == (data, b'', b'')


def test_sock_recv_zero_bytes_returns_at_once(loop, pair):
    a, _ = pair

    async def main():
        task = loop.create_task(loop.sock_recv(a, 0))
        await settle()
        done = task.done()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        return done and task.result()

    assert run(loop, main()) == b''


def test_sock_recv_zero_bytes_with_data_there(loop, pair):
    a, b = pair
    send_now(b, b'kept')
    assert run(loop, loop.sock_recv(a, 0)) == b''
    assert run(loop, loop.sock_recv(a, 100)) == b'kept'


@pytest.mark.parametrize('nbytes', [-1, 1.5, '10', None])
def test_sock_recv_bad_nbytes(loop, pair, nbytes):
    # asyncio's sock_recv passes nbytes to socket.recv(), so the exception
    # and message are socket's.
    a, b = pair
    send_now(b, b'data')
    with pytest.raises(Exception) as expected:
        a.recv(nbytes)
    with pytest.raises(type(expected.value)) as got:
        run(loop, loop.sock_recv(a, nbytes))
    assert str(got.value) == str(expected.value)
    assert run(loop, loop.sock_recv(a, 100)) == b'data'


# -- sock_recv_into -----------------------------------------------------------

@READY
@pytest.mark.parametrize('size', [100, LARGE_READ, 64 * KiB])
def test_sock_recv_into_bytearray(loop, pair, size, ready):
    a, b = pair
    buf = bytearray(size)
    n = recv_when(loop, a, b, b'0123456789', None, ready,
                  op=lambda: loop.sock_recv_into(a, buf))
    assert n == 10
    assert buf[:10] == b'0123456789' and not any(buf[10:])


@READY
def test_sock_recv_into_memoryview_slice(loop, pair, ready):
    # The slice bounds the read: 10 bytes land in buf[8:18], the rest of
    # the data stays in the socket.
    a, b = pair
    buf = bytearray(b'.' * 32)
    view = memoryview(buf)[8:18]
    n = recv_when(loop, a, b, b'0123456789ABCDEF', None, ready,
                  op=lambda: loop.sock_recv_into(a, view))
    assert n == 10
    assert buf == b'.' * 8 + b'0123456789' + b'.' * 14
    assert run(loop, loop.sock_recv(a, 100)) == b'ABCDEF'


@pytest.mark.parametrize('size', [1, 100, LARGE_READ - 1, LARGE_READ,
                                  64 * KiB])
def test_sock_recv_into_reads_at_most_the_buffer(loop, pair, size):
    a, b = pair
    data = payload(100 * KiB)
    send_now(b, data)
    buf = bytearray(size)
    assert run(loop, loop.sock_recv_into(a, buf)) == size
    assert buf == data[:size]
    rest = run(loop, recv_exactly(loop, a, len(data) - size))
    assert rest == data[size:]


def test_sock_recv_into_takes_no_nbytes_argument(loop, pair):
    # asyncio's sock_recv_into(sock, buf) has no nbytes parameter (the
    # buffer's size is the limit).  The message names the function the way
    # its implementation does (a Python method, a compiled function), so
    # only the class is compared.
    a, b = pair
    send_now(b, b'data')
    with pytest.raises(TypeError):
        run(loop, loop.sock_recv_into(a, bytearray(10), 2))
    assert run(loop, loop.sock_recv(a, 100)) == b'data'


@READY
def test_sock_recv_into_eof(loop, pair, ready):
    a, b = pair

    async def main():
        if ready:
            b.shutdown(socket.SHUT_WR)
            return await loop.sock_recv_into(a, bytearray(100))
        task = loop.create_task(loop.sock_recv_into(a, bytearray(100)))
        await settle()
        assert not task.done()
        b.shutdown(socket.SHUT_WR)
        return await task

    assert run(loop, main()) == 0


def test_sock_recv_into_empty_buffer(loop, pair):
    a, _ = pair
    assert run(loop, loop.sock_recv_into(a, bytearray())) == 0


def test_sock_recv_into_read_only_buffer(loop, pair):
    # socket.recv_into's TypeError, raised whether data is there or not.
    a, _ = pair
    with pytest.raises(TypeError) as expected:
        a.recv_into(b'read-only')
    with pytest.raises(TypeError) as got:
        run(loop, loop.sock_recv_into(a, b'read-only'))
    assert str(got.value) == str(expected.value)


# -- peer resets --------------------------------------------------------------

RESET = pytest.mark.parametrize('reset_first', [True, False],
                                ids=['reset-before', 'reset-while-waiting'])


@RESET
@pytest.mark.parametrize('nbytes', [100, LARGE_READ, 64 * KiB])
def test_sock_recv_peer_reset(loop, own, nbytes, reset_first):
    a, b = tcp_pair(own)

    async def main():
        if reset_first:
            reset(b)
            return await loop.sock_recv(a, nbytes)
        task = loop.create_task(loop.sock_recv(a, nbytes))
        await settle()
        assert not task.done()
        reset(b)
        return await task

    with pytest.raises(ConnectionResetError) as exc:
        run(loop, main())
    assert exc.value.errno == errno.ECONNRESET


@RESET
def test_sock_recv_into_peer_reset(loop, own, reset_first):
    a, b = tcp_pair(own)

    async def main():
        if reset_first:
            reset(b)
            return await loop.sock_recv_into(a, bytearray(64 * KiB))
        task = loop.create_task(loop.sock_recv_into(a, bytearray(64 * KiB)))
        await settle()
        assert not task.done()
        reset(b)
        return await task

    with pytest.raises(ConnectionResetError):
        run(loop, main())


def test_sock_sendall_to_closed_socketpair_peer(loop, pair):
    # An AF_UNIX peer gone: EPIPE at once.
    a, b = pair
    b.close()
    with pytest.raises(BrokenPipeError):
        run(loop, loop.sock_sendall(a, b'data'))


def test_sock_sendall_to_closed_tcp_peer_eventually_fails(loop, own):
    # The first sends to a closed TCP peer may succeed (the kernel learns
    # of the close from the RST they provoke); then send() fails with
    # ECONNRESET or EPIPE.
    a, b = tcp_pair(own)
    b.close()

    async def main():
        for _ in range(1000):
            await loop.sock_sendall(a, b'x' * 1024)
            await asyncio.sleep(0)
        pytest.fail('1000 sends to a closed peer succeeded')

    with pytest.raises((BrokenPipeError, ConnectionResetError)):
        run(loop, main())


def test_sock_sendall_waiting_when_peer_resets(loop, own):
    a, b = tcp_pair(own)
    before = interest(loop)

    async def main():
        task = loop.create_task(loop.sock_sendall(a, payload(8 * MiB)))
        await settle()
        assert not task.done(), 'the payload should not fit in the buffers'
        await recv_exactly(loop, b, 100 * KiB)
        reset(b)
        try:
            await task
        finally:
            assert interest(loop) == before

    with pytest.raises((BrokenPipeError, ConnectionResetError)):
        run(loop, main())


# -- sock_sendall -------------------------------------------------------------

async def read_slowly(loop, sock, size):
    """Read `size` bytes in small reads of both sizes, pausing now and then:
    the sender meets full buffers, partial writes and EAGAIN."""
    digest, got, reads = hashlib.sha256(), 0, 0
    while got < size:
        chunk = await loop.sock_recv(sock, 4 * KiB if reads % 2 else 20000)
        assert chunk, f'EOF after {got} of {size} bytes'
        digest.update(chunk)
        got += len(chunk)
        reads += 1
        if reads % 64 == 0:
            await asyncio.sleep(0.001)
    return got, digest.hexdigest()


@pytest.mark.parametrize('kind', ['socketpair', 'tcp'])
@pytest.mark.parametrize('wrap', [bytes, bytearray, memoryview])
def test_sock_sendall_8mib_to_a_slow_reader(loop, own, kind, wrap):
    if kind == 'socketpair':
        a, b = nonblocking(*map(own, socket.socketpair()))
    else:
        a, b = tcp_pair(own)
    data = payload(8 * MiB)
    before = interest(loop)

    async def main():
        sender = loop.create_task(loop.sock_sendall(a, wrap(data)))
        await settle()
        # 8 MiB do not fit in the socket buffers: the call waits.
        assert not sender.done()
        assert interest(loop) == (before[0], before[1] + 1)
        received = await read_slowly(loop, b, len(data))
        assert await sender is None
        return received

    assert run(loop, main()) == (len(data), sha256(data))
    assert interest(loop) == before
    with pytest.raises(BlockingIOError):
        b.recv(1)       # and nothing more was sent


class SendRecordingSocket(socket.socket):
    """A socket.socket subclass that records the sizes its send() is given:
    asyncio's sock_sendall() calls the method, so an override takes
    effect."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.send_sizes = []

    def send(self, data, *args):
        self.send_sizes.append(len(data))
        return super().send(data, *args)


@pytest.mark.parametrize('size', [100, 8 * MiB], ids=['fits', 'waits'])
def test_sock_sendall_calls_a_socket_subclass_send(loop, pair, size):
    a, b = pair
    sub = SendRecordingSocket(a.family, a.type, a.proto, fileno=a.detach())
    data = payload(size)
    try:
        sub.setblocking(False)

        async def main():
            sender = loop.create_task(loop.sock_sendall(sub, data))
            received = await read_slowly(loop, b, size)
            assert await sender is None
            return received

        assert run(loop, main()) == (size, sha256(data))
        assert sub.send_sizes[0] == size
        if size == 100:
            assert sub.send_sizes == [100]
        else:
            # 8 MiB do not fit the socket buffer: more calls, each given
            # what the earlier ones left.
            assert len(sub.send_sizes) > 1
            assert sub.send_sizes == sorted(sub.send_sizes, reverse=True)
            assert len(set(sub.send_sizes)) == len(sub.send_sizes)
    finally:
        sub.close()


def test_sock_sendall_empty(loop, pair):
    a, b = pair
    assert run(loop, loop.sock_sendall(a, b'')) is None
    with pytest.raises(BlockingIOError):
        b.recv(1)


def test_sock_sendall_cancelled_midway(loop, pair):
    # What was sent before the cancellation stays sent (a prefix of the
    # data, nothing repeated); the socket stays usable.
    a, b = pair
    data = payload(8 * MiB)
    before = interest(loop)

    async def main():
        task = loop.create_task(loop.sock_sendall(a, data))
        await settle()
        assert not task.done()
        head = await recv_exactly(loop, b, 1 * MiB)
        await settle()      # the sender refills the buffers
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert interest(loop) == before
        await loop.sock_sendall(a, b'<end>')
        a.shutdown(socket.SHUT_WR)
        return head + await recv_until_eof(loop, b)

    received = run(loop, main())
    assert received.endswith(b'<end>')
    sent = received[:-len(b'<end>')]
    assert 1 * MiB <= len(sent) < len(data)
    assert sent == data[:len(sent)]


# -- sock_connect and sock_accept ---------------------------------------------

async def exchange(loop, client, server):
    """One message each way over a connected pair."""
    await loop.sock_sendall(client, b'ping')
    assert await recv_exactly(loop, server, 4) == b'ping'
    await loop.sock_sendall(server, b'pong')
    assert await recv_exactly(loop, client, 4) == b'pong'


@pytest.mark.parametrize('family, host', [
    (socket.AF_INET, '127.0.0.1'),
    pytest.param(socket.AF_INET6, '::1', marks=needs_ipv6),
], ids=['ipv4', 'ipv6'])
def test_sock_connect_numeric(loop, own, family, host):
    listener = tcp_listener(own, family, host)
    client, = nonblocking(own(socket.socket(family)))

    async def main():
        assert await loop.sock_connect(
            client, listener.getsockname()[:2]) is None
        conn, address = await loop.sock_accept(listener)
        own(conn)
        assert client.getpeername() == listener.getsockname()
        assert address == client.getsockname()
        await exchange(loop, client, conn)

    run(loop, main())


def test_sock_connect_unix_path(loop, own, unix_dir):
    path = os.path.join(unix_dir, 'sock')
    listener = own(socket.socket(socket.AF_UNIX))
    listener.bind(path)
    listener.listen(1)
    listener.setblocking(False)
    client, = nonblocking(own(socket.socket(socket.AF_UNIX)))

    async def main():
        assert await loop.sock_connect(client, path) is None
        conn, address = await loop.sock_accept(listener)
        own(conn)
        assert client.getpeername() == path
        assert address == ''        # the client has no name
        await exchange(loop, client, conn)

    run(loop, main())


def test_sock_connect_resolves_a_host_name(loop, own):
    # A name that is not a numeric address is resolved first (getaddrinfo
    # in the executor), for the socket's family.
    infos = socket.getaddrinfo('localhost', None, socket.AF_INET)
    if ('127.0.0.1', 0) not in [info[4] for info in infos]:
        pytest.skip("'localhost' does not resolve to 127.0.0.1 here")
    listener = tcp_listener(own)
    port = listener.getsockname()[1]
    client, = nonblocking(own(socket.socket()))

    async def main():
        await loop.sock_connect(client, ('localhost', port))
        conn, _ = await loop.sock_accept(listener)
        own(conn)
        await exchange(loop, client, conn)

    run(loop, main())
    assert client.getpeername() == ('127.0.0.1', port)


def test_sock_connect_refused(loop, own):
    # A port bound but not listening answers with an RST.  The connect is
    # in progress first, so the error comes from SO_ERROR, with asyncio's
    # message.
    closed = own(socket.socket())
    closed.bind(('127.0.0.1', 0))
    address = closed.getsockname()
    client, = nonblocking(own(socket.socket()))
    before = interest(loop)
    with pytest.raises(ConnectionRefusedError) as exc:
        run(loop, loop.sock_connect(client, address))
    assert exc.value.errno == errno.ECONNREFUSED
    assert str(exc.value) == (
        f'[Errno {errno.ECONNREFUSED}] Connect call failed {address}')
    assert interest(loop) == before


def test_sock_connect_unix_errors(loop, own, unix_dir):
    # Unix connects fail in connect() itself: socket's exceptions.
    path = os.path.join(unix_dir, 'sock')
    client, = nonblocking(own(socket.socket(socket.AF_UNIX)))
    with pytest.raises(FileNotFoundError):
        run(loop, loop.sock_connect(client, path))
    bound = own(socket.socket(socket.AF_UNIX))
    bound.bind(path)            # bound, not listening
    with pytest.raises(ConnectionRefusedError) as exc:
        run(loop, loop.sock_connect(client, path))
    assert str(exc.value) == (
        f'[Errno {errno.ECONNREFUSED}] {os.strerror(errno.ECONNREFUSED)}')


def pending_connect_setup(own):
    """A listener whose accept queue is full, and a socket to connect to it:
    Linux drops the SYN, so the connect stays in progress (the kernel sends
    the SYN again after a second)."""
    listener = tcp_listener(own, backlog=0)
    filler = own(socket.socket())
    filler.connect(listener.getsockname())      # fills a backlog of 0
    client, = nonblocking(own(socket.socket()))
    return listener, client


async def connect_then_cancel(loop, client, address, before):
    task = loop.create_task(loop.sock_connect(client, address))
    await settle()
    assert not task.done(), 'the accept queue was not full'
    assert interest(loop) == (before[0], before[1] + 1)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert interest(loop) == before


def test_sock_connect_cancelled_then_connect_again(loop, own):
    # The cancelled call left the socket unwatched; the connection itself
    # is still in progress in the kernel, and a second sock_connect on the
    # same socket waits for it (connect() says EALREADY).
    listener, client = pending_connect_setup(own)
    address = listener.getsockname()
    before = interest(loop)

    async def main():
        await connect_then_cancel(loop, client, address, before)
        filler_conn, _ = await loop.sock_accept(listener)   # makes room
        own(filler_conn)
        await loop.sock_connect(client, address)
        conn, peer = await loop.sock_accept(listener)
        own(conn)
        assert peer == client.getsockname()
        await exchange(loop, client, conn)

    run(loop, main())
    assert interest(loop) == before


def test_sock_connect_cancelled_then_socket_closed(loop, own):
    # Closing the socket after the cancellation is clean: nothing reaches
    # the exception handler, and a new socket given the same fd number
    # works.
    errors = []
    loop.set_exception_handler(lambda loop, context: errors.append(context))
    listener, client = pending_connect_setup(own)
    before = interest(loop)

    async def main():
        await connect_then_cancel(loop, client, listener.getsockname(),
                                  before)
        client.close()
        await asyncio.sleep(0.01)
        a, b = nonblocking(*map(own, socket.socketpair()))
        task = loop.create_task(loop.sock_recv(a, 100))
        await settle()
        await loop.sock_sendall(b, b'after')
        assert await task == b'after'

    run(loop, main())
    assert errors == []
    assert interest(loop) == before


@pytest.mark.parametrize('ready', [True, False],
                         ids=['client-first', 'accept-first'])
def test_sock_accept(loop, own, ready):
    listener = tcp_listener(own)
    client = own(socket.socket())

    async def main():
        if ready:
            client.connect(listener.getsockname())
            return await loop.sock_accept(listener)
        task = loop.create_task(loop.sock_accept(listener))
        await settle()
        assert not task.done()
        client.connect(listener.getsockname())
        return await task

    conn, address = run(loop, main())
    own(conn)
    assert isinstance(conn, socket.socket)
    assert address == client.getsockname()
    assert conn.getpeername() == client.getsockname()
    # asyncio makes the new socket non-blocking.
    assert conn.gettimeout() == 0.0
    assert not os.get_blocking(conn.fileno())
    client.setblocking(False)
    run(loop, exchange(loop, client, conn))


def test_sock_accept_many(loop, own):
    listener = tcp_listener(own, backlog=100)
    clients = [own(socket.socket()) for _ in range(20)]
    for c in clients:
        c.connect(listener.getsockname())

    async def main():
        return [await loop.sock_accept(listener) for _ in clients]

    accepted = run(loop, main())
    for conn, _ in accepted:
        own(conn)
    assert sorted(address for _, address in accepted) == sorted(
        c.getsockname() for c in clients)


# -- cancellation and concurrency ---------------------------------------------

def test_two_sock_recv_at_once(loop, pair):
    # asyncio's behaviour: the second call takes the socket's reader over
    # (the first one's is cancelled); the first call is left waiting for
    # good, even when more data comes, until it is cancelled.
    a, b = pair
    before = interest(loop)

    async def main():
        first = loop.create_task(loop.sock_recv(a, 100))
        await settle()
        second = loop.create_task(loop.sock_recv(a, 100))
        await settle()
        send_now(b, b'one')
        assert await second == b'one'
        send_now(b, b'two')
        await settle()
        assert not first.done()
        first.cancel()
        with pytest.raises(asyncio.CancelledError):
            await first
        assert interest(loop) == before
        return await loop.sock_recv(a, 100)

    assert run(loop, main()) == b'two'


@pytest.mark.parametrize('nbytes', [100, LARGE_READ, 64 * KiB])
def test_cancelled_sock_recv_loses_nothing(loop, pair, nbytes):
    a, b = pair
    data = payload(3000)
    before = interest(loop)

    async def main():
        task = loop.create_task(loop.sock_recv(a, nbytes))
        await settle()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert interest(loop) == before
        send_now(b, data)
        await settle()
        return await recv_exactly(loop, a, len(data), nbytes)

    assert run(loop, main()) == data


@pytest.mark.parametrize('nbytes', [100, LARGE_READ, 64 * KiB])
def test_sock_recv_cancelled_as_data_arrives(loop, pair, nbytes):
    # The data is there, but the loop has not polled yet when the call is
    # cancelled: the cancelled call must not consume it.
    a, b = pair
    data = payload(3000)

    async def main():
        task = loop.create_task(loop.sock_recv(a, nbytes))
        await settle()
        send_now(b, data)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await settle()
        return await recv_exactly(loop, a, len(data), nbytes)

    assert run(loop, main()) == data


def _cancellable_ops():
    """setup(loop, own, unix_dir) -> a coroutine function whose call waits
    for its socket."""
    def recv(loop, own, _):
        a, _b = nonblocking(*map(own, socket.socketpair()))
        return lambda: loop.sock_recv(a, 64 * KiB)

    def recv_into(loop, own, _):
        a, _b = nonblocking(*map(own, socket.socketpair()))
        return lambda: loop.sock_recv_into(a, bytearray(100))

    def sendall(loop, own, _):
        a, _b = nonblocking(*map(own, socket.socketpair()))
        return lambda: loop.sock_sendall(a, payload(8 * MiB))

    def accept(loop, own, _):
        listener = tcp_listener(own)
        return lambda: loop.sock_accept(listener)

    def recvfrom(loop, own, _):
        a = udp_socket(own)
        return lambda: loop.sock_recvfrom(a, 100)

    def recvfrom_into(loop, own, _):
        a = udp_socket(own)
        return lambda: loop.sock_recvfrom_into(a, bytearray(100))

    def sendto(loop, own, unix_dir):
        sender, _receiver, path = full_unix_dgram(own, unix_dir)
        return lambda: loop.sock_sendto(sender, b'x', path)

    yield pytest.param(recv, id='recv')
    yield pytest.param(recv_into, id='recv_into')
    yield pytest.param(sendall, id='sendall')
    yield pytest.param(accept, id='accept')
    for setup in (recvfrom, recvfrom_into, sendto):
        yield pytest.param(setup, marks=needs_dgram_api, id=setup.__name__)


@pytest.mark.parametrize('setup', list(_cancellable_ops()))
def test_cancelled_sock_op_leaves_no_registration(loop, own, unix_dir, setup):
    call = setup(loop, own, unix_dir)
    before = interest(loop)

    async def main():
        task = loop.create_task(call())
        await settle()
        assert not task.done()
        assert interest(loop) != before
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert interest(loop) == before

    run(loop, main())


# -- sockets in blocking mode -------------------------------------------------

NOT_NON_BLOCKING = 'the socket must be non-blocking'


def _blocking_ops():
    """make(loop, own, make_blocking) -> a sock_* call, on a socket
    of the right kind put in blocking mode by make_blocking(sock).  Each
    call would complete at once (data there, a connection waiting), so a
    loop that did not check would return rather than block the test."""
    def stream(own, make_blocking):
        a, b = map(own, socket.socketpair())
        b.sendall(b'data')
        make_blocking(a)
        return a

    def udp(own, make_blocking):
        s = udp_socket(own)
        s.sendto(b'data', s.getsockname())
        make_blocking(s)
        return s

    def connect(loop, own, make_blocking):
        listener = tcp_listener(own)
        s = own(socket.socket())
        make_blocking(s)
        return loop.sock_connect(s, listener.getsockname())

    def accept(loop, own, make_blocking):
        listener = tcp_listener(own)
        own(socket.socket()).connect(listener.getsockname())
        make_blocking(listener)
        return loop.sock_accept(listener)

    def sendfile(loop, own, make_blocking):
        return loop.sock_sendfile(stream(own, make_blocking),
                                  own(io.BytesIO(b'data')))

    def recv(loop, own, make_blocking):
        return loop.sock_recv(stream(own, make_blocking), 10)

    def recv_into(loop, own, make_blocking):
        return loop.sock_recv_into(stream(own, make_blocking), bytearray(10))

    def sendall(loop, own, make_blocking):
        return loop.sock_sendall(stream(own, make_blocking), b'data')

    def recvfrom(loop, own, make_blocking):
        return loop.sock_recvfrom(udp(own, make_blocking), 10)

    def recvfrom_into(loop, own, make_blocking):
        return loop.sock_recvfrom_into(udp(own, make_blocking),
                                       bytearray(10))

    def sendto(loop, own, make_blocking):
        return loop.sock_sendto(udp(own, make_blocking), b'data',
                                ('127.0.0.1', 9))

    for make in (recv, recv_into, sendall, connect, accept, sendfile):
        yield pytest.param(make, id='sock_' + make.__name__)
    for make in (recvfrom, recvfrom_into, sendto):
        yield pytest.param(make, marks=needs_dgram_api,
                           id='sock_' + make.__name__)


@pytest.mark.parametrize('make_blocking', [
    lambda s: s.setblocking(True),
    lambda s: s.settimeout(5.0),
], ids=['setblocking', 'settimeout'])
@pytest.mark.parametrize('make', list(_blocking_ops()))
def test_blocking_socket_rejected_in_debug_mode(loop, own, make,
                                                make_blocking):
    # asyncio checks the socket's mode in debug mode only (every version),
    # before doing anything.
    loop.set_debug(True)
    with pytest.raises(ValueError) as exc:
        run(loop, make(loop, own, make_blocking))
    assert str(exc.value) == NOT_NON_BLOCKING


def test_blocking_socket_not_checked_without_debug(loop, pair):
    # Without debug mode asyncio does not look at the mode: a blocking
    # socket with data there is read as any other.
    a, b = pair
    a.setblocking(True)
    send_now(b, b'data')
    assert run(loop, loop.sock_recv(a, 100)) == b'data'


# -- datagrams ----------------------------------------------------------------

DGRAM_FAMILIES = pytest.mark.parametrize('family, host', [
    (socket.AF_INET, '127.0.0.1'),
    pytest.param(socket.AF_INET6, '::1', marks=needs_ipv6),
    (socket.AF_UNIX, None),
], ids=['udp4', 'udp6', 'unix'])


def dgram_pair(own, unix_dir, family, host):
    if family == socket.AF_UNIX:
        socks = []
        for name in ('a', 'b'):
            s = own(socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM))
            s.bind(os.path.join(unix_dir, name))
            s.setblocking(False)
            socks.append(s)
        return socks
    return udp_socket(own, family, host), udp_socket(own, family, host)


@needs_dgram_api
@DGRAM_FAMILIES
def test_sock_sendto_recvfrom_round_trip(loop, own, unix_dir, family, host):
    a, b = dgram_pair(own, unix_dir, family, host)
    a_addr, b_addr = a.getsockname(), b.getsockname()

    async def main():
        assert await loop.sock_sendto(a, b'hello', b_addr) == 5
        assert await loop.sock_recvfrom(b, 100) == (b'hello', a_addr)
        # An empty datagram is a datagram.
        assert await loop.sock_sendto(a, b'', b_addr) == 0
        assert await loop.sock_recvfrom(b, 100) == (b'', a_addr)
        # The reply, to a call already waiting.
        task = loop.create_task(loop.sock_recvfrom(a, 128 * KiB))
        await settle()
        assert not task.done()
        big = payload(60000 if family != socket.AF_UNIX else 100000)
        assert await loop.sock_sendto(b, big, a_addr) == len(big)
        assert await task == (big, b_addr)
        # recvfrom_into, waiting too.
        buf = bytearray(200)
        task = loop.create_task(loop.sock_recvfrom_into(a, buf))
        await settle()
        assert not task.done()
        await loop.sock_sendto(b, b'into', a_addr)
        assert await task == (4, b_addr)
        assert buf[:4] == b'into' and not any(buf[4:])

    run(loop, main())


@needs_dgram_api
@pytest.mark.parametrize('bufsize', [4, 100, LARGE_READ, 64 * KiB])
def test_sock_recvfrom_bufsize(loop, own, bufsize):
    # A datagram longer than bufsize is cut; its rest is lost, the next
    # datagram is whole.
    a, b = udp_socket(own), udp_socket(own)
    first, second = payload(30000, 1), b'second'
    a.sendto(first, b.getsockname())
    a.sendto(second, b.getsockname())

    async def main():
        return [await loop.sock_recvfrom(b, bufsize) for _ in range(2)]

    assert run(loop, main()) == [(first[:bufsize], a.getsockname()),
                                 (second[:bufsize], a.getsockname())]


@needs_dgram_api
@READY
@pytest.mark.parametrize('size, nbytes, expected', [
    (10, 0, 10),        # 0: the buffer's length
    (10, 4, 4),         # only nbytes are written
    (10, 10, 10),
    (4, 0, 4),          # the buffer is too small: the datagram is cut
])
def test_sock_recvfrom_into_nbytes(loop, own, ready, size, nbytes, expected):
    a, b = udp_socket(own), udp_socket(own)
    buf = bytearray(b'.' * size)

    async def main():
        if ready:
            a.sendto(b'0123456789', b.getsockname())
            return await loop.sock_recvfrom_into(b, buf, nbytes)
        task = loop.create_task(loop.sock_recvfrom_into(b, buf, nbytes))
        await settle()
        assert not task.done()
        a.sendto(b'0123456789', b.getsockname())
        return await task

    assert run(loop, main()) == (expected, a.getsockname())
    assert buf == b'0123456789'[:expected] + b'.' * (size - expected)


@needs_dgram_api
@pytest.mark.parametrize('nbytes', [11, -1])
def test_sock_recvfrom_into_bad_nbytes(loop, own, nbytes):
    # socket.recvfrom_into's own check and message, data there or not.
    b = udp_socket(own)
    with pytest.raises(ValueError) as expected:
        b.recvfrom_into(bytearray(10), nbytes)
    with pytest.raises(ValueError) as got:
        run(loop, loop.sock_recvfrom_into(b, bytearray(10), nbytes))
    assert str(got.value) == str(expected.value)


@needs_dgram_api
def test_sock_sendto_waits_for_room(loop, own, unix_dir):
    sender, receiver, path = full_unix_dgram(own, unix_dir)
    before = interest(loop)

    async def main():
        task = loop.create_task(loop.sock_sendto(sender, b'last', path))
        await settle()
        assert not task.done()
        assert interest(loop) == (before[0], before[1] + 1)
        received = [receiver.recv(100)]        # makes room
        assert await task == 4
        while received[-1] != b'last':
            received.append(await loop.sock_recv(receiver, 100))
        return received

    received = run(loop, main())
    assert set(received[:-1]) == {b'filler'}
    assert interest(loop) == before


@needs_dgram_api
def test_sock_sendto_too_large(loop, own):
    a, b = udp_socket(own), udp_socket(own)
    with pytest.raises(OSError) as exc:
        run(loop, loop.sock_sendto(a, b'x' * 70000, b.getsockname()))
    assert exc.value.errno == errno.EMSGSIZE


# -- sock_sendfile ------------------------------------------------------------

FILE_SIZE = 1 * MiB + 3


@pytest.fixture
def data_file(tmp_path):
    """(path, contents) of a real file of FILE_SIZE bytes."""
    data = payload(FILE_SIZE, 7)
    path = tmp_path / 'data'
    path.write_bytes(data)
    return path, data


def sendfile_and_read(loop, a, b, file, *args, **kwargs):
    """sock_sendfile(a, file, ...) while b reads to EOF: (result, bytes)."""
    async def send():
        try:
            return await loop.sock_sendfile(a, file, *args, **kwargs)
        finally:
            a.shutdown(socket.SHUT_WR)

    async def main():
        return await asyncio.gather(send(), read_slowly_to_eof(b))

    async def read_slowly_to_eof(sock):
        chunks = []
        while True:
            chunk = await loop.sock_recv(sock, 20000)
            if not chunk:
                return b''.join(chunks)
            chunks.append(chunk)
            if len(chunks) % 16 == 0:
                await asyncio.sleep(0.001)

    return run(loop, main())


@pytest.mark.parametrize('offset, count', [
    (0, None),
    (1000, None),
    (0, 5000),
    (1000, 5000),
    (FILE_SIZE - 10, 5000),         # count beyond the end
    (FILE_SIZE + 10, None),         # offset beyond the end: nothing sent
])
def test_sock_sendfile_real_file(loop, own, data_file, offset, count):
    path, data = data_file
    a, b = tcp_pair(own)
    expected = data[offset:offset + count if count else None]
    with open(path, 'rb') as f:
        f.seek(7)
        sent, received = sendfile_and_read(loop, a, b, f, offset, count)
        position = f.tell()
    assert sent == len(expected)
    assert sha256(received) == sha256(expected)
    # asyncio leaves the file at offset + what it sent (untouched when it
    # sent nothing).
    assert position == (offset + sent if sent else 7)


def test_sock_sendfile_native_only(loop, own, data_file):
    path, data = data_file
    a, b = tcp_pair(own)
    with open(path, 'rb') as f:
        sent, received = sendfile_and_read(loop, a, b, f, fallback=False)
        assert f.tell() == len(data)
    assert sent == len(data)
    assert received == data


def test_sock_sendfile_empty_file(loop, own, tmp_path):
    path = tmp_path / 'empty'
    path.write_bytes(b'')
    a, b = tcp_pair(own)
    with open(path, 'rb') as f:
        assert sendfile_and_read(loop, a, b, f) == [0, b'']
        assert f.tell() == 0


@pytest.mark.parametrize('offset, count', [(0, None), (1000, 5000)])
def test_sock_sendfile_falls_back_without_fileno(loop, own, offset, count):
    # A file object with no fileno: asyncio reads it (in the executor) and
    # sends with sock_sendall, and leaves it at offset + what it sent.
    data = payload(300 * KiB, 3)
    file = io.BytesIO(data)
    a, b = tcp_pair(own)
    sent, received = sendfile_and_read(loop, a, b, file, offset, count)
    expected = data[offset:offset + count if count else None]
    assert sent == len(expected)
    assert received == expected
    assert file.tell() == offset + sent


def test_sock_sendfile_no_fallback_without_fileno(loop, own):
    a, b = tcp_pair(own)
    file = io.BytesIO(b'data')
    with pytest.raises(asyncio.SendfileNotAvailableError) as exc:
        run(loop, loop.sock_sendfile(a, file, fallback=False))
    assert str(exc.value) == 'not a regular file'
    assert file.tell() == 0
    with pytest.raises(BlockingIOError):
        b.recv(1)


@pytest.mark.parametrize('fallback', [True, False])
def test_sock_sendfile_datagram_socket(loop, own, data_file, fallback):
    # Checked before any attempt, fallback or not.
    path, _ = data_file
    s = udp_socket(own)
    with open(path, 'rb') as f, pytest.raises(ValueError) as exc:
        run(loop, loop.sock_sendfile(s, f, fallback=fallback))
    assert str(exc.value) == 'only SOCK_STREAM type sockets are supported'


@pytest.mark.parametrize('kwargs, exc_type, message', [
    ({'offset': -1}, ValueError,
     'offset must be a non-negative integer (got -1)'),
    ({'offset': '1'}, TypeError,
     "offset must be a non-negative integer (got '1')"),
    ({'offset': 1.0}, TypeError,
     'offset must be a non-negative integer (got 1.0)'),
    ({'count': 0}, ValueError, 'count must be a positive integer (got 0)'),
    ({'count': -5}, ValueError, 'count must be a positive integer (got -5)'),
    ({'count': 1.5}, TypeError, 'count must be a positive integer (got 1.5)'),
])
def test_sock_sendfile_bad_offset_or_count(loop, own, data_file, kwargs,
                                           exc_type, message):
    path, _ = data_file
    a, b = tcp_pair(own)
    with open(path, 'rb') as f:
        with pytest.raises(exc_type) as exc:
            run(loop, loop.sock_sendfile(a, f, **kwargs))
        assert f.tell() == 0
    assert str(exc.value) == message
    with pytest.raises(BlockingIOError):
        b.recv(1)


def test_sock_sendfile_text_file(loop, own, data_file):
    path, _ = data_file
    a, _ = tcp_pair(own)
    with open(path, encoding='latin-1') as f, \
            pytest.raises(ValueError) as exc:
        run(loop, loop.sock_sendfile(a, f))
    assert str(exc.value) == 'file should be opened in binary mode'


# -- many sockets -------------------------------------------------------------

def test_200_socketpairs_echo_concurrently(loop, own):
    # Each pair: an echo task on one end (64 KiB reads: our large-read
    # path) and a client on the other sending a payload of its own in
    # uneven pieces while it reads the echo back (4 KiB reads: the small
    # path).
    pairs = [nonblocking(*map(own, socket.socketpair())) for _ in range(200)]
    before = interest(loop)

    async def echo(sock):
        while True:
            data = await loop.sock_recv(sock, 64 * KiB)
            if not data:
                sock.shutdown(socket.SHUT_WR)
                return
            await loop.sock_sendall(sock, data)

    async def client(sock, i):
        data = payload(1000 + 311 * i, i)

        async def write():
            rng = random.Random(i)
            pos = 0
            while pos < len(data):
                step = rng.randrange(1, 40000)
                await loop.sock_sendall(sock, data[pos:pos + step])
                pos += step
            sock.shutdown(socket.SHUT_WR)

        writer = loop.create_task(write())
        echoed = await recv_until_eof(loop, sock, 4 * KiB)
        await writer
        return sha256(echoed) == sha256(data)

    async def main():
        echoes = [loop.create_task(echo(b)) for _, b in pairs]
        results = await asyncio.gather(
            *(client(a, i) for i, (a, _) in enumerate(pairs)))
        await asyncio.gather(*echoes)
        return results

    assert run(loop, main()) == [True] * len(pairs)
    assert interest(loop) == before
