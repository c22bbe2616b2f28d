"""Probe what each event loop implements: the source of docs/features.md.

    PYTHONPATH=src python scripts/probe_features.py             # JSON
    PYTHONPATH=src python scripts/probe_features.py --markdown  # the table
    ... --merge a.json b.json --markdown      # runs of several Pythons

For every asyncio.AbstractEventLoop method of the running Python and a set
of transport and server features, each loop (asyncio, uvloop, rloop, loop:
the ones installed) gets a fresh loop on which the probe calls the method
with valid arguments and waits for the outcome.  The result is one of

    yes                  it worked
    missing              the loop has no such attribute
    NotImplementedError  it raised NotImplementedError
    differs              it worked, but not as asyncio's does (the note says)
    <ExceptionName>      it raised something else (the message is kept)
    n/a                  the feature is newer than this Python

Each loop kind runs in a subprocess of its own, so one that crashes or
hangs costs only that probe (reported as `crashes` / `hangs`); the
others go on in a new process.

tests/test_features.py runs these same probes against the running asyncio
and loop and checks them against their columns of docs/features.md.
"""
import argparse
import asyncio
import builtins
import contextlib
import faulthandler
import importlib
import inspect
import json
import os
import platform
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
from concurrent.futures import ThreadPoolExecutor

KINDS = ('asyncio', 'uvloop', 'rloop', 'loop')
PROBE_TIMEOUT = 10      # seconds per probe, generous for a loaded machine
HANG_TIMEOUT = 3 * PROBE_TIMEOUT     # a probe stuck beyond its timeout
HERE = os.path.dirname(os.path.abspath(__file__))


def new_loop(kind):
    if kind == 'asyncio':
        return asyncio.new_event_loop()
    return importlib.import_module(kind).new_event_loop()


def kind_version(kind):
    if kind == 'asyncio':
        return platform.python_version()
    module = importlib.import_module(kind)
    version = getattr(module, '__version__', None)
    if version is None:
        from importlib import metadata
        version = metadata.version(kind)
    return str(version)


# -- the probes ---------------------------------------------------------------

class Probe:
    def __init__(self, title, func, since, method):
        self.title, self.func = title, func
        self.since, self.method = since, method


PROBES = []


def probe(title=None, since=(3, 10)):
    """Register a probe.  Without a title it probes the method named like
    the function (minus `probe_`), titled `name()`."""
    def register(func):
        method = None
        name = title
        if name is None:
            method = func.__name__.removeprefix('probe_')
            name = f'`{method}()`'
        PROBES.append(Probe(name, func, since, method))
        return func
    return register


def applies(p, version=sys.version_info[:2]):
    return tuple(version) >= p.since


def same(actual, expected, what):
    """Fail the probe (result `differs`) where asyncio's answer differs."""
    if actual != expected or type(actual) is not type(expected):
        raise AssertionError(f'{what} gives {actual!r}, asyncio '
                             f'{expected!r}')


class Collector(asyncio.Protocol):
    """A protocol that records what happened to it."""

    def __init__(self):
        self.transport = None
        self.data = bytearray()
        self.made = asyncio.get_running_loop().create_future()
        self.lost = asyncio.get_running_loop().create_future()
        self.paused = 0

    def connection_made(self, transport):
        self.transport = transport
        self.made.set_result(transport)

    def data_received(self, data):
        self.data += data

    def eof_received(self):
        return None

    def pause_writing(self):
        self.paused += 1

    def resume_writing(self):
        pass

    def connection_lost(self, exc):
        if not self.lost.done():
            self.lost.set_result(exc)

    async def read_until(self, size):
        while len(self.data) < size:
            await asyncio.sleep(0.001)
        return bytes(self.data)


class DatagramCollector(asyncio.DatagramProtocol):
    def __init__(self):
        self.transport = None
        self.got = asyncio.get_running_loop().create_future()
        self.lost = asyncio.get_running_loop().create_future()

    def connection_made(self, transport):
        self.transport = transport

    def datagram_received(self, data, addr):
        if not self.got.done():
            self.got.set_result((data, addr))

    def error_received(self, exc):
        pass

    def connection_lost(self, exc):
        if not self.lost.done():
            self.lost.set_result(exc)


@contextlib.asynccontextmanager
async def tcp_pair(loop, server_kwargs=None, client_kwargs=None,
                   server_protocol=Collector):
    """(client protocol, server protocol) over a loopback connection."""
    accepted = []

    def factory():
        accepted.append(server_protocol())
        return accepted[-1]

    server = await loop.create_server(factory, '127.0.0.1', 0,
                                      **(server_kwargs or {}))
    client = None
    try:
        port = server.sockets[0].getsockname()[1]
        _, client = await loop.create_connection(
            Collector, '127.0.0.1', port, **(client_kwargs or {}))
        while not accepted:
            await asyncio.sleep(0.001)
        await accepted[0].made
        yield client, accepted[0]
    finally:
        if client is not None:
            client.transport.close()
        for proto in accepted:
            if proto.transport is not None:
                proto.transport.close()
        server.close()
        await server.wait_closed()


