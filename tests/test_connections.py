"""Connection establishment: create_connection, create_unix_connection,
connect_accepted_socket and the streams' open_connection, on both loops.

The orchestration (resolution, happy eyeballs, argument checks) is asyncio's
own code bound to our loop; what these tests pin down is that it behaves the
same over our sock_connect, getaddrinfo, transports and accept loop: the
same results, exception types and messages, attempt order, and no fd left
behind or delivered to the wrong connection when connects are cancelled.

Only loopback addresses are used.  An address that never answers is a
listener with a backlog of 0 whose one queue slot is taken by a connection
nobody accepts: the kernel drops further SYNs, so a connect to it stays in
progress until cancelled.  Several addresses for one host are had by
replacing getaddrinfo on the loop instance (asyncio's create_connection
calls `self.getaddrinfo` for any host that is not a numeric address).
"""
import asyncio
import contextlib
import errno
import os
import pathlib
import random
import select
import shutil
import socket
import ssl
import sys
import tempfile
import unittest.mock
from asyncio import base_events

import pytest

from support import has_ipv6_loopback

HOST = '127.0.0.1'
PY311 = sys.version_info >= (3, 11)
PY312 = sys.version_info >= (3, 12)


HAS_IPV6 = has_ipv6_loopback()
needs_ipv6 = pytest.mark.skipif(
    not HAS_IPV6, reason='no IPv6 loopback (::1 does not bind here)')


def run(loop, coro, timeout=30):
    """run_until_complete with a bound: a hang fails the test instead."""
    return loop.run_until_complete(asyncio.wait_for(coro, timeout))


def open_fds():
    return set(os.listdir('/proc/self/fd'))


def raised(loop, coro):
    """The exception that running `coro` on the loop raises."""
    with pytest.raises(BaseException) as info:
        run(loop, coro)
    return info.value


def assert_error(exc, exc_type, message):
    """exc is exactly of exc_type (not a subclass) with str() == message."""
    assert type(exc) is exc_type, repr(exc)
    assert str(exc) == message


def refused_message(address):
    # asyncio's sock_connect, when the connect fails after EINPROGRESS.
    return f'[Errno {errno.ECONNREFUSED}] Connect call failed {address}'


def syscall_error(call, *args, **kwargs):
    """The OSError that a direct (blocking) call raises, to compare with."""
    try:
        call(*args, **kwargs)
    except OSError as exc:
        return exc
    pytest.fail(f'{call.__name__}{args} did not fail')


def tcp_info(address):
    """One getaddrinfo() entry for a numeric address."""
    family = socket.AF_INET6 if ':' in address[0] else socket.AF_INET
    if family == socket.AF_INET6 and len(address) == 2:
        address = (*address, 0, 0)
    return (family, socket.SOCK_STREAM, socket.IPPROTO_TCP, '', address)


@contextlib.contextmanager
def replaced(loop, name, value):
    """Set an attribute on the loop instance for the block (not its class)."""
    setattr(loop, name, value)
    try:
        yield
    finally:
        delattr(loop, name)


def resolving_to(loop, infos):
    """Make loop.getaddrinfo answer `infos` for every name (calls recorded)."""
    calls = []

    async def getaddrinfo(host, port, *, family=0, type=0, proto=0, flags=0):
        calls.append((host, port, family, type, proto, flags))
        return list(infos)
    return replaced(loop, 'getaddrinfo', getaddrinfo), calls


def recording_connects(loop):
    """Wrap loop.sock_connect: the addresses it is called with, in order."""
    attempts = []
    real = loop.sock_connect

    async def sock_connect(sock, address):
        attempts.append(address)
        return await real(sock, address)
    return replaced(loop, 'sock_connect', sock_connect), attempts


async def other_tasks_finish(mine):
    """Wait (bounded) until every task but those in `mine` is done: the
    server's handlers, ending on their clients' EOF."""
    for _ in range(1000):
        others = [t for t in asyncio.all_tasks()
                  if t not in mine and not t.done()]
        if not others:
            return
        await asyncio.sleep(0.01)
    pytest.fail(f'tasks still running: {others}')


# -- peers --------------------------------------------------------------------

class Peer(asyncio.Protocol):
    """One side of a connection: records what happens, echoes if asked."""

    def __init__(self, echo=False, on_made=None):
        loop = asyncio.get_running_loop()
        self.echo = echo
        self.on_made = on_made
        self.transport = None
        self.data = bytearray()
        self.eof = False
        self.lost = loop.create_future()
        self._more = None

    def connection_made(self, transport):
        self.transport = transport
        if self.on_made is not None:
            self.on_made(self)

    def data_received(self, data):
        self.data += data
        if self.echo:
            self.transport.write(data)
        self._wake()

    def eof_received(self):
        self.eof = True
        self._wake()

    def connection_lost(self, exc):
        self.lost.set_result(exc)
        self._wake()

    def _wake(self):
        if self._more is not None and not self._more.done():
            self._more.set_result(None)

    async def _until(self, condition):
        while not condition():
            assert not self.lost.done(), f'lost after {bytes(self.data)!r}'
            self._more = asyncio.get_running_loop().create_future()
            await self._more

    async def received(self, n):
        """Wait until n bytes have arrived; return them all."""
        await self._until(lambda: len(self.data) >= n)
        return bytes(self.data)

    async def wait_eof(self):
        await self._until(lambda: self.eof)

    async def close(self):
        if self.transport is not None:
            self.transport.close()
            await self.lost


