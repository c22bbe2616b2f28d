"""Servers on both loops: create_server and create_unix_server (where they
listen, their options and argument errors), the Server object, the accept
loop under fd exhaustion and under 2000 connections, connection callbacks,
and asyncio.start_server / start_unix_server."""
import asyncio
import errno
import gc
import logging
import os
import pathlib
import random
import resource
import socket
import ssl
import stat
import sys
import time
import uuid
import zlib

import pytest

from support import has_ipv6_loopback, polls


class AcceptFails:
    """A listening socket whose accept() fails with an unexpected errno."""

    def __init__(self, sock):
        self.sock = sock

    def fileno(self):
        return self.sock.fileno()

    def accept(self):
        raise OSError(errno.EPROTO, 'Protocol error')

    def close(self):
        self.sock.close()


def test_unexpected_accept_error_goes_to_the_handler(loop):
    # _start_serving is what Server uses on both loops (a private method
    # with the same signature): an accept() failing with an errno asyncio
    # does not expect is reported, and the loop keeps running.
    errors = []
    loop.set_exception_handler(lambda lp, ctx: errors.append(ctx))
    listener = socket.socket()
    listener.bind(('127.0.0.1', 0))
    listener.listen()
    listener.setblocking(False)
    bad = AcceptFails(listener)

    async def main():
        loop._start_serving(asyncio.Protocol, bad)
        with socket.create_connection(listener.getsockname()):
            for _ in range(100):
                if errors:
                    break
                await asyncio.sleep(0.005)
        loop._stop_serving(bad)
        return 'still running'

    try:
        assert loop.run_until_complete(main()) == 'still running'
    finally:
        listener.close()
    assert errors and isinstance(errors[0]['exception'], OSError)
    assert errors[0]['exception'].errno == errno.EPROTO


# -- helpers ------------------------------------------------------------------
#
# create_server, create_unix_server and the Server object are the running
# interpreter's asyncio code on both loops (docs/architecture.md); under them
# the accept loop (_start_serving), the transports and _stop_serving are each
# loop's own.  The tests below pin what a user sees, on each Python version
# as that version's asyncio has it.

HOST = '127.0.0.1'
PY313 = sys.version_info >= (3, 13)
# 3.12 made Server.wait_closed() wait for the server's connections to end
# even when it is called after close() (3.10 and 3.11 return at once then).
WAIT_CLOSED_WAITS_FOR_CONNECTIONS = sys.version_info >= (3, 12)
# gh-110894 (3.11.7 and 3.12.1): an exception escaping a coroutine
# client_connected_cb goes to the exception handler and closes the
# transport.  Before, the task kept it and the connection stayed open.
CB_EXCEPTION_CLOSES = ((3, 11, 7) <= sys.version_info < (3, 12)
                       or sys.version_info >= (3, 12, 1))


needs_ipv6 = pytest.mark.skipif(not has_ipv6_loopback(),
                                reason='this machine has no IPv6 loopback')


def run(loop, coro, timeout=20):
    """run_until_complete with a bound: a hang fails instead of hanging."""
    return loop.run_until_complete(asyncio.wait_for(coro, timeout))