async def nonblocking_pair():
    a, b = socket.socketpair()
    a.setblocking(False)
    b.setblocking(False)
    return a, b


def tls_contexts():
    """(server context, client context) from a throwaway CA (trustme)."""
    import trustme
    ca = trustme.CA()
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert('localhost').configure_cert(server)
    client = ssl.create_default_context()
    ca.configure_trust(client)
    return server, client


# Running and stopping

@probe()
def probe_run_forever(loop):
    loop.call_soon(loop.stop)
    loop.run_forever()


@probe()
def probe_run_until_complete(loop):
    assert loop.run_until_complete(asyncio.sleep(0, 'x')) == 'x'


@probe()
def probe_stop(loop):
    loop.call_soon(loop.stop)
    loop.run_forever()
    assert not loop.is_running()


@probe()
def probe_is_running(loop):
    assert loop.is_running() is False


@probe()
def probe_is_closed(loop):
    assert loop.is_closed() is False


@probe()
def probe_close(loop):
    loop.close()
    assert loop.is_closed()


@probe()
async def probe_shutdown_asyncgens(loop):
    await loop.shutdown_asyncgens()


@probe()
async def probe_shutdown_default_executor(loop):
    await loop.run_in_executor(None, int)
    await loop.shutdown_default_executor()


# Scheduling

@probe()
async def probe_call_soon(loop):
    fut = loop.create_future()
    loop.call_soon(fut.set_result, 1)
    assert await fut == 1


@probe()
async def probe_call_later(loop):
    fut = loop.create_future()
    loop.call_later(0.001, fut.set_result, 1)
    assert await fut == 1


@probe()
async def probe_call_at(loop):
    fut = loop.create_future()
    loop.call_at(loop.time() + 0.001, fut.set_result, 1)
    assert await fut == 1


@probe()
def probe_time(loop):
    assert isinstance(loop.time(), float)


@probe()
async def probe_create_future(loop):
    fut = loop.create_future()
    fut.set_result(1)
    assert await fut == 1


@probe()
async def probe_create_task(loop):
    assert await loop.create_task(asyncio.sleep(0, 1)) == 1


@probe()
async def probe_call_soon_threadsafe(loop):
    fut = loop.create_future()
    thread = threading.Thread(
        target=loop.call_soon_threadsafe, args=(fut.set_result, 1))
    thread.start()
    assert await fut == 1
    thread.join()


@probe()
async def probe_run_in_executor(loop):
    assert await loop.run_in_executor(None, int, '7') == 7


@probe()
async def probe_set_default_executor(loop):
    executor = ThreadPoolExecutor(1)
    loop.set_default_executor(executor)
    assert await loop.run_in_executor(None, int, '7') == 7
    await loop.shutdown_default_executor()


# DNS

@probe()
async def probe_getaddrinfo(loop):
    infos = await loop.getaddrinfo('127.0.0.1', 80, type=socket.SOCK_STREAM)
    assert infos[0][4] == ('127.0.0.1', 80)


@probe()
async def probe_getnameinfo(loop):
    host, port = await loop.getnameinfo(('127.0.0.1', 80),
                                        socket.NI_NUMERICHOST |
                                        socket.NI_NUMERICSERV)
    assert (host, port) == ('127.0.0.1', '80')


# Connections and servers

@probe()
async def probe_create_connection(loop):
    async with tcp_pair(loop) as (client, server):
        client.transport.write(b'ping')
        assert await server.read_until(4) == b'ping'


@probe()
async def probe_create_server(loop):
    async with tcp_pair(loop) as (client, server):
        server.transport.write(b'pong')
        assert await client.read_until(4) == b'pong'


@probe()
async def probe_sendfile(loop):
    with tempfile.TemporaryFile() as f:
        f.write(b'x' * 100_000)
        f.seek(0)
        async with tcp_pair(loop) as (client, server):
            sent = await loop.sendfile(client.transport, f)
            assert sent == 100_000
            assert len(await server.read_until(100_000)) == 100_000


@probe()
async def probe_start_tls(loop):
    # A TLS server; the client connects in the clear, then upgrades.
    server_ctx, client_ctx = tls_contexts()
    server = await loop.create_server(Collector, '127.0.0.1', 0,
                                      ssl=server_ctx)
    try:
        port = server.sockets[0].getsockname()[1]
        transport, client = await loop.create_connection(
            Collector, '127.0.0.1', port)
        tls = await loop.start_tls(transport, client, client_ctx,
                                   server_hostname='localhost')
        assert tls.get_extra_info('ssl_object') is not None
        tls.close()
        await client.lost
    finally:
        server.close()
        await server.wait_closed()


@probe()
async def probe_create_unix_connection(loop):
    await probe_create_unix_server(loop)