class EchoServer:
    """A TCP or Unix server on the loop whose connections echo.

    `accepted` yields the server's Peer of each connection, so a test can
    see the server's side of it.
    """

    def __init__(self, loop):
        self.loop = loop
        self.peers = []
        self.accepted = asyncio.Queue()
        self.server = None

    def _factory(self):
        peer = Peer(echo=True, on_made=self.accepted.put_nowait)
        self.peers.append(peer)
        return peer

    async def start_tcp(self, host=HOST, port=0, **kwargs):
        self.server = await self.loop.create_server(
            self._factory, host, port, **kwargs)
        self.address = self.server.sockets[0].getsockname()
        return self

    async def start_unix(self, path):
        self.server = await self.loop.create_unix_server(self._factory, path)
        self.address = path
        return self

    async def __aenter__(self):
        return self

    async def __aexit__(self, *exc):
        self.server.close()
        await self.server.wait_closed()
        for peer in self.peers:
            await peer.close()


async def echo_once(transport, peer, payload):
    """Send payload over a client transport; the echo must come back."""
    transport.write(payload)
    assert await peer.received(len(payload)) == payload


class Unanswered:
    """A loopback address whose connects stay in progress.

    A listener with backlog 0 holds one connection in its accept queue;
    this one is never accepted, so the queue stays full and the kernel
    drops the SYNs of every later connect.
    """

    def __init__(self, host=HOST):
        family = socket.AF_INET6 if ':' in host else socket.AF_INET
        self.listener = socket.socket(family)
        self.listener.bind((host, 0))
        self.listener.listen(0)
        self.address = self.listener.getsockname()
        self.filler = socket.socket(family)
        self.filler.setblocking(False)
        self.filler.connect_ex(self.address)
        # Wait (bounded) until the filler is connected: the queue is full.
        _, writable, _ = select.select([], [self.filler], [], 10)
        assert writable and self.filler.getsockopt(
            socket.SOL_SOCKET, socket.SO_ERROR) == 0

    def close(self):
        self.filler.close()
        self.listener.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


@pytest.fixture
def refused():
    """A loopback address that refuses connections: a bound socket that
    does not listen (holding the port, so that nothing else takes it)."""
    with socket.socket() as s:
        s.bind((HOST, 0))
        yield s.getsockname()


@pytest.fixture
def unix_dir():
    # Short: a Unix socket path has to fit in 108 bytes.
    path = tempfile.mkdtemp(prefix='lc-')
    yield pathlib.Path(path)
    shutil.rmtree(path)


# -- create_connection: host and port -----------------------------------------

@pytest.mark.parametrize('host', [
    'localhost', '127.0.0.1', pytest.param('::1', marks=needs_ipv6)])
def test_connect_by_host(loop, host):
    async def main():
        bind = '127.0.0.1' if host == 'localhost' else host
        async with await EchoServer(loop).start_tcp(bind) as server:
            transport, peer = await loop.create_connection(
                Peer, host, server.address[1])
            theirs = await server.accepted.get()
            await echo_once(transport, peer, b'hello')
            # Each side sees the other as the other sees itself.
            assert transport.get_extra_info('peername') == server.address
            assert (transport.get_extra_info('sockname') ==
                    theirs.transport.get_extra_info('peername'))
            assert (theirs.transport.get_extra_info('sockname') ==
                    transport.get_extra_info('peername'))
            sock = transport.get_extra_info('socket')
            assert sock.family == (socket.AF_INET6 if host == '::1'
                                   else socket.AF_INET)
            assert sock.type == socket.SOCK_STREAM
            await peer.close()
    run(loop, main())


@pytest.mark.parametrize('host', ['127.0.0.1', 'localhost'])
def test_port_as_str(loop, host):
    async def main():
        async with await EchoServer(loop).start_tcp() as server:
            transport, peer = await loop.create_connection(
                Peer, host, str(server.address[1]))
            assert transport.get_extra_info('peername') == server.address
            await echo_once(transport, peer, b'port as str')
            await peer.close()
    run(loop, main())


def test_connection_made_before_create_connection_returns(loop):
    # asyncio awaits connection_made (the transport's waiter) before it
    # returns the pair: the protocol already has its transport.
    async def main():
        async with await EchoServer(loop).start_tcp() as server:
            transport, peer = await loop.create_connection(
                Peer, *server.address)
            assert peer.transport is transport
            assert not transport.is_closing()
            await peer.close()
            assert transport.is_closing()
    run(loop, main())


# -- create_connection: sock= -------------------------------------------------

@pytest.mark.parametrize('blocking', [False, True])
def test_connected_sock(loop, blocking):
    async def main():
        async with await EchoServer(loop).start_tcp() as server:
            sock = socket.create_connection(server.address)
            sock.setblocking(blocking)
            transport, peer = await loop.create_connection(Peer, sock=sock)
            # asyncio makes the socket non-blocking, whatever it was.
            assert not sock.getblocking()
            assert transport.get_extra_info('socket').fileno() == \
                sock.fileno()
            assert transport.get_extra_info('peername') == server.address
            assert transport.get_extra_info('sockname') == sock.getsockname()
            await echo_once(transport, peer, b'over a given socket')
            await peer.close()
            # Closing the transport closes the socket it was given.
            assert sock.fileno() == -1
    run(loop, main())


def test_happy_eyeballs_arguments_with_sock_are_ignored(loop):
    # asyncio raises nothing for happy_eyeballs_delay / interleave with
    # sock=: they only matter when it resolves a host.
    async def main():
        async with await EchoServer(loop).start_tcp() as server:
            sock = socket.create_connection(server.address)
            transport, peer = await loop.create_connection(
                Peer, sock=sock, happy_eyeballs_delay=0.05, interleave=2)
            await echo_once(transport, peer, b'eyeballs')
            await peer.close()
    run(loop, main())


