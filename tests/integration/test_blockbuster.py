"""blockbuster, the blocking-call detector that aiohttp's test suite (and
others) run under, on our loop and on asyncio: while a loop runs, it makes
blocking calls in the loop's thread raise BlockingError, except from the
asyncio functions it allows.  What the loop does by itself must not be
reported on ours where it is not on asyncio: servers and connections over
TCP and Unix sockets and their closing, DNS, the executor, subprocesses and
their pipes, datagrams, sock_*, sendfile, signals, TLS."""
import asyncio
import os
import signal
import socket
import ssl
import subprocess
import sys
import tempfile

from ._util import HOST, assert_running_on, need, run

blockbuster = need('blockbuster')
trustme = need('trustme')


async def _echo(reader, writer):
    while data := await reader.read(65536):
        writer.write(data)
        await writer.drain()
    writer.close()
    await writer.wait_closed()


async def _round_trip(reader, writer, data):
    writer.write(data)
    await writer.drain()
    assert await reader.readexactly(len(data)) == data
    writer.close()
    await writer.wait_closed()


class _Sink(asyncio.Protocol):
    def __init__(self, size, done):
        self.got, self.size, self.done = 0, size, done

    def data_received(self, data):
        self.got += len(data)
        if self.got == self.size:
            self.done.set_result(None)


async def _everything(loop_kind, tmp_path, server_ctx, client_ctx, file):
    assert_running_on(loop_kind)
    loop = asyncio.get_running_loop()
    data = os.urandom(200_000)

    server = await asyncio.start_server(_echo, HOST, 0)
    port = server.sockets[0].getsockname()[1]
    await _round_trip(*await asyncio.open_connection(HOST, port), data)
    server.close()
    await server.wait_closed()

    path = str(tmp_path / 's.sock')
    server = await asyncio.start_unix_server(_echo, path)
    await _round_trip(*await asyncio.open_unix_connection(path), data)
    server.close()
    await server.wait_closed()

    server = await asyncio.start_server(_echo, HOST, 0, ssl=server_ctx)
    port = server.sockets[0].getsockname()[1]
    await _round_trip(*await asyncio.open_connection(
        HOST, port, ssl=client_ctx, server_hostname='localhost'), data)
    server.close()
    await server.wait_closed()

    size = os.fstat(file.fileno()).st_size
    done = loop.create_future()
    server = await loop.create_server(lambda: _Sink(size, done), HOST, 0)
    port = server.sockets[0].getsockname()[1]
    transport, _ = await loop.create_connection(asyncio.Protocol, HOST, port)
    assert await loop.sendfile(transport, file) == size
    await done
    transport.close()
    server.close()
    await server.wait_closed()

    await loop.getaddrinfo(HOST, port)
    await loop.getaddrinfo('localhost', port)
    assert await loop.run_in_executor(None, sum, [1, 2]) == 3

    proc = await asyncio.create_subprocess_exec(
        sys.executable, '-c', 'import sys; sys.stdout.write(sys.stdin.read())',
        stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    assert await proc.communicate(data) == (data, None)
    assert proc.returncode == 0

    received = loop.create_future()

    class Datagrams(asyncio.DatagramProtocol):
        def datagram_received(self, payload, addr):
            received.set_result(payload)

    transport, _ = await loop.create_datagram_endpoint(
        Datagrams, local_addr=(HOST, 0))
    transport.sendto(b'dgram', transport.get_extra_info('sockname'))
    assert await received == b'dgram'
    transport.close()

    a, b = socket.socketpair()
    with a, b:
        a.setblocking(False)
        b.setblocking(False)
        await loop.sock_sendall(a, b'sock')
        assert await loop.sock_recv(b, 10) == b'sock'

    fired = asyncio.Event()
    loop.add_signal_handler(signal.SIGUSR1, fired.set)
    try:
        os.kill(os.getpid(), signal.SIGUSR1)
        await fired.wait()
    finally:
        loop.remove_signal_handler(signal.SIGUSR1)


def test_nothing_reported(loop, loop_kind, tmp_path):
    # What the detector would report (files, certificates) is set up
    # before it starts, as a test under it would.
    ca = trustme.CA()
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert('localhost').configure_cert(server_ctx)
    client_ctx = ssl.create_default_context()
    ca.configure_trust(client_ctx)
    with tempfile.TemporaryFile() as file:
        file.write(os.urandom(300_000))
        file.seek(0)
        with blockbuster.blockbuster_ctx():
            run(loop, _everything(loop_kind, tmp_path, server_ctx,
                                  client_ctx, file))


def test_the_detector_is_on(loop, loop_kind):
    # The test above proves nothing if the detector reports nothing at all.
    async def main():
        assert_running_on(loop_kind)
        with blockbuster.blockbuster_ctx():
            try:
                os.stat('.')
            except blockbuster.BlockingError:
                return True
        return False

    assert run(loop, main())