async def until(predicate, timeout=10):
    """Let the loop run until predicate() is true (fail after `timeout`)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, 'condition never became true'
        await asyncio.sleep(0.001)


async def passes(n=10):
    """Let the running loop go round n times."""
    for _ in range(n):
        await asyncio.sleep(0)


class Echo(asyncio.Protocol):
    """Server side: echoes what it receives and closes on EOF; `lost` is
    done once the connection is over."""

    def __init__(self, loop):
        self.transport = None
        self.peername = self.sockname = None
        self.lost = loop.create_future()

    def connection_made(self, transport):
        self.transport = transport
        self.peername = transport.get_extra_info('peername')
        self.sockname = transport.get_extra_info('sockname')

    def data_received(self, data):
        self.transport.write(data)

    def eof_received(self):
        return False            # close once the echo is flushed

    def connection_lost(self, exc):
        if not self.lost.done():
            self.lost.set_result(exc)


class Echoes:
    """A protocol factory of Echo that keeps the protocols it made."""

    def __init__(self, loop, protocol=Echo):
        self.loop = loop
        self.protocol = protocol
        self.made = []

    def __call__(self):
        p = self.protocol(self.loop)
        self.made.append(p)
        return p

    async def all_lost(self):
        await asyncio.gather(*(p.lost for p in self.made))


async def echo_once(loop, address, family=socket.AF_INET, data=b'ping'):
    """A client: connect, send `data`, half-close; what came back by EOF."""
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.setblocking(False)
        await loop.sock_connect(s, address)
        await loop.sock_sendall(s, data)
        s.shutdown(socket.SHUT_WR)
        got = b''
        while chunk := await loop.sock_recv(s, 65536):
            got += chunk
        return got


def loopback_of(sockname):
    """Where a client connects to reach a socket bound to `sockname`."""
    host, port = sockname[:2]
    return {'0.0.0.0': '127.0.0.1', '::': '::1'}.get(host, host), port


# -- create_server: where it listens ------------------------------------------

@pytest.mark.parametrize('host', [None, ''])
def test_create_server_without_host_listens_on_every_interface(loop, host):
    # One socket per address getaddrinfo gives for a passive wildcard
    # (0.0.0.0 and ::), each with its own port (port 0), the IPv6 one
    # IPv6-only (asyncio turns dual stack off).
    factory = Echoes(loop)
    wildcard = socket.getaddrinfo(None, 0, socket.AF_UNSPEC,
                                  socket.SOCK_STREAM, 0, socket.AI_PASSIVE)

    async def main():
        server = await loop.create_server(factory, host, 0)
        try:
            socks = server.sockets
            assert len(socks) == len(wildcard)
            assert ({(s.family, s.getsockname()[0]) for s in socks}
                    == {(ai[0], ai[4][0]) for ai in wildcard})
            for s in socks:
                assert s.type == socket.SOCK_STREAM
                assert s.getsockname()[1] != 0
                if s.family == socket.AF_INET6:
                    assert s.getsockopt(socket.IPPROTO_IPV6,
                                        socket.IPV6_V6ONLY) == 1
                assert await echo_once(loop, loopback_of(s.getsockname()),
                                       s.family) == b'ping'
        finally:
            server.close()
        await factory.all_lost()
        assert len(factory.made) == len(wildcard)

    run(loop, main())


@needs_ipv6
def test_wildcard_server_has_ipv4_and_ipv6_sockets(loop):
    async def main():
        server = await loop.create_server(asyncio.Protocol, None, 0)
        try:
            families = sorted(s.family for s in server.sockets)
        finally:
            server.close()
        assert families == [socket.AF_INET, socket.AF_INET6]

    run(loop, main())


@needs_ipv6
def test_create_server_on_a_list_of_hosts(loop):
    factory = Echoes(loop)

    async def main():
        server = await loop.create_server(factory, [HOST, '::1'], 0)
        try:
            socks = server.sockets
            assert sorted((s.family, s.getsockname()[0]) for s in socks) == [
                (socket.AF_INET, HOST), (socket.AF_INET6, '::1')]
            for s in socks:
                assert s.getsockname()[1] != 0
                assert await echo_once(loop, s.getsockname(),
                                       s.family) == b'ping'
        finally:
            server.close()
        await factory.all_lost()

    run(loop, main())


def test_create_server_on_a_host_listed_twice_binds_once(loop):
    async def main():
        server = await loop.create_server(asyncio.Protocol, [HOST, HOST], 0)
        try:
            assert [s.getsockname()[0] for s in server.sockets] == [HOST]
        finally:
            server.close()

    run(loop, main())


def test_create_server_on_localhost(loop):
    # A socket per address 'localhost' resolves to (passive, stream).
    factory = Echoes(loop)
    expected = socket.getaddrinfo('localhost', 0, socket.AF_UNSPEC,
                                  socket.SOCK_STREAM, 0, socket.AI_PASSIVE)

    async def main():
        server = await loop.create_server(factory, 'localhost', 0)
        try:
            socks = server.sockets
            assert (sorted((s.family, s.getsockname()[0]) for s in socks)
                    == sorted({(ai[0], ai[4][0]) for ai in expected}))
            for s in socks:
                assert s.getsockname()[1] != 0
                assert await echo_once(loop, s.getsockname(),
                                       s.family) == b'ping'
        finally:
            server.close()
        await factory.all_lost()

    run(loop, main())


# -- create_server: socket options --------------------------------------------

@pytest.mark.parametrize('reuse_address, expected', [
    (None, True),          # asyncio's default on POSIX
    (True, True),
    (False, False),
])
def test_create_server_reuse_address(loop, reuse_address, expected):
    async def main():
        server = await loop.create_server(asyncio.Protocol, HOST, 0,
                                          reuse_address=reuse_address)
        try:
            [s] = server.sockets
            got = s.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR)
        finally:
            server.close()
        assert bool(got) is expected

    run(loop, main())


def test_create_server_reuse_port_two_servers_share_a_port(loop):
    first, second = Echoes(loop), Echoes(loop)

    async def main():
        s1 = await loop.create_server(first, HOST, 0, reuse_port=True)
        port = s1.sockets[0].getsockname()[1]
        try:
            s2 = await loop.create_server(second, HOST, port,
                                          reuse_port=True)
        except BaseException:
            s1.close()
            raise
        try:
            for server in (s1, s2):
                [s] = server.sockets
                assert s.getsockname() == (HOST, port)
                assert s.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT)
            # The kernel spreads connections over the two listeners by a
            # hash of the client's address and port: within 200 connections
            # each gets some (all on one: a chance of 2**-199).
            for _ in range(200):
                assert await echo_once(loop, (HOST, port)) == b'ping'
                if first.made and second.made:
                    break
            assert first.made and second.made
        finally:
            s1.close()
            s2.close()
        await first.all_lost()
        await second.all_lost()

    run(loop, main())


@pytest.mark.skipif(not PY313, reason='keep_alive is new in 3.13')
@pytest.mark.parametrize('keep_alive', [None, False, True])
def test_create_server_keep_alive(loop, keep_alive):
    # SO_KEEPALIVE is set on the listening socket; Linux copies it to the
    # sockets accept() returns, which are what the transports own.
    factory = Echoes(loop)

    async def main():
        server = await loop.create_server(factory, HOST, 0,
                                          keep_alive=keep_alive)
        try:
            [listening] = server.sockets
            with socket.create_connection(listening.getsockname()):
                await until(lambda: factory.made
                            and factory.made[0].transport)
                conn = factory.made[0].transport.get_extra_info('socket')
                accepted = conn.getsockopt(socket.SOL_SOCKET,
                                           socket.SO_KEEPALIVE)
            listened = listening.getsockopt(socket.SOL_SOCKET,
                                            socket.SO_KEEPALIVE)
        finally:
            server.close()
        await factory.all_lost()
        assert bool(listened) is bool(keep_alive)
        assert bool(accepted) is bool(keep_alive)

    run(loop, main())


@pytest.mark.skipif(PY313, reason='3.13 has keep_alive')
def test_create_server_keep_alive_is_unknown_before_313(loop):
    async def main():
        with pytest.raises(TypeError,
                           match="unexpected keyword argument 'keep_alive'"):
            await loop.create_server(asyncio.Protocol, HOST, 0,
                                     keep_alive=True)

    run(loop, main())


class ListenSpy(socket.socket):
    """A socket that remembers the arguments of its listen() calls."""

    def listen(self, *args):
        self.listened = getattr(self, 'listened', []) + [args]
        super().listen(*args)


@pytest.mark.parametrize('backlog', [None, 2, 7])
def test_create_server_listens_with_backlog(loop, backlog):
    kwargs = {} if backlog is None else {'backlog': backlog}

    async def main():
        sock = ListenSpy()
        sock.bind((HOST, 0))
        server = await loop.create_server(asyncio.Protocol, sock=sock,
                                          **kwargs)
        server.close()
        assert sock.listened == [(100 if backlog is None else backlog,)]

    run(loop, main())


def test_more_pending_connections_than_backlog_are_all_accepted(loop):
    # backlog is also how many connections the accept loop takes per
    # readiness event: with 3 waiting and a backlog of 2 (Linux queues
    # backlog + 1 handshakes), the third is taken on a later pass.
    factory = Echoes(loop)
    server = run(loop, loop.create_server(factory, HOST, 0, backlog=2))
    address = server.sockets[0].getsockname()
    clients = []
    try:
        for _ in range(3):      # the loop is not running: nothing accepted
            c = socket.socket()
            clients.append(c)
            c.settimeout(5)
            c.connect(address)
            c.setblocking(False)

        async def serve_all():
            for i, c in enumerate(clients):
                await loop.sock_sendall(c, b'%d' % i)
                assert await loop.sock_recv(c, 10) == b'%d' % i
            for c in clients:
                c.close()
            await factory.all_lost()

        run(loop, serve_all())
        assert len(factory.made) == 3
    finally:
        server.close()
        for c in clients:
            c.close()


# -- create_server: start_serving=False, sock= --------------------------------

def test_start_serving_false_then_start_serving(loop):
    factory = Echoes(loop)

    async def main():
        server = await loop.create_server(factory, HOST, 0,
                                          start_serving=False)
        try:
            assert not server.is_serving()
            address = server.sockets[0].getsockname()
            # Bound but not listening yet: Server calls listen() when it
            # starts serving.
            with pytest.raises(ConnectionRefusedError):
                await echo_once(loop, address)
            await server.start_serving()
            assert server.is_serving()
            assert await echo_once(loop, address) == b'ping'
            await server.start_serving()      # again: nothing changes
            assert server.is_serving()
            assert await echo_once(loop, address) == b'ping'
        finally:
            server.close()
        await factory.all_lost()
        assert len(factory.made) == 2

    run(loop, main())


def test_start_serving_false_then_serve_forever(loop):
    factory = Echoes(loop)

    async def main():
        server = await loop.create_server(factory, HOST, 0,
                                          start_serving=False)
        address = server.sockets[0].getsockname()
        task = asyncio.ensure_future(server.serve_forever())
        await asyncio.sleep(0)
        try:
            assert server.is_serving()
            assert await echo_once(loop, address) == b'ping'
        finally:
            task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert not server.is_serving()
        assert server.sockets == ()
        await factory.all_lost()

    run(loop, main())


@pytest.mark.parametrize('listening', [False, True])
def test_create_server_on_a_given_socket(loop, listening):
    factory = Echoes(loop)

    async def main():
        sock = socket.socket()
        sock.bind((HOST, 0))
        if listening:
            sock.listen()
        server = await loop.create_server(factory, sock=sock)
        try:
            [s] = server.sockets
            assert s.fileno() == sock.fileno()
            assert not sock.getblocking()
            assert await echo_once(loop, sock.getsockname()) == b'ping'
        finally:
            server.close()
        assert sock.fileno() == -1          # the server closed it
        await factory.all_lost()

    run(loop, main())


@pytest.mark.parametrize('family, type', [
    (socket.AF_INET, socket.SOCK_DGRAM),
    (socket.AF_UNIX, socket.SOCK_DGRAM),
])
def test_create_server_on_a_socket_that_is_not_a_stream(loop, family, type):
    async def main():
        with socket.socket(family, type) as sock:
            with pytest.raises(ValueError) as caught:
                await loop.create_server(asyncio.Protocol, sock=sock)
            assert str(caught.value) == (
                f'A Stream Socket was expected, got {sock!r}')
            assert sock.fileno() != -1      # left open: the caller's

    run(loop, main())


# -- create_server: argument errors -------------------------------------------

def _server_argument_errors():
    # sock: True for a plain stream socket, 'ssl' for an SSLSocket.
    at = {'host': HOST, 'port': 0}
    both = 'host/port and sock can not be specified at the same time'
    not_a_context = 'ssl argument must be an SSLContext or None'
    cases = [
        ('host and sock', {**at, 'sock': True}, ValueError, both),
        ('port and sock', {'port': 0, 'sock': True}, ValueError, both),
        ('neither', {}, ValueError,
         'Neither host/port nor sock were specified'),
        ('handshake timeout without ssl',
         {**at, 'ssl_handshake_timeout': 1.0}, ValueError,
         'ssl_handshake_timeout is only meaningful with ssl'),
        ('ssl=True', {**at, 'ssl': True}, TypeError, not_a_context),
        ('ssl=False', {**at, 'ssl': False}, TypeError, not_a_context),
        ('an SSLSocket', {'sock': 'ssl'}, TypeError,
         'Socket cannot be of type SSLSocket'),
    ]
    if sys.version_info >= (3, 11):
        cases.append((
            'shutdown timeout without ssl',
            {**at, 'ssl_shutdown_timeout': 1.0}, ValueError,
            'ssl_shutdown_timeout is only meaningful with ssl'))
    return [pytest.param(*case[1:], id=case[0]) for case in cases]


@pytest.mark.parametrize('kwargs, exc_type, message',
                         _server_argument_errors())
def test_create_server_argument_errors(loop, kwargs, exc_type, message):
    kwargs = dict(kwargs)
    with socket.socket() as plain:
        if kwargs.get('sock') is True:
            kwargs['sock'] = plain
        elif kwargs.get('sock') == 'ssl':
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            kwargs['sock'] = context.wrap_socket(socket.socket(),
                                                 server_hostname='x')
        try:
            with pytest.raises(exc_type) as caught:
                run(loop, loop.create_server(asyncio.Protocol, **kwargs))
        finally:
            if kwargs.get('sock') not in (None, plain):
                kwargs['sock'].close()
    assert str(caught.value) == message


@pytest.mark.skipif(sys.version_info >= (3, 11),
                    reason='ssl_shutdown_timeout is new in 3.11')
def test_create_server_ssl_shutdown_timeout_is_unknown_on_310(loop):
    with pytest.raises(TypeError,
                       match="unexpected keyword argument "
                             "'ssl_shutdown_timeout'"):
        run(loop, loop.create_server(asyncio.Protocol, HOST, 0,
                                     ssl_shutdown_timeout=1.0))


@pytest.mark.parametrize('second', [{}, {'reuse_port': True}])
def test_create_server_address_in_use(loop, second):
    # asyncio's message names the address; the errno is the bind's.
    async def main():
        server = await loop.create_server(asyncio.Protocol, HOST, 0)
        port = server.sockets[0].getsockname()[1]
        try:
            with pytest.raises(OSError) as caught:
                await loop.create_server(asyncio.Protocol, HOST, port,
                                         **second)
        finally:
            server.close()
        return caught.value, port

    err, port = run(loop, main())
    bind_error = OSError(errno.EADDRINUSE, os.strerror(errno.EADDRINUSE))
    # 3.13 quotes the whole bind error ('[errno 98] address already in
    # use'); before, its strerror only.
    why = str(bind_error) if PY313 else bind_error.strerror
    assert type(err) is OSError
    assert err.errno == errno.EADDRINUSE
    assert err.strerror == (f'error while attempting to bind on address '
                            f'{(HOST, port)!r}: {why.lower()}')
    assert err.__cause__ is None and err.__suppress_context__


# -- the Server object --------------------------------------------------------

def test_server_object(loop, loop_kind):
    async def main():
        server = await loop.create_server(asyncio.Protocol, HOST, 0,
                                          start_serving=False)
        assert isinstance(server, asyncio.AbstractServer)
        if loop_kind == 'asyncio':
            assert type(server) is asyncio.base_events.Server
        assert server.get_loop() is loop
        socks = server.sockets
        assert type(socks) is tuple and len(socks) == 1
        assert isinstance(socks[0], asyncio.trsock.TransportSocket)
        assert socks[0].getsockname()[0] == HOST
        assert repr(server) == f'<Server sockets={socks!r}>'
        assert repr(server).startswith(
            f'<Server sockets=(<asyncio.TransportSocket '
            f'fd={socks[0].fileno()}, ')
        assert not server.is_serving()
        await server.start_serving()
        assert server.is_serving()
        server.close()
        assert not server.is_serving()
        assert server.sockets == ()
        assert repr(server) == '<Server sockets=()>'
        server.close()                      # again: nothing to do
        await server.wait_closed()

    run(loop, main())


def test_close_stops_accepting(loop):
    async def main():
        server = await loop.create_server(asyncio.Protocol, HOST, 0)
        address = server.sockets[0].getsockname()
        server.close()
        with pytest.raises(ConnectionRefusedError):
            await echo_once(loop, address)

    run(loop, main())


async def _one_connection(loop, factory):
    """A server of `factory` with one client connected and its connection
    made on the server's side: (server, client socket)."""
    server = await loop.create_server(factory, HOST, 0)
    client = socket.create_connection(server.sockets[0].getsockname(),
                                      timeout=5)
    client.setblocking(False)
    await until(lambda: factory.made and factory.made[0].transport)
    return server, client