def test_unix_sock_through_create_connection(loop, unix_dir):
    # asyncio allows any SOCK_STREAM socket here, AF_UNIX included.
    async def main():
        path = str(unix_dir / 's')
        async with await EchoServer(loop).start_unix(path):
            sock = socket.socket(socket.AF_UNIX)
            sock.connect(path)
            transport, peer = await loop.create_connection(Peer, sock=sock)
            assert transport.get_extra_info('peername') == path
            await echo_once(transport, peer, b'unix via create_connection')
            await peer.close()
    run(loop, main())


def test_unconnected_sock(loop):
    # What asyncio does with a socket that was never connected: it makes
    # the transport (peername None), calls connection_made, and the first
    # read fails with ENOTCONN, which closes it: connection_lost(OSError),
    # without a call to the exception handler.
    handled = []
    loop.set_exception_handler(lambda lp, ctx: handled.append(ctx))

    async def main():
        sock = socket.socket()
        sock.setblocking(False)
        transport, peer = await loop.create_connection(Peer, sock=sock)
        assert peer.transport is transport
        assert transport.get_extra_info('peername') is None
        assert transport.get_extra_info('sockname') == ('0.0.0.0', 0)
        exc = await peer.lost
        assert type(exc) is OSError and exc.errno == errno.ENOTCONN
        assert transport.is_closing()
        assert sock.fileno() == -1
    run(loop, main())
    assert handled == []


# -- create_connection: argument errors ---------------------------------------

def _stream_sock():
    return socket.socket()


def _dgram_sock():
    return socket.socket(type=socket.SOCK_DGRAM)


def _ssl_sock():
    return ssl.create_default_context().wrap_socket(
        socket.socket(), do_handshake_on_connect=False,
        server_hostname='localhost')


# (keyword arguments, socket to pass as sock= or None, exception, message);
# a message None stands for one made from the socket's repr.
ARG_ERRORS = {
    'host and sock': (
        {'host': HOST}, _stream_sock, ValueError,
        'host/port and sock can not be specified at the same time'),
    'port and sock': (
        {'port': 80}, _stream_sock, ValueError,
        'host/port and sock can not be specified at the same time'),
    'no host nor sock': (
        {}, None, ValueError,
        'host and port was not specified and no sock specified'),
    'sock not SOCK_STREAM': (
        {}, _dgram_sock, ValueError, None),
    'sock an SSLSocket': (
        {}, _ssl_sock, TypeError, 'Socket cannot be of type SSLSocket'),
    'server_hostname without ssl': (
        {'host': HOST, 'port': 80, 'server_hostname': 'localhost'}, None,
        ValueError, 'server_hostname is only meaningful with ssl'),
    'server_hostname with ssl=None': (
        {'host': HOST, 'port': 80, 'ssl': None, 'server_hostname': 'localhost'},
        None, ValueError, 'server_hostname is only meaningful with ssl'),
    'server_hostname with ssl=False': (
        {'host': HOST, 'port': 80, 'ssl': False, 'server_hostname': 'x'}, None,
        ValueError, 'server_hostname is only meaningful with ssl'),
    # server_hostname is checked before sock and host.
    'server_hostname first': (
        {'host': HOST, 'server_hostname': 'x'}, _dgram_sock, ValueError,
        'server_hostname is only meaningful with ssl'),
    'ssl_handshake_timeout without ssl': (
        {'host': HOST, 'port': 80, 'ssl_handshake_timeout': 1.0}, None,
        ValueError, 'ssl_handshake_timeout is only meaningful with ssl'),
    'ssl without host or server_hostname': (
        {'ssl': True}, _stream_sock, ValueError,
        'You must set server_hostname when using ssl without a host'),
}
if PY311:
    ARG_ERRORS['ssl_shutdown_timeout without ssl'] = (
        {'host': HOST, 'port': 80, 'ssl_shutdown_timeout': 1.0}, None,
        ValueError, 'ssl_shutdown_timeout is only meaningful with ssl')


@pytest.mark.parametrize('case', ARG_ERRORS)
def test_create_connection_argument_errors(loop, case):
    kwargs, make_sock, exc_type, message = ARG_ERRORS[case]
    sock = make_sock() if make_sock else None
    try:
        if sock is not None:
            kwargs = dict(kwargs, sock=sock)
        if message is None:
            message = f'A Stream Socket was expected, got {sock!r}'
        fds = open_fds()
        exc = raised(loop, loop.create_connection(Peer, **kwargs))
        assert_error(exc, exc_type, message)
        assert open_fds() == fds
        # The socket is the caller's still: not closed, not registered.
        if sock is not None:
            assert sock.fileno() != -1
    finally:
        if sock is not None:
            sock.close()


# -- create_connection: local_addr, family, proto, flags ----------------------

def test_local_addr_any_port(loop):
    # 127.0.0.2 is loopback too: the connection comes from it.
    async def main():
        async with await EchoServer(loop).start_tcp() as server:
            transport, peer = await loop.create_connection(
                Peer, *server.address, local_addr=('127.0.0.2', 0))
            theirs = await server.accepted.get()
            sockname = transport.get_extra_info('sockname')
            assert sockname[0] == '127.0.0.2' and sockname[1] != 0
            assert theirs.transport.get_extra_info('peername') == sockname
            await echo_once(transport, peer, b'from 127.0.0.2')
            await peer.close()
    run(loop, main())


def test_local_addr_given_port(loop):
    async def main():
        async with await EchoServer(loop).start_tcp() as server:
            with socket.socket() as probe:     # a port free right now
                probe.bind((HOST, 0))
                local = probe.getsockname()
            transport, peer = await loop.create_connection(
                Peer, *server.address, local_addr=local)
            theirs = await server.accepted.get()
            assert transport.get_extra_info('sockname') == local
            assert theirs.transport.get_extra_info('peername') == local
            await peer.close()
    run(loop, main())