@probe()
async def probe_create_unix_server(loop):
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, 'sock')
        accepted = []

        def factory():
            accepted.append(Collector())
            return accepted[-1]

        server = await loop.create_unix_server(factory, path)
        try:
            _, client = await loop.create_unix_connection(Collector, path)
            client.transport.write(b'ping')
            while not accepted:
                await asyncio.sleep(0.001)
            assert await accepted[0].read_until(4) == b'ping'
            client.transport.close()
            accepted[0].transport.close()
        finally:
            server.close()
            await server.wait_closed()


@probe()
async def probe_create_datagram_endpoint(loop):
    rx, server = await loop.create_datagram_endpoint(
        DatagramCollector, local_addr=('127.0.0.1', 0))
    tx, _ = await loop.create_datagram_endpoint(
        DatagramCollector, remote_addr=rx.get_extra_info('sockname'))
    try:
        tx.sendto(b'ping')
        data, _ = await server.got
        assert data == b'ping'
    finally:
        tx.close()
        rx.close()


@probe()
async def probe_connect_accepted_socket(loop):
    a, b = socket.socketpair()
    with b:
        transport, proto = await loop.connect_accepted_socket(Collector, a)
        b.sendall(b'ping')
        assert await proto.read_until(4) == b'ping'
        transport.close()


# Pipes and subprocesses

@probe()
async def probe_connect_read_pipe(loop):
    rfd, wfd = os.pipe()
    pipe = os.fdopen(rfd, 'rb', buffering=0)     # the transport closes it
    transport, proto = await loop.connect_read_pipe(Collector, pipe)
    os.write(wfd, b'ping')
    os.close(wfd)
    assert await proto.read_until(4) == b'ping'
    transport.close()


@probe()
async def probe_connect_write_pipe(loop):
    rfd, wfd = os.pipe()
    pipe = os.fdopen(wfd, 'wb', buffering=0)     # the transport closes it
    transport, proto = await loop.connect_write_pipe(Collector, pipe)
    transport.write(b'ping')
    transport.close()
    await proto.lost        # the write end is closed: read() ends
    with open(rfd, 'rb') as r:  # noqa: ASYNC230 (a pipe)
        assert r.read() == b'ping'


class ProcessCollector(asyncio.SubprocessProtocol):
    def __init__(self):
        self.out = bytearray()
        self.exited = asyncio.get_running_loop().create_future()

    def pipe_data_received(self, fd, data):
        self.out += data

    def process_exited(self):
        self.exited.set_result(None)


async def run_process(loop, method, *args):
    transport, proto = await method(ProcessCollector, *args,
                                    stdin=None, stderr=None)
    await proto.exited
    while transport.get_returncode() is None:
        await asyncio.sleep(0.001)
    # Let the stdout pipe deliver what is left and close.
    for _ in range(50):
        await asyncio.sleep(0.002)
        if proto.out:
            break
    transport.close()
    return proto.out


@probe()
async def probe_subprocess_exec(loop):
    out = await run_process(loop, loop.subprocess_exec, 'echo', 'hi')
    assert out == b'hi\n'


@probe()
async def probe_subprocess_shell(loop):
    out = await run_process(loop, loop.subprocess_shell, 'echo hi')
    assert out == b'hi\n'


# File descriptors

@probe()
async def probe_add_reader(loop):
    a, b = await nonblocking_pair()
    with a, b:
        fut = loop.create_future()
        loop.add_reader(a.fileno(), fut.set_result, 1)
        b.send(b'x')
        assert await fut == 1
        loop.remove_reader(a.fileno())


@probe()
async def probe_remove_reader(loop):
    a, b = await nonblocking_pair()
    with a, b:
        loop.add_reader(a.fileno(), print)
        same(loop.remove_reader(a.fileno()), True, 'removing a reader')
        same(loop.remove_reader(a.fileno()), False, 'removing it again')


@probe()
async def probe_add_writer(loop):
    a, b = await nonblocking_pair()
    with a, b:
        fut = loop.create_future()
        loop.add_writer(a.fileno(), fut.set_result, 1)
        assert await fut == 1
        loop.remove_writer(a.fileno())


@probe()
async def probe_remove_writer(loop):
    a, b = await nonblocking_pair()
    with a, b:
        loop.add_writer(a.fileno(), print)
        same(loop.remove_writer(a.fileno()), True, 'removing a writer')
        same(loop.remove_writer(a.fileno()), False, 'removing it again')


# Low-level socket operations

@probe()
async def probe_sock_recv(loop):
    a, b = await nonblocking_pair()
    with a, b:
        b.send(b'ping')
        assert await loop.sock_recv(a, 10) == b'ping'


@probe()
async def probe_sock_recv_into(loop):
    a, b = await nonblocking_pair()
    with a, b:
        b.send(b'ping')
        buf = bytearray(10)
        assert await loop.sock_recv_into(a, buf) == 4


async def udp_pair():
    a = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    b = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    for s in (a, b):
        s.setblocking(False)
        s.bind(('127.0.0.1', 0))
    return a, b


