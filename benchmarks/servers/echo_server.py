"""An echo server in one of four asyncio API styles, on any loop.

Every loop runs exactly this code, so a difference in CPU time per request
is the loop's, not the server's:

    python benchmarks/servers/echo_server.py --loop NAME \
        --style protocol|buffered|streams|sockets (--port N | --unix PATH)

Prints "READY <port or path>" once it accepts connections (port 0 picks a
free port: a fresh port per server keeps TIME_WAIT sockets of earlier runs
out of the way).  If the loop lacks a feature the style needs, prints
"NA <reason>" and exits with status 3, so the runner reports n/a.
"""
import argparse
import asyncio
import os
import resource
import socket
import sys
import traceback

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import loops

# Every server reads at most this much at a time, the C ceiling too.
READ_SIZE = 65536
BACKLOG = 1024


def not_available(exc):
    """Report a missing loop feature and exit: the cell becomes n/a."""
    frames = traceback.extract_tb(exc.__traceback__)
    where = frames[-1].name if frames else '?'
    print(f'NA {type(exc).__name__} in {where}', flush=True)
    os._exit(3)


class EchoProtocol(asyncio.Protocol):
    def connection_made(self, transport):
        self.transport = transport

    def data_received(self, data):
        self.transport.write(data)


class EchoBufferedProtocol(asyncio.BufferedProtocol):
    def connection_made(self, transport):
        self.transport = transport
        self.buffer = memoryview(bytearray(READ_SIZE))

    def get_buffer(self, sizehint):
        return self.buffer

    def buffer_updated(self, nbytes):
        # Copy: a transport may keep what it could not send yet by reference,
        # and the next read reuses this buffer.  Same cost on every loop.
        self.transport.write(bytes(self.buffer[:nbytes]))


async def stream_echo(reader, writer):
    try:
        while data := await reader.read(READ_SIZE):
            writer.write(data)
            await writer.drain()
    except ConnectionError:
        pass
    except NotImplementedError as exc:
        not_available(exc)
    finally:
        writer.close()


async def sock_echo(lp, conn):
    try:
        while data := await lp.sock_recv(conn, READ_SIZE):
            await lp.sock_sendall(conn, data)
    except ConnectionError:
        pass
    except NotImplementedError as exc:
        not_available(exc)
    finally:
        conn.close()


async def sock_accept_forever(lp, listener, tcp):
    try:
        while True:
            conn, _ = await lp.sock_accept(listener)
            conn.setblocking(False)
            if tcp:     # transports set TCP_NODELAY; do what they do
                conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            lp.create_task(sock_echo(lp, conn))
    except NotImplementedError as exc:
        not_available(exc)


def listening_socket(port, unix):
    """The listener, made here for every style so its options are equal."""
    if unix:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        if os.path.exists(unix):
            os.unlink(unix)
        sock.bind(unix)
    else:
        # proto IPPROTO_TCP, as create_server(host, port) would make it:
        # asyncio sets TCP_NODELAY only on sockets whose proto says TCP, and
        # without it a two-write response waits 40 ms for a delayed ACK.
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM,
                             socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(('127.0.0.1', port))
    sock.listen(BACKLOG)
    sock.setblocking(False)
    return sock


async def start(lp, style, sock, unix):
    """Start serving on `sock` in `style`; returns what keeps it alive.

    Every style passes BACKLOG: create_server calls listen() again with its
    own backlog (100 by default), and an overflowing accept queue costs a
    1 s SYN retransmit, which is not what this suite measures.
    """
    if style == 'sockets':
        return lp.create_task(sock_accept_forever(lp, sock, not unix))
    if style == 'streams':
        serve = asyncio.start_unix_server if unix else asyncio.start_server
        return await serve(stream_echo, sock=sock, limit=READ_SIZE,
                           backlog=BACKLOG)
    factory = {'protocol': EchoProtocol, 'buffered': EchoBufferedProtocol}
    create = lp.create_unix_server if unix else lp.create_server
    return await create(factory[style], sock=sock, backlog=BACKLOG)


def raise_fd_limit():
    """The scale test holds 10,000 connections: allow them."""
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--loop', required=True, choices=loops.LOOPS)
    parser.add_argument('--style', required=True,
                        choices=('protocol', 'buffered', 'streams', 'sockets'))
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument('--port', type=int)
    where.add_argument('--unix')
    args = parser.parse_args()
    raise_fd_limit()

    lp = loops.new_loop(args.loop)
    asyncio.set_event_loop(lp)
    sock = listening_socket(args.port, args.unix)
    # Read it now: rloop's create_server detaches the socket object.
    address = args.unix or sock.getsockname()[1]
    try:
        _server = lp.run_until_complete(
            start(lp, args.style, sock, args.unix))
    except NotImplementedError as exc:
        not_available(exc)
    # One pass of the loop, so a style whose first step is already missing
    # (sock_accept) says so before READY.
    lp.run_until_complete(asyncio.sleep(0))
    print('READY', address, flush=True)
    lp.run_forever()


if __name__ == '__main__':
    main()