def test_wait_closed_after_close_with_a_connection(loop):
    # 3.12+: wait_closed() waits for the server's connections to end.
    # 3.10 and 3.11: once the server is closed it returns at once.
    factory = Echoes(loop)

    async def main():
        server, client = await _one_connection(loop, factory)
        with client:
            server.close()
            waiter = asyncio.ensure_future(server.wait_closed())
            await passes()
            assert waiter.done() is not WAIT_CLOSED_WAITS_FOR_CONNECTIONS
        await factory.all_lost()       # the client's EOF closed it
        await waiter

    run(loop, main())


def test_wait_closed_before_close_waits_for_connections(loop):
    # Waiting before close() waits for both the close and the connections
    # on every version (3.12.0 alone returned when no connection was open).
    factory = Echoes(loop)

    async def main():
        server, client = await _one_connection(loop, factory)
        with client:
            waiter = asyncio.ensure_future(server.wait_closed())
            await passes()
            assert not waiter.done()
            server.close()
            await passes()
            assert not waiter.done()
        await factory.all_lost()
        await waiter

    run(loop, main())


def test_wait_closed_before_close_without_connections(loop):
    async def main():
        server = await loop.create_server(asyncio.Protocol, HOST, 0)
        waiter = asyncio.ensure_future(server.wait_closed())
        await passes()
        if sys.version_info[:3] != (3, 12, 0):
            assert not waiter.done()
        server.close()
        await waiter

    run(loop, main())