@probe(since=(3, 11))
async def probe_sock_recvfrom(loop):
    a, b = await udp_pair()
    with a, b:
        b.sendto(b'ping', a.getsockname())
        data, addr = await loop.sock_recvfrom(a, 10)
        assert (data, addr) == (b'ping', b.getsockname())


@probe(since=(3, 11))
async def probe_sock_recvfrom_into(loop):
    a, b = await udp_pair()
    with a, b:
        b.sendto(b'ping', a.getsockname())
        buf = bytearray(10)
        n, addr = await loop.sock_recvfrom_into(a, buf)
        assert (n, addr) == (4, b.getsockname())


@probe(since=(3, 11))
async def probe_sock_sendto(loop):
    a, b = await udp_pair()
    with a, b:
        await loop.sock_sendto(b, b'ping', a.getsockname())
        assert await loop.sock_recv(a, 10) == b'ping'


@probe()
async def probe_sock_sendall(loop):
    a, b = await nonblocking_pair()
    with a, b:
        await loop.sock_sendall(a, b'ping')
        assert await loop.sock_recv(b, 10) == b'ping'


@probe()
async def probe_sock_connect(loop):
    await probe_sock_accept(loop)


@probe()
async def probe_sock_accept(loop):
    with socket.socket() as listener, socket.socket() as client:
        listener.bind(('127.0.0.1', 0))
        listener.listen()
        listener.setblocking(False)
        client.setblocking(False)
        accept = asyncio.ensure_future(loop.sock_accept(listener))
        await loop.sock_connect(client, listener.getsockname())
        conn, addr = await accept
        conn.close()
        assert addr == client.getsockname()


@probe()
async def probe_sock_sendfile(loop):
    a, b = await nonblocking_pair()
    with a, b, tempfile.TemporaryFile() as f:
        f.write(b'x' * 1000)
        f.seek(0)
        assert await loop.sock_sendfile(a, f) == 1000
        got = b''
        while len(got) < 1000:
            got += await loop.sock_recv(b, 1000)


@probe('`sock_*()` return coroutines (`create_task()` takes them)')
async def probe_sock_coroutines(loop):
    not_coroutines = []

    def check(name, awaitable):
        # The test asyncio.create_task() applies.
        if not asyncio.iscoroutine(awaitable):
            not_coroutines.append(f'{name}: {type(awaitable).__name__}')
        return awaitable

    with socket.socket() as listener, socket.socket() as client:
        listener.bind(('127.0.0.1', 0))
        listener.listen()
        listener.setblocking(False)
        client.setblocking(False)
        accept = check('sock_accept', loop.sock_accept(listener))
        accept = asyncio.ensure_future(accept)
        await check('sock_connect',
                    loop.sock_connect(client, listener.getsockname()))
        conn, _ = await accept
        with conn:
            await check('sock_sendall', loop.sock_sendall(client, b'xy'))
            await check('sock_recv', loop.sock_recv(conn, 1))
            await check('sock_recv_into',
                        loop.sock_recv_into(conn, bytearray(1)))
    same(not_coroutines, [], 'methods not returning coroutines')


# Signals

@probe()
async def probe_add_signal_handler(loop):
    fut = loop.create_future()
    loop.add_signal_handler(signal.SIGUSR1, fut.set_result, 1)
    try:
        os.kill(os.getpid(), signal.SIGUSR1)
        assert await fut == 1
    finally:
        loop.remove_signal_handler(signal.SIGUSR1)


@probe()
async def probe_remove_signal_handler(loop):
    loop.add_signal_handler(signal.SIGUSR1, print)
    same(loop.remove_signal_handler(signal.SIGUSR1), True, 'removing it')
    same(loop.remove_signal_handler(signal.SIGUSR1), False,
         'removing it again')


# Task factory, error handling, debug

@probe()
async def probe_set_task_factory(loop):
    made = []

    def factory(loop, coro, **kwargs):
        made.append(coro)
        return asyncio.Task(coro, loop=loop, **kwargs)

    loop.set_task_factory(factory)
    await loop.create_task(asyncio.sleep(0))
    loop.set_task_factory(None)
    assert len(made) == 1


@probe()
def probe_get_task_factory(loop):
    assert loop.get_task_factory() is None


@probe()
def probe_set_exception_handler(loop):
    seen = []
    loop.set_exception_handler(lambda loop, context: seen.append(context))
    loop.call_exception_handler({'message': 'probe'})
    assert seen[0]['message'] == 'probe'


@probe()
def probe_get_exception_handler(loop):
    assert loop.get_exception_handler() is None


@probe()
def probe_call_exception_handler(loop):
    probe_set_exception_handler(loop)


@probe()
def probe_default_exception_handler(loop):
    import logging
    logger = logging.getLogger('asyncio')
    saved = logger.disabled
    logger.disabled = True      # keep the probe's output clean
    try:
        loop.default_exception_handler({'message': 'probe'})
    finally:
        logger.disabled = saved


@probe()
def probe_get_debug(loop):
    assert isinstance(loop.get_debug(), bool)