def test_local_addr_in_use(loop):
    async def main():
        async with await EchoServer(loop).start_tcp() as server:
            with socket.socket() as holder:
                holder.bind((HOST, 0))
                local = holder.getsockname()
                fds = open_fds()
                with pytest.raises(OSError) as info:
                    await loop.create_connection(
                        Peer, *server.address, local_addr=local)
                assert open_fds() == fds
                bind_error = syscall_error(_bind_twice, local)
            # asyncio rewords the bind error (lower case); 3.13 keeps the
            # "[errno N]" prefix in it, earlier versions only the strerror.
            exc = info.value
            assert type(exc) is OSError and exc.errno == errno.EADDRINUSE
            reason = (str(bind_error) if sys.version_info >= (3, 13)
                      else bind_error.strerror)
            assert str(exc) == (f'[Errno {errno.EADDRINUSE}] error while '
                                f'attempting to bind on address {local!r}: '
                                f'{reason.lower()}')
    run(loop, main())


def _bind_twice(address):
    with socket.socket() as s:
        s.bind(address)


@needs_ipv6
def test_local_addr_of_the_other_family(loop):
    # asyncio skips local addresses of another family than the remote one;
    # with none left: "no matching local address".
    async def main():
        async with await EchoServer(loop).start_tcp() as server:
            fds = open_fds()
            with pytest.raises(OSError) as info:
                await loop.create_connection(
                    Peer, *server.address, local_addr=('::1', 0))
            assert open_fds() == fds
            return info.value
    assert_error(run(loop, main()), OSError,
                 f'no matching local address with '
                 f'family={socket.AF_INET!r} found')


@pytest.mark.parametrize('family, host, server_host', [
    (socket.AF_INET, 'localhost', '127.0.0.1'),
    (socket.AF_INET, '127.0.0.1', '127.0.0.1'),
    (socket.AF_INET6, '127.0.0.1', None),
    pytest.param(socket.AF_INET6, '::1', '::1', marks=needs_ipv6),
    pytest.param(socket.AF_INET, '::1', None, marks=needs_ipv6),
])
def test_family_restricts(loop, family, host, server_host):
    # family= picks the addresses the client may use; with none of that
    # family, resolution fails as getaddrinfo() itself does (same type,
    # errno and message).
    async def connect():
        async with await EchoServer(loop).start_tcp(server_host) as server:
            transport, peer = await loop.create_connection(
                Peer, host, server.address[1], family=family)
            assert transport.get_extra_info('socket').family == family
            assert transport.get_extra_info('peername') == server.address
            await echo_once(transport, peer, b'family')
            await peer.close()

    async def fail():
        with pytest.raises(OSError) as info:
            await loop.create_connection(Peer, host, 80, family=family)
        return info.value

    if server_host is not None:
        run(loop, connect())
        return
    expected = syscall_error(socket.getaddrinfo, host, 80, family,
                             socket.SOCK_STREAM)
    exc = run(loop, fail())
    assert type(exc) is type(expected) and exc.args == expected.args


def test_family_and_flags_reach_getaddrinfo(loop):
    # A name (not a numeric address) goes through loop.getaddrinfo with
    # family, type, proto and flags as given.
    async def main():
        async with await EchoServer(loop).start_tcp() as server:
            patch, calls = resolving_to(loop, [tcp_info(server.address)])
            with patch:
                transport, peer = await loop.create_connection(
                    Peer, 'a-name.test', 80, family=socket.AF_INET,
                    proto=socket.IPPROTO_TCP, flags=socket.AI_ADDRCONFIG)
            assert calls == [('a-name.test', 80, socket.AF_INET,
                              socket.SOCK_STREAM, socket.IPPROTO_TCP,
                              socket.AI_ADDRCONFIG)]
            assert transport.get_extra_info('peername') == server.address
            await peer.close()
    run(loop, main())


def test_proto_passed_through(loop):
    async def main():
        async with await EchoServer(loop).start_tcp() as server:
            transport, peer = await loop.create_connection(
                Peer, 'localhost', server.address[1],
                proto=socket.IPPROTO_TCP)
            sock = transport.get_extra_info('socket')
            assert sock.proto == socket.IPPROTO_TCP
            await echo_once(transport, peer, b'proto')
            await peer.close()
    run(loop, main())


@pytest.mark.parametrize('kwargs', [
    {'flags': socket.AI_NUMERICHOST},       # 'localhost' is a name
    {'proto': socket.IPPROTO_UDP},          # not with SOCK_STREAM
], ids=['AI_NUMERICHOST', 'IPPROTO_UDP'])
def test_resolution_errors_as_getaddrinfo_raises_them(loop, kwargs):
    expected = syscall_error(socket.getaddrinfo, 'localhost', 80,
                             type=socket.SOCK_STREAM, **kwargs)

    async def main():
        fds = open_fds()
        with pytest.raises(OSError) as info:
            await loop.create_connection(Peer, 'localhost', 80, **kwargs)
        assert open_fds() == fds
        return info.value
    exc = run(loop, main())
    assert type(exc) is type(expected) and exc.args == expected.args


def test_getaddrinfo_empty_answer(loop):
    async def main():
        patch, _ = resolving_to(loop, [])
        with patch, pytest.raises(OSError) as info:
            await loop.create_connection(Peer, 'nothing.test', 80)
        return info.value
    assert_error(run(loop, main()), OSError,
                 'getaddrinfo() returned empty list')


# -- create_connection: refused, several addresses, all_errors ----------------

