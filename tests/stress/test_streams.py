"""Resets mid-write and mid-read, half-closes, a slow reader behind drain()."""
import asyncio
import hashlib
import os
import socket
import struct
import time

from ._util import HOST, close_server, rss, run, size


def _reset(writer):
    # SO_LINGER 0: close() sends RST instead of FIN.
    sock = writer.get_extra_info('socket')
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                    struct.pack('ii', 1, 0))
    writer.transport.abort()


def test_peer_resets_and_half_closes(loop, figure):
    errors = []
    loop.set_exception_handler(lambda lp, ctx: errors.append(ctx))
    seen = run(loop, _resets(loop), 30)
    for what, value in seen.items():
        figure(what, value)


async def _resets(loop):
    seen = {}
    done = {}

    async def handle(reader, writer):
        mode = (await reader.readline()).strip().decode()
        try:
            if mode == 'reset-mid-write':
                # Keep writing until the peer's RST stops us.
                chunk = b'w' * 65536
                for _ in range(4096):
                    writer.write(chunk)
                    await writer.drain()
            elif mode == 'reset-mid-read':
                await reader.readexactly(1 << 20)
            elif mode == 'half-close':
                # The client has sent its EOF: read all, reply, close.
                data = await reader.read()
                writer.write(hashlib.sha256(data).digest())
                await writer.drain()
            done[mode] = 'finished'
        except (ConnectionError, asyncio.IncompleteReadError) as exc:
            done[mode] = type(exc).__name__
        finally:
            writer.close()

    server = await asyncio.start_server(handle, HOST, 0)
    port = server.sockets[0].getsockname()[1]
    try:
        for _ in range(size(200, 20)):
            done.clear()
            # Mid-write: read a little of what the server sends, then RST.
            reader, writer = await asyncio.open_connection(HOST, port)
            writer.write(b'reset-mid-write\n')
            await reader.readexactly(100_000)
            _reset(writer)
            # Mid-read: send part of what the server waits for, then RST.
            reader, writer = await asyncio.open_connection(HOST, port)
            writer.write(b'reset-mid-read\n' + b'r' * 300_000)
            await writer.drain()
            _reset(writer)
            # Half-close: the reply still arrives after our EOF.
            reader, writer = await asyncio.open_connection(HOST, port)
            data = os.urandom(200_000)
            writer.write(b'half-close\n' + data)
            writer.write_eof()
            assert await reader.read() == hashlib.sha256(data).digest()
            writer.close()
            await writer.wait_closed()
            while len(done) < 3:
                await asyncio.sleep(0.005)
            for mode, how in done.items():
                key = f'{mode}: server saw'
                seen.setdefault(key, {})
                seen[key][how] = seen[key].get(how, 0) + 1
        assert seen['half-close: server saw'] == {'finished': size(200, 20)}
        assert 'finished' not in seen['reset-mid-write: server saw']
        assert 'finished' not in seen['reset-mid-read: server saw']
    finally:
        await close_server(server)
    return {k: ', '.join(f'{n} {how}' for how, n in sorted(v.items()))
            for k, v in seen.items()}


def test_slow_reader_flow_control(loop, figure):
    total = size(1 << 30, 64 << 20)
    t0 = time.monotonic()
    growth, digest_ok = run(loop, _slow_reader(loop, total), size(600, 40))
    elapsed = time.monotonic() - t0
    assert digest_ok
    figure('bytes offered through drain()', total >> 20, 'MiB')
    figure('peak RSS growth', growth / (1 << 20), 'MiB')
    figure('throughput', total / elapsed / (1 << 20), 'MiB/s')
    # Flow control keeps the writer's buffers near the high-water mark; a
    # writer that did not wait would hold most of what it offered.
    assert growth < 32 << 20, 'memory not bounded by flow control'


async def _slow_reader(loop, total):
    block = os.urandom(1 << 20)
    chunk = 256 << 10
    sent_digest = hashlib.sha256()
    got_digest = hashlib.sha256()
    base = rss()
    peak = base

    async def writer_side(reader, writer):
        # The chunks differ (their offset is stamped in), so data
        # reordered or repeated changes the digest.
        offset = 0
        try:
            while offset < total:
                start = offset % len(block)
                data = (offset.to_bytes(8, 'big')
                        + block[start + 8:start + chunk])
                sent_digest.update(data)
                writer.write(data)
                await writer.drain()
                offset += len(data)
        finally:
            writer.close()

    server = await asyncio.start_server(writer_side, HOST, 0)
    port = server.sockets[0].getsockname()[1]
    try:
        reader, writer = await asyncio.open_connection(HOST, port)
        received = 0
        reads = 0
        while True:
            data = await reader.read(65536)
            if not data:
                break
            got_digest.update(data)
            received += len(data)
            reads += 1
            if reads % 64 == 0:
                peak = max(peak, rss())
                await asyncio.sleep(0.001)      # the slow reader
        writer.close()
        await writer.wait_closed()
    finally:
        await close_server(server)
    assert received == total
    return peak - base, got_digest.digest() == sent_digest.digest()