@probe()
def probe_set_debug(loop):
    loop.set_debug(True)
    same(loop.get_debug(), True, 'get_debug() after set_debug(True)')
    loop.set_debug(False)


# -- transport and server features -----------------------------------------

@probe('Stream transport is an `asyncio.Transport`')
async def probe_transport_isinstance(loop):
    async with tcp_pair(loop) as (client, _):
        same(isinstance(client.transport, asyncio.Transport), True,
             f'isinstance({type(client.transport).__name__}(), '
             'asyncio.Transport)')


@probe("`get_extra_info('socket'/'sockname'/'peername')`")
async def probe_extra_info(loop):
    async with tcp_pair(loop) as (client, server):
        sock = client.transport.get_extra_info('socket')
        assert sock.fileno() >= 0
        assert (client.transport.get_extra_info('peername') ==
                server.transport.get_extra_info('sockname'))


@probe('`writelines()`, `write_eof()`, `can_write_eof()`')
async def probe_write_eof(loop):
    async with tcp_pair(loop) as (client, server):
        client.transport.writelines([b'pi', b'ng'])
        assert client.transport.can_write_eof()
        client.transport.write_eof()
        assert await server.read_until(4) == b'ping'


@probe('`pause_reading()`, `resume_reading()`, `is_reading()`')
async def probe_pause_reading(loop):
    async with tcp_pair(loop) as (client, server):
        server.transport.pause_reading()
        assert not server.transport.is_reading()
        client.transport.write(b'ping')
        await asyncio.sleep(0.01)
        assert not server.data
        server.transport.resume_reading()
        assert server.transport.is_reading()
        assert await server.read_until(4) == b'ping'


@probe('Write flow control: `set_write_buffer_limits()`, `pause_writing()`')
async def probe_write_flow_control(loop):
    async with tcp_pair(loop) as (client, server):
        server.transport.pause_reading()
        transport = client.transport
        transport.set_write_buffer_limits(high=1024)
        assert transport.get_write_buffer_limits()[1] == 1024
        for _ in range(200):
            transport.write(b'x' * 65536)
            if client.paused:
                break
        assert client.paused == 1
        assert transport.get_write_buffer_size() > 1024
        transport.abort()


@probe('`BufferedProtocol` (`get_buffer()`, `buffer_updated()`)')
async def probe_buffered_protocol(loop):
    class Buffered(asyncio.BufferedProtocol):
        def __init__(self):
            self.buf = bytearray(16)
            self.got = bytearray()
            self.made = loop.create_future()
            self.transport = None

        def connection_made(self, transport):
            self.transport = transport
            self.made.set_result(None)

        def get_buffer(self, sizehint):
            return self.buf

        def buffer_updated(self, nbytes):
            self.got += self.buf[:nbytes]

        def connection_lost(self, exc):
            pass

    async with tcp_pair(loop, server_protocol=Buffered) as (client, server):
        client.transport.write(b'ping')
        while len(server.got) < 4:
            await asyncio.sleep(0.001)
        assert server.got == b'ping'


@probe('TLS: `create_server(ssl=)`, `create_connection(ssl=)`')
async def probe_tls(loop):
    server_ctx, client_ctx = tls_contexts()
    async with tcp_pair(loop, server_kwargs={'ssl': server_ctx},
                        client_kwargs={'ssl': client_ctx,
                                       'server_hostname': 'localhost'}) as (
            client, server):
        client.transport.write(b'ping')
        assert await server.read_until(4) == b'ping'


@probe('TLS: `ssl_shutdown_timeout=`', since=(3, 11))
async def probe_ssl_shutdown_timeout(loop):
    server_ctx, client_ctx = tls_contexts()
    async with tcp_pair(loop, server_kwargs={'ssl': server_ctx,
                                             'ssl_shutdown_timeout': 5},
                        client_kwargs={'ssl': client_ctx,
                                       'server_hostname': 'localhost',
                                       'ssl_shutdown_timeout': 5}):
        pass


@probe('Streams: `asyncio.open_connection()`, `start_server()`')
async def probe_streams(loop):
    async def echo(reader, writer):
        writer.write(await reader.readexactly(4))
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(echo, '127.0.0.1', 0)
    try:
        port = server.sockets[0].getsockname()[1]
        reader, writer = await asyncio.open_connection('127.0.0.1', port)
        writer.write(b'ping')
        assert await reader.readexactly(4) == b'ping'
        writer.close()
        await writer.wait_closed()
    finally:
        server.close()
        await server.wait_closed()


@probe('`StreamWriter.start_tls()`', since=(3, 11))
async def probe_stream_start_tls(loop):
    server_ctx, client_ctx = tls_contexts()

    async def serve(reader, writer):
        await writer.start_tls(server_ctx)
        writer.write(await reader.readexactly(4))
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(serve, '127.0.0.1', 0)
    try:
        port = server.sockets[0].getsockname()[1]
        reader, writer = await asyncio.open_connection('127.0.0.1', port)
        await writer.start_tls(client_ctx, server_hostname='localhost')
        writer.write(b'ping')
        assert await reader.readexactly(4) == b'ping'
        writer.close()
    finally:
        server.close()
        await server.wait_closed()