def test_refused(loop, refused):
    async def main():
        fds = open_fds()
        with pytest.raises(OSError) as info:
            await loop.create_connection(Peer, *refused)
        assert open_fds() == fds
        return info.value
    exc = run(loop, main())
    assert_error(exc, ConnectionRefusedError, refused_message(refused))
    assert exc.errno == errno.ECONNREFUSED


def test_refused_by_name(loop, refused):
    # 'localhost' may resolve to one address or more (hosts file): one gives
    # its ConnectionRefusedError, several asyncio's combined OSError.
    infos = socket.getaddrinfo('localhost', refused[1],
                               type=socket.SOCK_STREAM)

    async def main():
        with pytest.raises(OSError) as info:
            await loop.create_connection(Peer, 'localhost', refused[1])
        return info.value
    exc = run(loop, main())
    if len(infos) == 1:
        assert_error(exc, ConnectionRefusedError,
                     refused_message(infos[0][4]))
    else:
        assert type(exc) is OSError
        assert str(exc).startswith('Multiple exceptions: ')


@pytest.mark.parametrize('happy_eyeballs_delay', [None, 0.05])
def test_refused_on_every_address(loop, refused, happy_eyeballs_delay):
    # Different messages: asyncio raises one OSError that lists them all,
    # in the order the addresses were tried.
    other = ('127.0.0.2', refused[1])
    patch, _ = resolving_to(loop, [tcp_info(refused), tcp_info(other)])

    async def main():
        fds = open_fds()
        with patch, pytest.raises(OSError) as info:
            await loop.create_connection(
                Peer, 'two.test', refused[1],
                happy_eyeballs_delay=happy_eyeballs_delay)
        assert open_fds() == fds
        return info.value
    exc = run(loop, main())
    assert_error(exc, OSError,
                 f'Multiple exceptions: {refused_message(refused)}, '
                 f'{refused_message(other)}')
    assert exc.errno is None


def test_refused_twice_with_the_same_message(loop, refused):
    # All errors with the same str(): asyncio raises the first one itself.
    patch, _ = resolving_to(loop, [tcp_info(refused), tcp_info(refused)])

    async def main():
        with patch, pytest.raises(OSError) as info:
            await loop.create_connection(Peer, 'twice.test', refused[1])
        return info.value
    exc = run(loop, main())
    assert_error(exc, ConnectionRefusedError, refused_message(refused))


@pytest.mark.skipif(not PY312, reason='all_errors= is new in Python 3.12')
@pytest.mark.parametrize('addresses', [1, 2])
def test_all_errors(loop, refused, addresses):
    others = [refused, ('127.0.0.2', refused[1])][:addresses]
    patch, _ = resolving_to(loop, [tcp_info(a) for a in others])

    async def main():
        with patch, pytest.raises(ExceptionGroup) as info:  # noqa: F821
            await loop.create_connection(
                Peer, 'several.test', refused[1], all_errors=True)
        return info.value
    group = run(loop, main())
    assert group.message == 'create_connection failed'
    assert [(type(e), str(e)) for e in group.exceptions] == [
        (ConnectionRefusedError, refused_message(a)) for a in others]


# -- create_connection: several addresses, happy eyeballs, interleave ---------

@pytest.mark.parametrize('happy_eyeballs_delay', [None, 0.05])
def test_dead_address_then_live_one(loop, refused, happy_eyeballs_delay):
    async def main():
        async with await EchoServer(loop).start_tcp() as server:
            patch, _ = resolving_to(
                loop, [tcp_info(refused), tcp_info(server.address)])
            record, attempts = recording_connects(loop)
            with patch, record:
                transport, peer = await loop.create_connection(
                    Peer, 'dead-then-live.test', 80,
                    happy_eyeballs_delay=happy_eyeballs_delay)
            assert attempts == [refused, server.address]
            assert transport.get_extra_info('peername') == server.address
            await echo_once(transport, peer, b'second address')
            await peer.close()
    run(loop, main())


def test_happy_eyeballs_overtakes_an_unanswered_address(loop):
    # The first address never answers; after happy_eyeballs_delay the
    # second one is tried and wins, and the first attempt is cancelled:
    # its socket is closed.
    async def main():
        with Unanswered() as silent:
            async with await EchoServer(loop).start_tcp() as server:
                fds = open_fds()
                patch, _ = resolving_to(
                    loop, [tcp_info(silent.address),
                           tcp_info(server.address)])
                record, attempts = recording_connects(loop)
                with patch, record:
                    transport, peer = await loop.create_connection(
                        Peer, 'slow-then-live.test', 80,
                        happy_eyeballs_delay=0.05)
                assert attempts == [silent.address, server.address]
                assert transport.get_extra_info('peername') == \
                    server.address
                await echo_once(transport, peer, b'overtaken')
                await peer.close()
                theirs = await server.accepted.get()
                await theirs.close()
                assert open_fds() == fds
    run(loop, main())


# Five addresses: three IPv4 (0-2) then two IPv6 (3-4), all refusing.
# The order asyncio tries them in (base_events._interleave_addrinfos):
# interleave=N takes N-1 of the first family, then alternates families;
# happy_eyeballs_delay without interleave means interleave=1.
ORDERS = [
    (None, None, [0, 1, 2, 3, 4]),
    (None, 1, [0, 3, 1, 4, 2]),
    (None, 2, [0, 1, 3, 2, 4]),
    (None, 3, [0, 1, 2, 3, 4]),
    (0.05, None, [0, 3, 1, 4, 2]),
    (0.05, 1, [0, 3, 1, 4, 2]),
    (0.05, 2, [0, 1, 3, 2, 4]),
]