class Flood(Echo):
    """Server side: writes FLOOD bytes at once, more than the socket
    buffers of both ends hold: most of it waits in the transport."""

    SIZE = 32 * 1024 * 1024

    def connection_made(self, transport):
        super().connection_made(transport)
        transport.write(b'x' * self.SIZE)


async def _read_to_end(loop, sock):
    """Bytes read until EOF (or a reset), and how the stream ended."""
    n = 0
    while True:
        try:
            chunk = await loop.sock_recv(sock, 1 << 20)
        except ConnectionResetError:
            return n, 'reset'
        if not chunk:
            return n, 'eof'
        n += len(chunk)


@pytest.mark.skipif(not PY313, reason='close_clients is new in 3.13')
def test_close_clients_flushes_then_closes(loop):
    factory = Echoes(loop, Flood)

    async def main():
        server, client = await _one_connection(loop, factory)
        with client:
            server.close()
            server.close_clients()
            assert factory.made[0].transport.is_closing()
            assert await _read_to_end(loop, client) == (Flood.SIZE, 'eof')
        await factory.all_lost()
        await server.wait_closed()

    run(loop, main())


@pytest.mark.skipif(not PY313, reason='abort_clients is new in 3.13')
def test_abort_clients_drops_what_is_buffered(loop):
    factory = Echoes(loop, Flood)

    async def main():
        server, client = await _one_connection(loop, factory)
        with client:
            server.close()
            server.abort_clients()
            # connection_lost comes at once, not after a flush.
            await factory.all_lost()
            got, _ = await _read_to_end(loop, client)
            assert got < Flood.SIZE
        await server.wait_closed()

    run(loop, main())


@pytest.mark.skipif(PY313, reason='3.13 has close_clients/abort_clients')
def test_no_close_clients_before_313(loop):
    async def main():
        server = await loop.create_server(asyncio.Protocol, HOST, 0)
        server.close()
        assert not hasattr(server, 'close_clients')
        assert not hasattr(server, 'abort_clients')

    run(loop, main())


def test_server_as_async_context_manager(loop):
    factory = Echoes(loop)

    async def main():
        server = await loop.create_server(factory, HOST, 0)
        address = server.sockets[0].getsockname()
        async with server as entered:
            assert entered is server
            assert server.is_serving()
            assert await echo_once(loop, address) == b'ping'
        assert not server.is_serving()
        assert server.sockets == ()
        await factory.all_lost()

    run(loop, main())


def test_serve_forever_cancelled_closes_the_server(loop):
    async def main():
        server = await loop.create_server(asyncio.Protocol, HOST, 0)
        address = server.sockets[0].getsockname()
        task = asyncio.ensure_future(server.serve_forever())
        await passes()
        assert not task.done() and server.is_serving()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert not server.is_serving()
        assert server.sockets == ()
        with pytest.raises(ConnectionRefusedError):
            await echo_once(loop, address)

    run(loop, main())


def test_serve_forever_on_a_closed_server(loop):
    async def main():
        server = await loop.create_server(asyncio.Protocol, HOST, 0)
        server.close()
        with pytest.raises(RuntimeError) as caught:
            await server.serve_forever()
        assert str(caught.value) == f'server {server!r} is closed'
        assert str(caught.value) == 'server <Server sockets=()> is closed'

    run(loop, main())