@probe('Server: `start_serving=False`, `start_serving()`, `is_serving()`, '
       '`get_loop()`')
async def probe_server_start_serving(loop):
    server = await loop.create_server(Collector, '127.0.0.1', 0,
                                      start_serving=False)
    try:
        assert not server.is_serving()
        await server.start_serving()
        assert server.is_serving()
        assert server.get_loop() is loop
    finally:
        server.close()
        await server.wait_closed()


@probe('Server: `serve_forever()`, `async with server`')
async def probe_server_serve_forever(loop):
    server = await loop.create_server(Collector, '127.0.0.1', 0)
    async with server:
        task = loop.create_task(server.serve_forever())
        await asyncio.sleep(0.01)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    assert not server.is_serving()


@probe('Server: `close_clients()`, `abort_clients()`', since=(3, 13))
async def probe_server_close_clients(loop):
    server = await loop.create_server(Collector, '127.0.0.1', 0)
    try:
        port = server.sockets[0].getsockname()[1]
        _, client = await loop.create_connection(Collector, '127.0.0.1',
                                                 port)
        await asyncio.sleep(0.01)
        server.close()
        server.close_clients()
        assert await asyncio.wait_for(client.lost, PROBE_TIMEOUT) is None
        server.abort_clients()
    finally:
        server.close()
        await server.wait_closed()


@probe('`create_server(reuse_port=True)`')
async def probe_reuse_port(loop):
    server = await loop.create_server(Collector, '127.0.0.1', 0,
                                      reuse_port=True)
    try:
        sock = server.sockets[0]
        assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT)
    finally:
        server.close()
        await server.wait_closed()


@probe('`create_server(keep_alive=True)`', since=(3, 13))
async def probe_keep_alive(loop):
    async with tcp_pair(loop, server_kwargs={'keep_alive': True}) as (
            _, server):
        sock = server.transport.get_extra_info('socket')
        assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE)


@probe('`create_connection(happy_eyeballs_delay=, interleave=)`')
async def probe_happy_eyeballs(loop):
    async with tcp_pair(loop, client_kwargs={'happy_eyeballs_delay': 0.25,
                                             'interleave': 1}):
        pass


@probe('`create_connection(all_errors=True)`', since=(3, 12))
async def probe_all_errors(loop):
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        port = s.getsockname()[1]       # bound, not listening: refused
        try:
            await loop.create_connection(Collector, '127.0.0.1', port,
                                         all_errors=True)
        except ExceptionGroup as eg:  # noqa: F821 (3.11+)
            assert isinstance(eg.exceptions[0], ConnectionRefusedError)
        else:
            raise AssertionError('connected to a closed port')


@probe('`create_unix_server(cleanup_socket=True)`', since=(3, 13))
async def probe_cleanup_socket(loop):
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, 'sock')
        server = await loop.create_unix_server(Collector, path,
                                               cleanup_socket=True)
        server.close()
        await server.wait_closed()
        assert not os.path.exists(path)


@probe('Datagram: `sendto()` on a connected endpoint, '
       '`get_write_buffer_size()`')
async def probe_datagram_transport(loop):
    rx, server = await loop.create_datagram_endpoint(
        DatagramCollector, local_addr=('127.0.0.1', 0))
    tx, _ = await loop.create_datagram_endpoint(
        DatagramCollector, remote_addr=rx.get_extra_info('sockname'))
    try:
        tx.sendto(b'ping', None)
        assert tx.get_write_buffer_size() >= 0
        assert (await server.got)[0] == b'ping'
    finally:
        tx.close()
        rx.close()


@probe('Datagram: `reuse_port=True`, `allow_broadcast=True`')
async def probe_datagram_options(loop):
    tr, _ = await loop.create_datagram_endpoint(
        DatagramCollector, local_addr=('127.0.0.1', 0), reuse_port=True,
        allow_broadcast=True)
    try:
        sock = tr.get_extra_info('socket')
        assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST)
    finally:
        tr.close()


@probe('`create_task(name=)`, `call_soon(context=)`')
async def probe_task_name_context(loop):
    import contextvars
    var = contextvars.ContextVar('var')
    ctx = contextvars.copy_context()
    ctx.run(var.set, 1)
    fut = loop.create_future()
    loop.call_soon(lambda: fut.set_result(var.get(None)), context=ctx)
    assert await fut == 1
    task = loop.create_task(asyncio.sleep(0), name='probe')
    assert task.get_name() == 'probe'
    await task


@probe('`create_task(context=)`', since=(3, 11))
async def probe_task_context(loop):
    import contextvars
    ctx = contextvars.copy_context()
    await loop.create_task(asyncio.sleep(0), context=ctx)