@needs_ipv6
@pytest.mark.parametrize('happy_eyeballs_delay, interleave, order', ORDERS)
def test_attempt_order(loop, happy_eyeballs_delay, interleave, order):
    holders = []
    for host in ('127.0.0.1', '127.0.0.1', '127.0.0.1', '::1', '::1'):
        s = socket.socket(socket.AF_INET6 if ':' in host else socket.AF_INET)
        s.bind((host, 0))          # bound, not listening: refuses
        holders.append(s)
    addresses = [s.getsockname() for s in holders]

    async def main():
        patch, _ = resolving_to(loop, [tcp_info(a) for a in addresses])
        record, attempts = recording_connects(loop)
        with patch, record, pytest.raises(OSError) as info:
            await loop.create_connection(
                Peer, 'five.test', 80,
                happy_eyeballs_delay=happy_eyeballs_delay,
                interleave=interleave)
        return attempts, info.value
    try:
        attempts, exc = run(loop, main())
    finally:
        for s in holders:
            s.close()
    tried = [addresses[i] for i in order]
    assert attempts == tried
    # The combined error lists them in the same order.
    assert_error(exc, OSError, 'Multiple exceptions: ' + ', '.join(
        refused_message(a) for a in tried))


# -- create_connection: cancellation ------------------------------------------

CANCEL_POINTS = ['before it runs', 'after 1 pass', 'after 2 passes',
                 'once every attempt started']


@pytest.mark.parametrize('point', CANCEL_POINTS)
@pytest.mark.parametrize('happy_eyeballs_delay', [None, 0.01])
def test_cancel_while_connecting(loop, point, happy_eyeballs_delay):
    # Cancelled while its connects are in progress: CancelledError, every
    # socket it made is closed and out of the poller: a new connection,
    # which may get the same fd number, works.  (Without happy eyeballs
    # only the first address is ever tried: it never answers.)
    async def main():
        with Unanswered() as one, Unanswered() as two:
            async with await EchoServer(loop).start_tcp() as server:
                fds = open_fds()
                patch, _ = resolving_to(
                    loop, [tcp_info(one.address), tcp_info(two.address)])
                record, attempts = recording_connects(loop)
                everyone = [one.address, two.address]
                if not happy_eyeballs_delay:
                    everyone = everyone[:1]
                with patch, record:
                    task = loop.create_task(loop.create_connection(
                        Peer, 'never.test', 80,
                        happy_eyeballs_delay=happy_eyeballs_delay))
                    if point == 'once every attempt started':
                        for _ in range(1000):       # bounded
                            if len(attempts) == len(everyone):
                                break
                            await asyncio.sleep(0.01)
                        await asyncio.sleep(0.02)   # and waiting on them
                    else:
                        for _ in range(CANCEL_POINTS.index(point)):
                            await asyncio.sleep(0)
                    assert not task.done()
                    task.cancel()
                    with pytest.raises(asyncio.CancelledError):
                        await task
                if point == 'before it runs':
                    assert attempts == []
                elif point == 'once every attempt started':
                    assert attempts == everyone
                else:
                    assert attempts == everyone[:len(attempts)]
                assert open_fds() == fds
                transport, peer = await loop.create_connection(
                    Peer, *server.address)
                await echo_once(transport, peer, b'after the cancel')
                await peer.close()
    run(loop, main())


def test_cancelled_connects_do_not_leak_or_cross(loop):
    # 2000 open_connection calls cancelled at random points, then 200 that
    # complete, each echoing a token of its own: each must get its own
    # back.  The fds come back to where they started.  Cancelled after 0
    # to 5 loop passes (batches of 100), a call is hit before it runs,
    # in sock_connect, while its transport is being made, or after it
    # finished, on both loops (they progress at different speeds).
    rng = random.Random(1234)

    async def echo(reader, writer):
        try:
            while True:
                line = await reader.readline()
                if not line:
                    break
                writer.write(line)
                await writer.drain()
        except ConnectionError:
            pass
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    async def cancelled_batch(port, n):
        tasks = [loop.create_task(asyncio.open_connection(HOST, port))
                 for _ in range(n)]
        points = [rng.randrange(6) for _ in tasks]
        for passes in range(6):
            for task, point in zip(tasks, points):
                if point == passes:
                    task.cancel()
            await asyncio.sleep(0)
        finished = 0
        for result in await asyncio.gather(*tasks, return_exceptions=True):
            if isinstance(result, tuple):       # done before its cancel
                finished += 1
                result[1].close()
                await result[1].wait_closed()
            else:
                assert isinstance(result, asyncio.CancelledError), result
        return finished

    async def token_client(port, i):
        token = f'token-{i}-{rng.random()}\n'.encode()
        reader, writer = await asyncio.open_connection(HOST, port)
        try:
            writer.write(token)
            assert await reader.readline() == token
        finally:
            writer.close()
            await writer.wait_closed()

    async def main():
        mine = asyncio.all_tasks()      # this one and run()'s wait_for
        fds = open_fds()
        server = await asyncio.start_server(echo, HOST, 0)
        port = server.sockets[0].getsockname()[1]
        for _ in range(20):
            await cancelled_batch(port, 100)
        await asyncio.gather(*(token_client(port, i) for i in range(200)))
        server.close()
        await server.wait_closed()
        await other_tasks_finish(mine)
        assert open_fds() == fds
    run(loop, main(), timeout=120)


# -- create_unix_connection / create_unix_server ------------------------------

def test_unix_connection_by_path(loop, unix_dir):
    async def main():
        path = str(unix_dir / 's')
        async with await EchoServer(loop).start_unix(path) as server:
            for where in (path, pathlib.Path(path)):      # path-like too
                transport, peer = await loop.create_unix_connection(
                    Peer, where)
                theirs = await server.accepted.get()
                await echo_once(transport, peer, b'over unix')
                assert transport.get_extra_info('peername') == path
                assert transport.get_extra_info('sockname') == \
                    theirs.transport.get_extra_info('peername') == ''
                assert theirs.transport.get_extra_info('sockname') == path
                sock = transport.get_extra_info('socket')
                assert (sock.family, sock.type) == (
                    socket.AF_UNIX, socket.SOCK_STREAM)
                await peer.close()
    run(loop, main())