def test_serve_forever_twice(loop):
    async def main():
        server = await loop.create_server(asyncio.Protocol, HOST, 0)
        task = asyncio.ensure_future(server.serve_forever())
        await passes()
        try:
            with pytest.raises(RuntimeError) as caught:
                await server.serve_forever()
            assert str(caught.value) == (
                f'server {server!r} is already being awaited on '
                f'serve_forever()')
            assert server.is_serving()
        finally:
            task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    run(loop, main())


def test_close_cancels_serve_forever(loop):
    async def main():
        server = await loop.create_server(asyncio.Protocol, HOST, 0)
        task = asyncio.ensure_future(server.serve_forever())
        await passes()
        server.close()
        with pytest.raises(asyncio.CancelledError):
            await task

    run(loop, main())


# -- create_unix_server -------------------------------------------------------

@pytest.fixture
def sock_path(tmp_path):
    """A path for a Unix socket in a fresh directory (removed after)."""
    return str(tmp_path / 's.sock')


async def unix_echo_once(loop, path, data=b'ping'):
    """A client: connect, send `data` (if any), half-close; what came back
    by EOF."""
    with socket.socket(socket.AF_UNIX) as s:
        s.setblocking(False)
        await loop.sock_connect(s, path)
        if data is not None:
            await loop.sock_sendall(s, data)
            s.shutdown(socket.SHUT_WR)
        got = b''
        while chunk := await loop.sock_recv(s, 65536):
            got += chunk
        return got


@pytest.mark.parametrize('as_path', [False, True], ids=['str', 'Path'])
def test_create_unix_server_on_a_path(loop, sock_path, as_path):
    factory = Echoes(loop)

    async def main():
        path = pathlib.Path(sock_path) if as_path else sock_path
        server = await loop.create_unix_server(factory, path)
        try:
            [s] = server.sockets
            assert s.family == socket.AF_UNIX
            assert s.getsockname() == sock_path
            assert stat.S_ISSOCK(os.stat(sock_path).st_mode)
            assert await unix_echo_once(loop, sock_path) == b'ping'
            # An unbound client: accept() names its peer ''.
            assert factory.made[0].peername == ''
            assert factory.made[0].sockname == sock_path
        finally:
            server.close()
        await factory.all_lost()

    run(loop, main())


def test_create_unix_server_replaces_a_stale_socket_file(loop, sock_path):
    stale = socket.socket(socket.AF_UNIX)
    stale.bind(sock_path)
    stale.close()                       # the file stays behind
    assert stat.S_ISSOCK(os.stat(sock_path).st_mode)
    factory = Echoes(loop)

    async def main():
        server = await loop.create_unix_server(factory, sock_path)
        try:
            # (bind() on a path that exists fails: the file was removed.)
            assert await unix_echo_once(loop, sock_path) == b'ping'
        finally:
            server.close()
        await factory.all_lost()

    run(loop, main())


def test_create_unix_server_on_a_regular_file(loop, sock_path):
    # Only socket files are removed: binding over anything else fails.
    with open(sock_path, 'w') as f:
        f.write('not a socket')
    with pytest.raises(OSError) as caught:
        run(loop, loop.create_unix_server(asyncio.Protocol, sock_path))
    assert type(caught.value) is OSError
    assert caught.value.errno == errno.EADDRINUSE
    assert caught.value.strerror == f'Address {sock_path!r} is already in use'
    with open(sock_path) as f:
        assert f.read() == 'not a socket'


@pytest.mark.parametrize('kwargs', [{}, {'cleanup_socket': True},
                                    {'cleanup_socket': False}])
def test_create_unix_server_cleanup_socket(loop, sock_path, kwargs):
    # 3.13 removes the socket file on close unless cleanup_socket=False;
    # before, the file stays and cleanup_socket is unknown.
    if not PY313 and kwargs:
        with pytest.raises(TypeError,
                           match="unexpected keyword argument "
                                 "'cleanup_socket'"):
            run(loop, loop.create_unix_server(asyncio.Protocol, sock_path,
                                              **kwargs))
        assert not os.path.exists(sock_path)
        return

    async def main():
        server = await loop.create_unix_server(asyncio.Protocol, sock_path,
                                               **kwargs)
        assert os.path.exists(sock_path)
        server.close()
        await server.wait_closed()

    run(loop, main())
    removed = PY313 and kwargs.get('cleanup_socket', True)
    assert os.path.exists(sock_path) is not removed


@pytest.mark.skipif(not PY313, reason='3.13 removes the socket file')
def test_create_unix_server_leaves_a_replaced_socket_file(loop, sock_path):
    # The file is removed only if it is still the server's (same inode).
    async def main():
        server = await loop.create_unix_server(asyncio.Protocol, sock_path)
        os.unlink(sock_path)
        with socket.socket(socket.AF_UNIX) as other:
            other.bind(sock_path)
            server.close()
            await server.wait_closed()
            assert os.path.exists(sock_path)

    run(loop, main())


@pytest.mark.skipif(not PY313, reason='3.13 removes the socket file')
def test_unix_server_socket_file_that_cannot_be_checked(loop, tmp_path,
                                                        caplog):
    # The socket file's directory replaced by a regular file: checking the
    # inode fails with ENOTDIR (even as root), which is logged, not raised.
    directory = tmp_path / 'd'
    directory.mkdir()
    path = str(directory / 's.sock')

    async def main():
        server = await loop.create_unix_server(asyncio.Protocol, path)
        directory.rename(tmp_path / 'moved')
        directory.write_text('not a directory')
        server.close()
        await server.wait_closed()

    with caplog.at_level(logging.ERROR, logger='asyncio'):
        run(loop, main())
    message = (f"Unable to clean up listening UNIX socket {path!r}: "
               f"NotADirectoryError(20, 'Not a directory')")
    assert [r.getMessage() for r in caplog.records] == [message]
    assert (tmp_path / 'moved' / 's.sock').exists()