@probe('`asyncio.eager_task_factory`', since=(3, 12))
async def probe_eager_tasks(loop):
    loop.set_task_factory(asyncio.eager_task_factory)
    started = []

    async def step():
        started.append(1)

    task = loop.create_task(step())
    assert started == [1]       # ran before create_task returned
    await task
    loop.set_task_factory(None)


@probe('`shutdown_default_executor(timeout=)`', since=(3, 12))
async def probe_shutdown_executor_timeout(loop):
    await loop.run_in_executor(None, int)
    await loop.shutdown_default_executor(timeout=5)


@probe('`add_reader()` on a pipe')
async def probe_add_reader_pipe(loop):
    rfd, wfd = os.pipe()
    try:
        os.set_blocking(rfd, False)
        fut = loop.create_future()
        loop.add_reader(rfd, fut.set_result, 1)
        os.write(wfd, b'x')
        assert await fut == 1
        loop.remove_reader(rfd)
    finally:
        os.close(rfd)
        os.close(wfd)


@probe('`asyncio.create_subprocess_exec()` (streams)')
async def probe_subprocess_streams(loop):
    proc = await asyncio.create_subprocess_exec(
        sys.executable, '-c', 'print(input())',
        stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    out, _ = await proc.communicate(b'hi\n')
    assert (out, proc.returncode) == (b'hi\n', 0)


@probe('`time()` follows a patched `time.monotonic()` (freezegun)')
def probe_patched_monotonic(loop):
    import unittest.mock
    with unittest.mock.patch('time.monotonic', return_value=1e9):
        if loop.time() != 1e9:
            raise AssertionError('time() keeps its own clock; asyncio '
                                 'gives the patched time.monotonic()')


NESTED_RUN = """
import asyncio, builtins, importlib, json, sys
kind = sys.argv[1]
try:
    import nest_asyncio
    loop = (asyncio.new_event_loop() if kind == 'asyncio' else
            importlib.import_module(kind).new_event_loop())
    asyncio.set_event_loop(loop)
    nest_asyncio.apply(loop)

    async def inner():
        await asyncio.sleep(0.001)
        return 'inner'

    async def outer():
        return loop.run_until_complete(inner())

    result = loop.run_until_complete(outer())
    loop.close()
    print(json.dumps(['ok', result]))
except Exception as exc:
    print(json.dumps([type(exc).__name__, str(exc)]))
"""


@probe('`nest_asyncio.apply(loop)`: `run_until_complete()` nested')
def probe_nest_asyncio(loop):
    # nest_asyncio patches asyncio for the whole process: in a child.
    kind = type(loop).__module__.split('.')[0]
    proc = subprocess.run([sys.executable, '-c', NESTED_RUN, kind],
                          capture_output=True, text=True, check=False,
                          timeout=PROBE_TIMEOUT)
    lines = proc.stdout.splitlines()
    if not lines:
        raise RuntimeError(proc.stderr[-200:] or f'exit {proc.returncode}')
    name, detail = json.loads(lines[-1])
    if name != 'ok':
        error = getattr(builtins, name, None)
        if not (isinstance(error, type) and issubclass(error, Exception)):
            error = RuntimeError
        raise error(detail)
    same(detail, 'inner', 'the nested run')


# -- running the probes -------------------------------------------------------

def run_one(p, kind):
    """The outcome of probe `p` on a fresh loop of `kind`: (result, note)."""
    if not applies(p):
        return 'n/a', None
    loop = new_loop(kind)
    asyncio.set_event_loop(loop)
    try:
        if p.method is not None and not hasattr(loop, p.method):
            return 'missing', None
        if inspect.iscoroutinefunction(p.func):
            loop.run_until_complete(
                asyncio.wait_for(p.func(loop), PROBE_TIMEOUT))
        else:
            p.func(loop)
        return 'yes', None
    except NotImplementedError as exc:
        return 'NotImplementedError', str(exc) or None
    except AssertionError as exc:
        return 'differs', str(exc) or None
    except asyncio.TimeoutError as exc:
        return type(exc).__name__, f'no outcome within {PROBE_TIMEOUT} s'
    except Exception as exc:  # noqa: BLE001 (every failure is a result)
        return type(exc).__name__, str(exc)[:200] or None
    finally:
        asyncio.set_event_loop(None)
        if not loop.is_closed():
            # What asyncio.run() does: no task or executor thread outlives
            # the probe.
            with contextlib.suppress(Exception):
                for task in asyncio.all_tasks(loop):
                    task.cancel()
                loop.run_until_complete(asyncio.sleep(0.01))
            with contextlib.suppress(Exception):
                loop.run_until_complete(loop.shutdown_default_executor())
            loop.close()


def probe_kind(kind, start):
    """Probes from number `start` on, on one loop kind, in this process:
    one JSON line per probe as it ends, then one with the loop's version.
    A probe that hangs makes this process exit (faulthandler)."""
    for index in range(start, len(PROBES)):
        faulthandler.dump_traceback_later(HANG_TIMEOUT, exit=True)
        result, note = run_one(PROBES[index], kind)
        faulthandler.cancel_dump_traceback_later()
        print(json.dumps({'index': index, 'result': result, 'note': note}),
              flush=True)
    print(json.dumps({'version': kind_version(kind)}), flush=True)


def probe_in_subprocess(kind):
    """All probes on `kind`, in subprocesses: one that hangs or crashes is
    recorded as such and the rest go on in a new process."""
    results = {}
    start = 0
    while True:
        proc = subprocess.run(
            [sys.executable, os.path.abspath(__file__), '--kind', kind,
             '--start', str(start)],
            capture_output=True, text=True, check=False)
        version = None
        for line in proc.stdout.splitlines():
            entry = json.loads(line)
            if 'version' in entry:
                version = entry['version']
            else:
                results[PROBES[entry['index']].title] = {
                    'result': entry['result'], 'note': entry['note']}
                start = entry['index'] + 1
        if version is not None:
            break
        if start == 0 and 'ModuleNotFoundError' in proc.stderr:
            return {'kind': kind, 'error': 'not installed'}
        if start >= len(PROBES):
            return {'kind': kind, 'error': proc.stderr[-2000:]}
        hung = 'Timeout (' in proc.stderr
        results[PROBES[start].title] = {
            'result': 'hangs' if hung else 'crashes',
            'note': None if hung else f'exit status {proc.returncode}'}
        start += 1
    return {'kind': kind, 'version': version,
            'python': platform.python_version(), 'results': results}


def probe_all(kinds):
    return {'python': platform.python_version(),
            'titles': [[p.title, list(p.since), p.method] for p in PROBES],
            'kinds': [probe_in_subprocess(kind) for kind in kinds]}


# -- the markdown table -------------------------------------------------------

def cell(values):
    """One table cell from {python: result}, results of n/a left out."""
    found = {py: v for py, v in values.items() if v != 'n/a'}
    if not found:
        return 'not probed'
    if len(set(found.values())) == 1:
        return next(iter(found.values()))
    return '; '.join(f'{py}: {v}' for py, v in sorted(found.items()))


def short_python(version):
    return '.'.join(version.split('.')[:2])


def markdown(runs):
    """The table of docs/features.md from one or more probe_all() runs."""
    titles = {}
    for run in runs:
        for title, since, method in run['titles']:
            titles.setdefault(title, (tuple(since), method))
    columns = {}        # kind -> {'versions': set, 'cells': {title: {py: r}}}
    notes = {}
    for run in runs:
        py = short_python(run['python'])
        for entry in run['kinds']:
            column = columns.setdefault(
                entry['kind'], {'versions': set(), 'cells': {}})
            if 'error' in entry:
                continue
            if entry['kind'] != 'asyncio':
                column['versions'].add(entry['version'])
            for title, outcome in entry['results'].items():
                column['cells'].setdefault(title, {})[py] = outcome['result']
                if outcome['result'] not in ('yes', 'n/a') and \
                        outcome['note']:
                    notes.setdefault((entry['kind'], title), set()).add(
                        outcome['note'])
    kinds = [k for k in KINDS if columns.get(k, {}).get('cells')]
    header = ['Method / feature', 'Python']
    for kind in kinds:
        versions = sorted(columns[kind]['versions'])
        header.append(' '.join([kind, *versions]) if versions else kind)
    lines = ['| ' + ' | '.join(header) + ' |',
             '|' + '---|' * len(header)]
    for title, (since, _) in titles.items():
        row = [title, f'{since[0]}.{since[1]}+']
        for kind in kinds:
            row.append(cell(columns[kind]['cells'].get(title, {})))
        lines.append('| ' + ' | '.join(row) + ' |')
    lines += ['', 'Probed on Python ' + ', '.join(
        sorted({run['python'] for run in runs})) + '.']
    if notes:
        lines += ['', 'What the failures said:', '']
        for (kind, title), messages in sorted(notes.items()):
            for message in sorted(messages):
                lines.append(f'- {kind}, {title}: {message}')
    return '\n'.join(lines) + '\n'


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--kind', help='probe this loop in this process '
                        '(JSON to stdout)')
    parser.add_argument('--start', type=int, default=0,
                        help='with --kind: the first probe to run')
    parser.add_argument('--kinds', default=','.join(KINDS),
                        help='the loops to probe (default: all)')
    parser.add_argument('--merge', nargs='+', metavar='JSON',
                        help='render saved runs instead of probing')
    parser.add_argument('--markdown', action='store_true',
                        help='print the table instead of JSON')
    args = parser.parse_args()
    if args.kind:
        probe_kind(args.kind, args.start)
        return
    if args.merge:
        runs = []
        for path in args.merge:
            with open(path) as f:
                runs.append(json.load(f))
    else:
        runs = [probe_all(args.kinds.split(','))]
    if args.markdown:
        sys.stdout.write(markdown(runs))
    else:
        print(json.dumps(runs[0] if len(runs) == 1 else runs, indent=1))


if __name__ == '__main__':
    main()