def test_unix_connection_by_sock(loop, unix_dir):
    async def main():
        path = str(unix_dir / 's')
        async with await EchoServer(loop).start_unix(path):
            sock = socket.socket(socket.AF_UNIX)
            sock.connect(path)
            transport, peer = await loop.create_unix_connection(
                Peer, sock=sock)
            assert not sock.getblocking()
            assert transport.get_extra_info('socket').fileno() == \
                sock.fileno()
            await echo_once(transport, peer, b'unix sock=')
            await peer.close()
            assert sock.fileno() == -1
    run(loop, main())


def test_unix_connection_missing_path(loop, unix_dir):
    path = str(unix_dir / 'nobody-here')
    expected = syscall_error(socket.socket(socket.AF_UNIX).connect, path)

    async def main():
        fds = open_fds()
        with pytest.raises(OSError) as info:
            await loop.create_unix_connection(Peer, path)
        assert open_fds() == fds
        return info.value
    exc = run(loop, main())
    assert type(exc) is FileNotFoundError
    assert str(exc) == str(expected)


def test_unix_connection_refused(loop, unix_dir):
    # A socket file nobody listens on.
    path = str(unix_dir / 'not-listening')
    with socket.socket(socket.AF_UNIX) as holder:
        holder.bind(path)
        expected = syscall_error(socket.socket(socket.AF_UNIX).connect, path)

        async def main():
            with pytest.raises(OSError) as info:
                await loop.create_unix_connection(Peer, path)
            return info.value
        exc = run(loop, main())
    assert type(exc) is ConnectionRefusedError
    assert str(exc) == str(expected)


def _unix_sock():
    return socket.socket(socket.AF_UNIX)


UNIX_ARG_ERRORS = {
    'path and sock': (
        {'path': '/tmp/x'}, _unix_sock,
        'path and sock can not be specified at the same time'),
    'no path nor sock': (
        {}, None, 'no path and sock were specified'),
    'sock not AF_UNIX': ({}, _stream_sock, None),
    'sock not SOCK_STREAM': (
        {}, lambda: socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM),
        None),
    'server_hostname without ssl': (
        {'path': '/tmp/x', 'server_hostname': 'x'}, None,
        'server_hostname is only meaningful with ssl'),
    'ssl without server_hostname': (
        {'path': '/tmp/x', 'ssl': True}, None,
        'you have to pass server_hostname when using ssl'),
    'ssl_handshake_timeout without ssl': (
        {'path': '/tmp/x', 'ssl_handshake_timeout': 1.0}, None,
        'ssl_handshake_timeout is only meaningful with ssl'),
}


@pytest.mark.parametrize('case', UNIX_ARG_ERRORS)
def test_unix_connection_argument_errors(loop, case):
    kwargs, make_sock, message = UNIX_ARG_ERRORS[case]
    sock = make_sock() if make_sock else None
    try:
        if sock is not None:
            kwargs = dict(kwargs, sock=sock)
        if message is None:
            message = (f'A UNIX Domain Stream Socket was expected, '
                       f'got {sock!r}')
        exc = raised(loop, loop.create_unix_connection(Peer, **kwargs))
        assert_error(exc, ValueError, message)
    finally:
        if sock is not None:
            sock.close()


# -- connect_accepted_socket --------------------------------------------------

@pytest.mark.parametrize('family', ['tcp', 'unix'])
def test_connect_accepted_socket(loop, family, unix_dir):
    if family == 'tcp':
        listener = socket.socket()
        listener.bind((HOST, 0))
        client = socket.socket()
    else:
        listener = socket.socket(socket.AF_UNIX)
        listener.bind(str(unix_dir / 's'))
        client = socket.socket(socket.AF_UNIX)
    listener.listen()
    client.connect(listener.getsockname())
    accepted, _ = listener.accept()
    listener.close()
    client.setblocking(False)
    made = []

    def factory():
        made.append(Peer())
        return made[-1]

    async def main():
        transport, peer = await loop.connect_accepted_socket(
            factory, accepted)
        assert made == [peer] and peer.transport is transport
        assert not accepted.getblocking()
        assert transport.get_extra_info('socket').fileno() == \
            accepted.fileno()
        assert transport.get_extra_info('peername') == client.getsockname()
        assert transport.get_extra_info('sockname') == client.getpeername()
        await loop.sock_sendall(client, b'to the server side')
        assert await peer.received(18) == b'to the server side'
        transport.write(b'back')
        assert await loop.sock_recv(client, 4) == b'back'
        client.shutdown(socket.SHUT_WR)
        await peer.wait_eof()
        await peer.close()
        assert accepted.fileno() == -1
        assert await loop.sock_recv(client, 1) == b''
    try:
        run(loop, main())
    finally:
        client.close()
        accepted.close()


def test_connect_accepted_socket_argument_errors(loop):
    name = base_events.BaseEventLoop.connect_accepted_socket.__qualname__
    exc = raised(loop, _call(loop.connect_accepted_socket, Peer))
    assert_error(exc, TypeError,
                 f"{name}() missing 1 required positional argument: 'sock'")
    exc = raised(loop, loop.connect_accepted_socket(Peer, None))
    assert_error(exc, AttributeError,
                 "'NoneType' object has no attribute 'type'")
    with socket.socket(type=socket.SOCK_DGRAM) as dgram:
        exc = raised(loop, loop.connect_accepted_socket(Peer, dgram))
        assert_error(exc, ValueError,
                     f'A Stream Socket was expected, got {dgram!r}')
    with socket.socket() as sock:
        exc = raised(loop, loop.connect_accepted_socket(
            Peer, sock, ssl_handshake_timeout=1.0))
        assert_error(exc, ValueError,
                     'ssl_handshake_timeout is only meaningful with ssl')
        assert sock.fileno() != -1


