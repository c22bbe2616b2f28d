"""Many concurrent TCP connections, and many connects cancelled midway."""
import asyncio
import gc
import hashlib
import json
import os
import random
import resource
import socket
import subprocess
import sys
import time

import loop

from ._util import HOST, close_server, echo_server, fds, rss, run, size

PAYLOAD = 1024


def _payload(i):
    # Each connection's own bytes: its index, random filler and a digest,
    # so a byte lost, altered or handed to another connection is caught.
    body = i.to_bytes(4, 'big') + os.urandom(PAYLOAD - 36)
    return body + hashlib.sha256(body).digest()


def _raise_nofile(wanted):
    """Raise the soft RLIMIT_NOFILE towards the hard limit: the old limits."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if hard != resource.RLIM_INFINITY else max(soft, wanted)
    resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return soft, hard


def test_many_concurrent_connections(loop_kind, figure):
    # Run in a fresh interpreter: in this one, memory freed by earlier
    # tests stays resident and would be reused, hiding the per-connection
    # cost (the RSS delta can even come out negative).
    wanted = size(10_000, 500)
    src = os.path.dirname(os.path.dirname(os.path.abspath(loop.__file__)))
    tests = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([src, tests]))
    out = subprocess.run(
        [sys.executable, '-m', 'stress.test_connections', loop_kind,
         str(wanted)], check=False, env=env, capture_output=True, text=True,
        timeout=size(300, 60))
    assert out.returncode == 0, out.stderr[-3000:]
    n, ok, rss_before, rss_peak, elapsed = json.loads(
        out.stdout.splitlines()[-1])
    assert ok == n
    figure('connections open at once, all echoed intact', n)
    figure('RSS per connection (both ends)',
           (rss_peak - rss_before) / n / 1024, 'KiB')
    figure('wall time', elapsed, 's')


def _child(kind, wanted):
    """The scenario in this (child) process: prints its figures as JSON."""
    old = _raise_nofile(2 * wanted + 200)
    soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    # Both ends live in this process: two fds per connection.
    n = min(wanted, (soft - len(fds()) - 100) // 2)
    ev = (asyncio.new_event_loop() if kind == 'asyncio'
          else loop.new_event_loop())
    try:
        t0 = time.monotonic()
        ok, before, peak = run(ev, _many_connections(ev, n), size(280, 50))
        elapsed = time.monotonic() - t0
    finally:
        ev.close()
        resource.setrlimit(resource.RLIMIT_NOFILE, old)
    print(json.dumps([n, ok, before, peak, elapsed]))


async def _many_connections(loop, n):
    server, port = await echo_server(loop)
    all_open = asyncio.Event()
    # Bound the connects in flight (the listen backlog is 4096 at most:
    # SYNs dropped past it are retried by the kernel after a second).
    connecting = asyncio.Semaphore(500)
    echoed = 0
    rss_before = rss()

    async def client(i):
        nonlocal echoed
        data = _payload(i)
        async with connecting:
            reader, writer = await asyncio.open_connection(HOST, port)
        try:
            writer.write(data)
            got = await reader.readexactly(len(data))
            assert got == data, f'connection {i} got the wrong bytes'
            echoed += 1
            if echoed == n:
                all_open.set()
            # Stay open until every connection is up: n at once.
            await all_open.wait()
        finally:
            writer.close()
            await writer.wait_closed()

    tasks = [asyncio.ensure_future(client(i)) for i in range(n)]
    try:
        await all_open.wait()
        rss_peak = rss()
        await asyncio.gather(*tasks)
    finally:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await close_server(server)
    return echoed, rss_before, rss_peak


def test_cancelled_connects(loop, figure):
    n = size(10_000, 500)
    t0 = time.monotonic()
    counts = run(loop, _cancelled_connects(loop, n), size(300, 60))
    figure('connects cancelled / completed', '{} / {}'.format(*counts))
    figure('wall time', time.monotonic() - t0, 's')


async def _check_echo(reader, writer, i):
    data = _payload(i)
    writer.write(data)
    got = await reader.readexactly(len(data))
    assert got == data, f'connection {i} got the wrong bytes'


async def _cancelled_connects(loop, n):
    server, port = await echo_server(loop)
    before = fds()
    rng = random.Random(8)
    cancelled = completed = 0

    async def via_streams(i):
        reader, writer = await asyncio.open_connection(HOST, port)
        try:
            await _check_echo(reader, writer, i)
        finally:
            writer.close()

    async def via_sock_connect(i):
        sock = socket.socket()
        try:
            sock.setblocking(False)
            await loop.sock_connect(sock, (HOST, port))
            data = _payload(i)
            await loop.sock_sendall(sock, data)
            got = b''
            while len(got) < len(data):
                chunk = await loop.sock_recv(sock, len(data) - len(got))
                assert chunk, 'early EOF'
                got += chunk
            assert got == data, f'connection {i} got the wrong bytes'
        finally:
            sock.close()

    try:
        batch = 100
        for start in range(0, n, batch):
            tasks = []
            for i in range(start, min(n, start + batch)):
                how = via_streams if i % 2 else via_sock_connect
                t = asyncio.ensure_future(how(i))
                # Cancelled at a random point: before the connect is
                # done, mid-echo, or (sometimes) not at all.
                loop.call_later(rng.uniform(0, 0.05), t.cancel)
                tasks.append(t)
            for r in await asyncio.gather(*tasks, return_exceptions=True):
                if isinstance(r, asyncio.CancelledError):
                    cancelled += 1
                elif r is None:
                    completed += 1
                else:
                    raise r
        # Let closes scheduled with call_soon run, then collect what the
        # cancelled tasks dropped (a leak must survive this).
        for _ in range(5):
            await asyncio.sleep(0.01)
        gc.collect()
        await asyncio.sleep(0.01)
        leaked = fds() - before
        assert not leaked, f'fds leaked: {leaked}'
        # Fresh connections afterwards still get their own bytes back.
        for i in range(50):
            await via_streams(n + i)
            await via_sock_connect(n + 50 + i)
    finally:
        await close_server(server)
    return cancelled, completed


if __name__ == '__main__':
    _child(sys.argv[1], int(sys.argv[2]))
