"""fd exhaustion while a server accepts; fds closed behind the loop's back."""
import asyncio
import errno
import os
import resource
import socket
import time

import pytest

from ._util import HOST, close_server, cpu, echo_server, fds, run


def test_fd_exhaustion_server_recovers(loop, figure):
    errors = []
    loop.set_exception_handler(lambda lp, ctx: errors.append(ctx))
    recovered = run(loop, _exhaustion(loop), 30)
    emfile = [c for c in errors
              if getattr(c.get('exception'), 'errno', None) == errno.EMFILE]
    figure('EMFILE reported to the exception handler', len(emfile))
    figure('other exception handler calls', len(errors) - len(emfile))
    figure('clients served after fds freed', recovered[0])
    figure('time from fds freed to all served', recovered[1], 's')


async def _exhaustion(loop):
    server, port = await echo_server(loop)
    hogs, clients = [], []
    old = resource.getrlimit(resource.RLIMIT_NOFILE)
    try:
        # A low limit, then fill it up with /dev/null fds.
        resource.setrlimit(resource.RLIMIT_NOFILE,
                           (len(fds()) + 40, old[1]))
        try:
            while True:
                hogs.append(os.open(os.devnull, os.O_RDONLY))
        except OSError:
            pass
        # Free room for the clients' own ends only: the server's accept()
        # then fails with EMFILE while the connections wait in the backlog.
        for _ in range(10):
            os.close(hogs.pop())
        for _ in range(10):
            s = socket.create_connection((HOST, port))
            s.setblocking(False)
            clients.append(s)
        await asyncio.sleep(0.3)          # the server hits EMFILE
        for s in clients:
            with pytest.raises(BlockingIOError):
                s.recv(1)               # nothing accepted, nothing echoed
            s.send(b'.')
        await asyncio.sleep(0.1)
        for s in clients:
            with pytest.raises(BlockingIOError):
                s.recv(1)
        # fds free up: every client must be served (asyncio retries the
        # accept after a delay of a second).
        for fd in hogs:
            os.close(fd)
        hogs = []
        freed = time.monotonic()

        async def echo(s, i):
            data = b'client %d\n' % i
            await _read_exactly(s, 1)     # the '.' sent while exhausted
            await loop.sock_sendall(s, data)
            got = b''
            while len(got) < len(data):
                chunk = await loop.sock_recv(s, 100)
                assert chunk, 'EOF before the echo'
                got += chunk
            assert got == data
        await asyncio.wait_for(
            asyncio.gather(*(echo(s, i) for i, s in enumerate(clients))), 10)
        took = time.monotonic() - freed
    finally:
        for fd in hogs:
            os.close(fd)
        for s in clients:
            s.close()
        resource.setrlimit(resource.RLIMIT_NOFILE, old)
        await close_server(server)
    return len(clients), took


async def _read_exactly(s, n):
    loop = asyncio.get_running_loop()
    got = b''
    while len(got) < n:
        chunk = await loop.sock_recv(s, n - len(got))
        assert chunk, 'EOF too early'
        got += chunk
    return got


def test_reader_fd_closed_behind_loop(loop, figure):
    # add_reader on a socket, then the socket is closed without
    # remove_reader: the loop must neither spin nor crash, and the fd
    # number must be usable again once remove_reader was called.
    a, b = socket.socketpair()
    calls = []
    loop.add_reader(a.fileno(), calls.append, 1)
    fd = a.fileno()
    b.send(b'x')        # readable when it is closed
    a.close()
    t0, c0 = time.monotonic(), cpu()
    run(loop, asyncio.sleep(1.0), 5)
    used = cpu() - c0
    wall = time.monotonic() - t0
    b.close()
    figure('CPU while idle with the closed fd registered',
           100 * used / wall, '% of a core')
    figure('reader callbacks after the close', len(calls))
    assert used < 0.3 * wall, 'the loop spins on the closed fd'
    loop.remove_reader(fd)
    # The number is reused by a new socket: a reader on it works.
    c, d = socket.socketpair()
    try:
        got = loop.create_future()
        loop.add_reader(c.fileno(), lambda: got.done() or got.set_result(
            c.recv(10)))
        d.send(b'hello')
        assert run(loop, got, 5) == b'hello'
        loop.remove_reader(c.fileno())
    finally:
        c.close()
        d.close()


class _Recorder(asyncio.Protocol):
    def __init__(self):
        self.lost = None
        self.data = b''

    def connection_made(self, transport):
        self.transport = transport
        self.lost = asyncio.get_running_loop().create_future()

    def data_received(self, data):
        self.data += data

    def connection_lost(self, exc):
        self.lost.set_result(exc)


def test_transport_socket_closed_behind_loop(loop, figure):
    errors = []
    loop.set_exception_handler(lambda lp, ctx: errors.append(ctx))
    stats = run(loop, _transport_closed(loop), 20)
    figure('CPU while idle with the dead transport',
           100 * stats[0], '% of a core')
    figure('exception handler calls', len(errors))


async def _transport_closed(loop):
    server, port = await echo_server(loop)
    try:
        tr, proto = await loop.create_connection(_Recorder, HOST, port)
        fd = tr.get_extra_info('socket').fileno()
        # Close the transport's socket under it.  Nothing may open an fd
        # (which could take the number) until the transport is gone.
        os.close(fd)
        t0, c0 = time.monotonic(), cpu()
        await asyncio.sleep(1.0)
        share = (cpu() - c0) / (time.monotonic() - t0)
        assert share < 0.3, 'the loop spins on the dead transport'
        # Writing fails (EBADF): the transport reports the connection
        # lost instead of crashing or hanging.
        tr.write(b'data')
        await asyncio.wait_for(asyncio.shield(proto.lost), 5)
        tr.close()
        await asyncio.sleep(0.05)
        # The loop keeps serving.
        tr2, proto2 = await loop.create_connection(_Recorder, HOST, port)
        tr2.write(b'ping')
        while proto2.data != b'ping':
            await asyncio.sleep(0.01)
        tr2.close()
        await proto2.lost
    finally:
        await close_server(server)
    return (share,)