async def _call(method, *args, **kwargs):
    # The TypeError of a bad call, raised inside a coroutine so that raised()
    # can run it (calling the method is what fails).
    return await method(*args, **kwargs)


# -- streams: open_connection / open_unix_connection --------------------------

async def _stream_echo(reader, writer):
    try:
        while True:
            line = await reader.readline()
            if not line:
                break
            writer.write(line)
            await writer.drain()
    finally:
        writer.close()


@contextlib.asynccontextmanager
async def stream_server(handler, unix_path=None):
    mine = asyncio.all_tasks()
    if unix_path is None:
        server = await asyncio.start_server(handler, HOST, 0)
    else:
        server = await asyncio.start_unix_server(handler, unix_path)
    try:
        yield server
    finally:
        server.close()
        await server.wait_closed()
        await other_tasks_finish(mine)


async def _open(server, unix_path, **kwargs):
    if unix_path is None:
        return await asyncio.open_connection(
            *server.sockets[0].getsockname(), **kwargs)
    return await asyncio.open_unix_connection(unix_path, **kwargs)


@pytest.mark.parametrize('kind', ['tcp', 'unix'])
def test_open_connection(loop, kind, unix_dir):
    unix_path = str(unix_dir / 's') if kind == 'unix' else None

    async def main():
        async with stream_server(_stream_echo, unix_path) as server:
            reader, writer = await _open(server, unix_path)
            server_name = server.sockets[0].getsockname()
            assert writer.get_extra_info('peername') == server_name
            writer.write(b'line one\nline two\n')
            assert await reader.readline() == b'line one\n'
            assert await reader.readline() == b'line two\n'
            writer.write_eof()
            assert await reader.read() == b''
            assert reader.at_eof()
            writer.close()
            await writer.wait_closed()
    run(loop, main())


@pytest.mark.parametrize('kind', ['tcp', 'unix'])
def test_open_connection_limit_on_lines(loop, kind, unix_dir):
    # A line longer than limit=: readline() raises ValueError and drops it
    # (its separator was in the buffer); the next line reads fine.  The
    # server sends both in one write, so they arrive in one piece.
    unix_path = str(unix_dir / 's') if kind == 'unix' else None

    async def send_lines(reader, writer):
        writer.write(b'x' * 100 + b'\n' + b'ok\n')
        await writer.drain()
        await reader.read()
        writer.close()

    async def main():
        async with stream_server(send_lines, unix_path) as server:
            reader, writer = await _open(server, unix_path, limit=10)
            with pytest.raises(ValueError) as info:
                await reader.readline()
            assert str(info.value) == (
                'Separator is found, but chunk is longer than limit')
            assert await reader.readline() == b'ok\n'
            writer.close()
            await writer.wait_closed()
    run(loop, main())


@pytest.mark.parametrize('kind', ['tcp', 'unix'])
def test_open_connection_limit_pauses_reading(loop, kind, unix_dir):
    # StreamReader pauses its transport once more than 2 * limit bytes wait
    # in its buffer, and resumes it as they are read: all the data arrives.
    unix_path = str(unix_dir / 's') if kind == 'unix' else None
    payload = bytes(range(256)) * 1024        # 256 KiB

    async def send_payload(reader, writer):
        writer.write(payload)
        await writer.drain()
        await reader.read()
        writer.close()

    async def main():
        async with stream_server(send_payload, unix_path) as server:
            reader, writer = await _open(server, unix_path, limit=1024)
            transport = writer.transport
            for _ in range(1000):
                if not transport.is_reading():
                    break
                await asyncio.sleep(0.01)
            assert not transport.is_reading()
            assert await reader.readexactly(len(payload)) == payload
            assert transport.is_reading()
            writer.close()
            await writer.wait_closed()
    run(loop, main())


def test_patching_asyncio_loop_classes_applies(loop, monkeypatch):
    # Test suites patch asyncio's loop classes to fake a slow connect or a
    # resolver (asyncssh: mock.patch('asyncio.BaseEventLoop.create_connection',
    # ...)), which changes every asyncio loop.  Ours runs asyncio's own
    # connection code, looked up there at each call: the patch applies too.
    calls = []

    async def fake_connect(self, *args):
        calls.append((self, args))
        return 'faked'

    monkeypatch.setattr(asyncio.BaseEventLoop, 'create_connection',
                        fake_connect)
    assert run(loop, loop.create_connection(
        asyncio.Protocol, 'unresolvable.invalid', 1)) == 'faked'
    assert calls == [(loop, (asyncio.Protocol, 'unresolvable.invalid', 1))]

    # A Mock is no descriptor: called without the loop, as on asyncio.
    fake_nameinfo = unittest.mock.AsyncMock(return_value=('host', 'port'))
    monkeypatch.setattr(asyncio.BaseEventLoop, 'getnameinfo', fake_nameinfo)
    assert run(loop, loop.getnameinfo(('127.0.0.1', 1))) == ('host', 'port')
    fake_nameinfo.assert_awaited_once_with(('127.0.0.1', 1))

    monkeypatch.undo()
    assert run(loop, loop.getnameinfo(('127.0.0.1', 80), socket.NI_NUMERICHOST
                                      | socket.NI_NUMERICSERV)) == (
        '127.0.0.1', '80')