@pytest.mark.skipif(not PY313, reason='3.13 removes the socket file')
def test_unix_server_close_passes_blocking_call_detectors(loop, sock_path,
                                                          monkeypatch):
    # Blocking-call detectors (blockbuster, which aiohttp's tests use) make
    # os.stat and os.unlink fail in a thread running a loop, unless one of
    # the functions they allow is on the stack, such as asyncio's own
    # create_unix_server and _stop_serving.  The same rule here: closing a
    # Unix server must not trip it, on either loop.
    allowed = {'create_unix_server', '_stop_serving'}
    reported = []

    def detect(func):
        def guarded(*args, **kwargs):
            try:
                asyncio.get_running_loop()
            except RuntimeError:
                return func(*args, **kwargs)
            frame = sys._getframe(1)
            while frame is not None:
                code = frame.f_code
                if (code.co_filename.endswith('asyncio/unix_events.py')
                        and code.co_name in allowed):
                    return func(*args, **kwargs)
                frame = frame.f_back
            reported.append(func.__name__)
            raise AssertionError(f'blocking call to os.{func.__name__}')
        return guarded

    async def main():
        monkeypatch.setattr(os, 'stat', detect(os.stat))
        monkeypatch.setattr(os, 'unlink', detect(os.unlink))
        server = await loop.create_unix_server(asyncio.Protocol, sock_path)
        server.close()
        await server.wait_closed()
        monkeypatch.undo()

    run(loop, main())
    assert reported == []
    assert not os.path.exists(sock_path)


def test_create_unix_server_on_a_given_socket(loop, sock_path):
    factory = Echoes(loop)

    async def main():
        sock = socket.socket(socket.AF_UNIX)
        sock.bind(sock_path)
        server = await loop.create_unix_server(factory, sock=sock)
        try:
            assert server.sockets[0].fileno() == sock.fileno()
            assert await unix_echo_once(loop, sock_path) == b'ping'
        finally:
            server.close()
        assert sock.fileno() == -1
        await factory.all_lost()

    run(loop, main())


def _unix_server_argument_errors():
    # path: True for a path in the test's directory; sock: the (family,
    # type) of a socket to make.
    unix_stream = (socket.AF_UNIX, socket.SOCK_STREAM)
    not_unix_stream = 'A UNIX Domain Stream Socket was expected, got {sock!r}'
    return [
        pytest.param({'path': True, 'sock': unix_stream},
                     'path and sock can not be specified at the same time',
                     id='path and sock'),
        pytest.param({}, 'path was not specified, and no sock specified',
                     id='neither'),
        pytest.param({'sock': (socket.AF_INET, socket.SOCK_STREAM)},
                     not_unix_stream, id='an inet socket'),
        pytest.param({'sock': (socket.AF_UNIX, socket.SOCK_DGRAM)},
                     not_unix_stream, id='a datagram socket'),
        pytest.param({'path': True, 'ssl_handshake_timeout': 1.0},
                     'ssl_handshake_timeout is only meaningful with ssl',
                     id='handshake timeout without ssl'),
    ]


@pytest.mark.parametrize('kwargs, message', _unix_server_argument_errors())
def test_create_unix_server_argument_errors(loop, sock_path, kwargs,
                                            message):
    kwargs = dict(kwargs)
    if kwargs.get('path'):
        kwargs['path'] = sock_path
    sock = None
    if 'sock' in kwargs:
        sock = kwargs['sock'] = socket.socket(*kwargs['sock'])
    try:
        with pytest.raises(ValueError) as caught:
            run(loop, loop.create_unix_server(asyncio.Protocol, **kwargs))
        assert str(caught.value) == message.format(sock=sock)
        assert not os.path.exists(sock_path)
    finally:
        if sock is not None:
            sock.close()


def test_create_unix_server_ssl_must_be_a_context(loop, sock_path):
    with pytest.raises(TypeError) as caught:
        run(loop, loop.create_unix_server(asyncio.Protocol, sock_path,
                                          ssl=True))
    assert str(caught.value) == 'ssl argument must be an SSLContext or None'


def test_create_unix_server_in_the_abstract_namespace(loop):
    # A name starting with a NUL byte has no file: nothing to replace or
    # remove; getsockname() gives it back as bytes.
    name = f'\0loop-test-{os.getpid()}-{uuid.uuid4().hex}'
    factory = Echoes(loop)

    async def main():
        server = await loop.create_unix_server(factory, name)
        try:
            assert server.sockets[0].getsockname() == name.encode()
            assert await unix_echo_once(loop, name) == b'ping'
        finally:
            server.close()
        await factory.all_lost()
        with pytest.raises(ConnectionRefusedError):
            await unix_echo_once(loop, name)

    run(loop, main())


# -- the accept loop out of fds -----------------------------------------------

def _open_fd_count():
    return len(os.listdir('/proc/self/fd'))


def _accept_errors(caplog):
    return [r for r in caplog.records
            if r.name == 'asyncio' and r.getMessage().startswith(
                'socket.accept() out of system resource')]


def test_accept_survives_emfile(loop, caplog):
    # accept() failing with EMFILE leaves the connection queued and the
    # listening socket readable: asyncio reports it, stops watching the
    # socket for ACCEPT_RETRY_DELAY (1 s) and tries again, so the loop
    # neither spins nor dies, and every client is served once fds are free.
    factory = Echoes(loop)
    server = run(loop, loop.create_server(factory, HOST, 0))
    address = server.sockets[0].getsockname()
    clients, hogs = [], []
    limit = resource.getrlimit(resource.RLIMIT_NOFILE)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE,
                           (_open_fd_count() + 16, limit[1]))
        with pytest.raises(OSError) as caught:
            while True:                 # take every fd left
                hogs.append(os.open(os.devnull, os.O_RDONLY))
        assert caught.value.errno == errno.EMFILE
        # Room for five clients' ends only: the server cannot accept them.
        for _ in range(5):
            os.close(hogs.pop())
        for _ in range(5):
            c = socket.socket()
            clients.append(c)
            c.settimeout(5)
            c.connect(address)          # completed by the kernel's backlog
        polls_before, cpu_before = polls(loop), time.process_time()
        wall_before = time.monotonic()
        run(loop, asyncio.sleep(0.3))   # timers still run
        cpu = time.process_time() - cpu_before
        wall = time.monotonic() - wall_before
        n = polls(loop) - polls_before
        assert not factory.made
        assert n < 50, f'{n} polls in {wall:.2f} s: the loop spins'
        assert cpu < 0.5 * wall, f'{cpu:.2f} s of CPU in {wall:.2f} s'
        # asyncio 3.10-3.13 goes on calling accept() after the error, up
        # to `backlog` times per event, and reports each (CPython fixed it
        # later, gh-151615); ours stops at the first, as asyncio now does.
        errors = _accept_errors(caplog)
        assert errors
        for record in errors:
            assert record.levelno == logging.ERROR
            assert record.exc_info[1].errno == errno.EMFILE
            assert ('\nsocket: <asyncio.TransportSocket fd='
                    in record.getMessage())
        # Two fds free: the next retry accepts two clients, then runs out
        # again.
        for _ in range(2):
            os.close(hogs.pop())
        run(loop, until(lambda: len(factory.made) == 2))
        run(loop, until(lambda: len(_accept_errors(caplog)) > len(errors)))
        assert len(factory.made) == 2
    finally:
        for fd in hogs:
            os.close(fd)
        resource.setrlimit(resource.RLIMIT_NOFILE, limit)

    async def echo_all():
        for i, c in enumerate(clients):
            c.setblocking(False)
            await loop.sock_sendall(c, b'client %d' % i)
            c.shutdown(socket.SHUT_WR)
        for i, c in enumerate(clients):
            got = b''
            while chunk := await loop.sock_recv(c, 100):
                got += chunk
            assert got == b'client %d' % i
        await factory.all_lost()

    try:
        run(loop, echo_all())
        assert len(factory.made) == 5
    finally:
        for c in clients:
            c.close()
        server.close()


# -- many connections ---------------------------------------------------------

class ChecksumEcho(Echo):
    """Server side: echoes, and on EOF sends the CRC-32 of all it got."""

    def __init__(self, loop):
        super().__init__(loop)
        self.crc = 0

    def data_received(self, data):
        self.crc = zlib.crc32(data, self.crc)
        self.transport.write(data)

    def eof_received(self):
        self.transport.write(b'%08x' % self.crc)
        return False


def test_2000_concurrent_connections(loop):
    n = 2000
    # Each connection takes two fds here (the client's and the server's).
    needed = _open_fd_count() + 2 * n + 100
    limit = resource.getrlimit(resource.RLIMIT_NOFILE)
    if limit[1] != resource.RLIM_INFINITY and limit[1] < needed:
        pytest.skip(f'the hard fd limit ({limit[1]}) is below the {needed} '
                    f'fds this test needs')
    rng = random.Random(2000)
    payloads = [rng.randbytes(rng.randrange(1, 16384)) for _ in range(n)]
    factory = Echoes(loop, ChecksumEcho)
    open_now = peak = 0
    all_connected = loop.create_future()

    def counted():
        nonlocal open_now, peak
        p = factory()
        open_now += 1
        peak = max(peak, open_now)
        p.lost.add_done_callback(lambda _: uncount())
        return p

    def uncount():
        nonlocal open_now
        open_now -= 1

    async def client(sock, data):
        await loop.sock_connect(sock, address)
        await all_connected             # every client connected at once
        await loop.sock_sendall(sock, data)
        sock.shutdown(socket.SHUT_WR)
        got = bytearray()
        while chunk := await loop.sock_recv(sock, 65536):
            got += chunk
        # The echo, then the server's checksum of what it received.
        echoed, trailer = bytes(got[:-8]), bytes(got[-8:])
        assert echoed == data
        assert trailer == b'%08x' % zlib.crc32(data)

    async def main():
        socks = []
        tasks = []
        try:
            for data in payloads:
                s = socket.socket()
                socks.append(s)
                s.setblocking(False)
                tasks.append(asyncio.ensure_future(client(s, data)))
            await until(lambda: len(factory.made) == n, timeout=60)
            await until(lambda: all(p.transport for p in factory.made),
                        timeout=60)
            assert open_now == n
            all_connected.set_result(None)
            await asyncio.gather(*tasks)
        finally:
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            for s in socks:
                s.close()
        await factory.all_lost()

    if limit[0] != resource.RLIM_INFINITY and limit[0] < needed:
        resource.setrlimit(resource.RLIMIT_NOFILE, (needed, limit[1]))
    try:
        server = run(loop, loop.create_server(counted, HOST, 0, backlog=n))
        address = server.sockets[0].getsockname()
        try:
            run(loop, main(), timeout=120)
        finally:
            server.close()
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, limit)
    assert peak == n
    assert open_now == 0


# -- connection callbacks -----------------------------------------------------

@pytest.mark.parametrize('family, host', [
    (socket.AF_INET, HOST),
    pytest.param(socket.AF_INET6, '::1', marks=needs_ipv6),
])
def test_connection_made_sees_the_peer(loop, family, host):
    factory = Echoes(loop)

    async def main():
        server = await loop.create_server(factory, host, 0)
        try:
            with socket.socket(family) as client:
                client.setblocking(False)
                await loop.sock_connect(client,
                                        server.sockets[0].getsockname())
                await until(lambda: factory.made
                            and factory.made[0].transport)
                [p] = factory.made
                assert isinstance(p.transport, asyncio.Transport)
                assert p.peername == client.getsockname()
                assert p.sockname == client.getpeername()
                sock = p.transport.get_extra_info('socket')
                assert isinstance(sock, asyncio.trsock.TransportSocket)
                assert sock.getpeername() == client.getsockname()
        finally:
            server.close()
        await factory.all_lost()

    run(loop, main())


def _raising_factory():
    raise ZeroDivisionError('no protocol today')


async def _connect_to_failing_factory(loop, errors):
    """A client of a server whose protocol factory raises: what it reads
    (b'' once the server dropped the connection)."""
    server = await loop.create_server(_raising_factory, HOST, 0)
    try:
        with socket.socket() as client:
            client.setblocking(False)
            await loop.sock_connect(client, server.sockets[0].getsockname())
            if loop.get_debug():
                # asyncio lets go of the accepted socket, but its frame is
                # kept by a cycle through the exception it reported: the
                # garbage collector closes it.
                await until(lambda: errors)
                gc.collect()
            return await loop.sock_recv(client, 10)
    finally:
        server.close()


@pytest.mark.filterwarnings('ignore::ResourceWarning')
def test_protocol_factory_raising_in_debug_mode(loop):
    # Reported, and the accepted connection closed (asyncio's socket by
    # the garbage collector: hence the warning it makes).  The handler
    # keeps no exception object: its traceback would keep asyncio's frame,
    # and so the accepted socket, alive.
    errors = []
    loop.set_exception_handler(lambda lp, ctx: errors.append(
        (ctx['message'], repr(ctx.get('exception')), sorted(ctx))))
    loop.set_debug(True)
    assert run(loop, _connect_to_failing_factory(loop, errors)) == b''
    assert errors == [(
        'Error on transport creation for incoming connection',
        "ZeroDivisionError('no protocol today')", ['exception', 'message'])]


@pytest.mark.filterwarnings('ignore::ResourceWarning')
def test_protocol_factory_raising(loop):
    # Without debug mode asyncio reports nothing: the connection is just
    # dropped.
    errors = []
    loop.set_exception_handler(lambda lp, ctx: errors.append(
        (ctx['message'], repr(ctx.get('exception')))))
    assert run(loop, _connect_to_failing_factory(loop, errors)) == b''
    assert errors == []


class RaisesOnConnection(asyncio.Protocol):
    def __init__(self, loop):
        self.transport = None
        self.lost = loop.create_future()

    def connection_made(self, transport):
        self.transport = transport
        raise ZeroDivisionError('not today')

    def connection_lost(self, exc):
        self.lost.set_result(exc)


def test_connection_made_raising_leaves_the_connection_open(loop):
    # connection_made runs as a loop callback: its exception goes to the
    # handler as any callback's, and the transport stays as it was.
    factory = Echoes(loop, RaisesOnConnection)
    errors = []
    loop.set_exception_handler(lambda lp, ctx: errors.append(ctx))

    async def main():
        server, client = await _one_connection(loop, factory)
        with client:
            await until(lambda: errors)
            [p] = factory.made
            assert not p.transport.is_closing()
            with pytest.raises(BlockingIOError):
                client.recv(1)          # no EOF
            [ctx] = errors
            assert repr(ctx['exception']) == "ZeroDivisionError('not today')"
            assert 'handle' in ctx
            p.transport.close()
            await p.lost
            assert client.recv(1) == b''
        server.close()

    run(loop, main())


def test_connection_made_raising_is_reported_as_the_protocols(loop):
    factory = Echoes(loop, RaisesOnConnection)
    errors = []
    loop.set_exception_handler(lambda lp, ctx: errors.append(ctx))

    async def main():
        server, client = await _one_connection(loop, factory)
        with client:
            await until(lambda: errors)
            factory.made[0].transport.close()
        server.close()
        await factory.all_lost()

    run(loop, main())
    assert errors[0]['message'].startswith(
        'Exception in callback RaisesOnConnection.connection_made(')


# -- asyncio.start_server / start_unix_server ---------------------------------

async def _echo_cb(reader, writer):
    writer.write(await reader.read())
    await writer.drain()
    writer.close()
    await writer.wait_closed()


def _greet_cb(reader, writer):
    # A plain function: it may only do what needs no awaiting.
    writer.write(b'hello ' + repr(writer.get_extra_info('peername')).encode())
    writer.close()


def test_start_server_with_a_coroutine_callback(loop):
    async def main():
        server = await asyncio.start_server(_echo_cb, HOST, 0)
        async with server:
            address = server.sockets[0].getsockname()
            results = await asyncio.gather(
                *(echo_once(loop, address, data=b'%d' % i * 1000)
                  for i in range(10)))
            assert results == [b'%d' % i * 1000 for i in range(10)]

    run(loop, main())


def test_start_server_with_a_plain_function_callback(loop):
    async def main():
        server = await asyncio.start_server(_greet_cb, HOST, 0)
        async with server:
            reader, writer = await asyncio.open_connection(
                *server.sockets[0].getsockname())
            peer = repr(writer.get_extra_info('sockname')).encode()
            assert await reader.read() == b'hello ' + peer
            writer.close()
            await writer.wait_closed()

    run(loop, main())


def test_start_server_callback_coroutine_raising(loop):
    # 3.11.7+ and 3.12.1+: the handler hears of it and the connection is
    # closed.  Before: the task keeps the exception and the connection
    # stays open; the task reports it when it is collected, once the
    # connection is over.
    errors = []
    loop.set_exception_handler(lambda lp, ctx: errors.append(ctx))
    writers = []

    async def cb(reader, writer):
        writers.append(writer)
        await reader.readexactly(4)
        raise ZeroDivisionError('cb failed')

    async def main():
        server = await asyncio.start_server(cb, HOST, 0)
        with socket.socket() as client:
            client.setblocking(False)
            await loop.sock_connect(client, server.sockets[0].getsockname())
            await loop.sock_sendall(client, b'ping')
            if CB_EXCEPTION_CLOSES:
                assert await loop.sock_recv(client, 10) == b''
                [ctx] = errors
                assert ctx['message'] == (
                    'Unhandled exception in client_connected_cb')
                assert ctx['transport'] is writers[0].transport
                assert str(ctx['exception']) == 'cb failed'
            else:
                await until(lambda: writers)
                await passes()
                assert errors == []
                with pytest.raises(BlockingIOError):
                    client.recv(1)
                writers[0].close()
                await writers[0].wait_closed()
        server.close()
        await server.wait_closed()
        writers.clear()

    run(loop, main())
    if not CB_EXCEPTION_CLOSES:
        gc.collect()
        [ctx] = errors
        assert ctx['message'] == 'Task exception was never retrieved'
        assert str(ctx['exception']) == 'cb failed'


def test_start_server_callback_function_raising(loop):
    # A plain function's exception escapes connection_made: reported as
    # the callback's, and the connection stays open.
    errors = []
    loop.set_exception_handler(lambda lp, ctx: errors.append(ctx))
    writers = []

    def cb(reader, writer):
        writers.append(writer)
        raise ZeroDivisionError('cb failed')

    async def main():
        server = await asyncio.start_server(cb, HOST, 0)
        with socket.socket() as client:
            client.setblocking(False)
            await loop.sock_connect(client, server.sockets[0].getsockname())
            await until(lambda: errors)
            [ctx] = errors
            assert str(ctx['exception']) == 'cb failed'
            assert ctx['message'].startswith('Exception in callback ')
            assert not writers[0].transport.is_closing()
            with pytest.raises(BlockingIOError):
                client.recv(1)
            writers[0].close()
            await writers[0].wait_closed()
            assert await loop.sock_recv(client, 1) == b''
        server.close()
        await server.wait_closed()
        writers.clear()

    run(loop, main())


@pytest.mark.parametrize('cb', [_echo_cb, _greet_cb],
                         ids=['coroutine', 'function'])
def test_start_unix_server(loop, sock_path, cb):
    async def main():
        server = await asyncio.start_unix_server(cb, sock_path)
        async with server:
            assert server.sockets[0].getsockname() == sock_path
            if cb is _echo_cb:
                assert await unix_echo_once(loop, sock_path) == b'ping'
            else:
                # (No data sent: closing with it unread would reset the
                # connection.)  An unbound Unix client's address is ''.
                got = await unix_echo_once(loop, sock_path, None)
                assert got == b"hello ''"

    run(loop, main())
