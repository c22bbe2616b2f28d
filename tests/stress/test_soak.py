"""A soak of mixed traffic and timers: fd count and RSS stay flat."""
import asyncio
import gc
import os
import random
import time

from ._util import HOST, close_server, echo_server, fds, rss, run, size

SECONDS = float(os.environ.get('LOOP_SOAK_SECONDS', size(600, 10)))


def test_soak(loop, figure):
    stats = run(loop, _soak(loop, SECONDS), SECONDS + 60)
    figure('duration', SECONDS, 's')
    figure('echo round trips / timers fired',
           f"{stats['echoes']} / {stats['timers']}")
    figure('fds: start -> end', f"{stats['fds0']} -> {stats['fds1']}")
    figure('RSS after warm-up -> end',
           f"{stats['rss0'] / 2**20:.1f} -> {stats['rss1'] / 2**20:.1f}",
           'MiB')
    ops = stats['echoes'] + stats['timers']
    growth = stats['rss1'] - stats['rss0']
    figure('RSS growth per operation after warm-up', growth / ops, 'bytes')
    assert stats['fds1'] == stats['fds0']
    # After the warm-up (allocator arenas, caches filled) RSS stays flat:
    # a few MiB of allocator drift are allowed (asyncio itself grows ~5 MiB
    # in 10 minutes, about 2 bytes per operation), but a leak of even one
    # small object every few operations would pass 4 bytes per operation.
    assert growth < (4 << 20) + 4 * ops


async def _soak(loop, seconds):
    fds0 = len(fds())       # before the server: it is closed at the end
    server, port = await echo_server(loop)
    rng = random.Random(8)
    stop = time.monotonic() + seconds
    counts = {'echoes': 0, 'timers': 0}

    async def echo_client():
        # Connect, a few round trips of random sizes, close; repeat.
        while time.monotonic() < stop:
            reader, writer = await asyncio.open_connection(HOST, port)
            try:
                for _ in range(rng.randrange(1, 10)):
                    data = os.urandom(rng.randrange(1, 20_000))
                    writer.write(data)
                    assert await reader.readexactly(len(data)) == data
                    counts['echoes'] += 1
            finally:
                writer.close()
                await writer.wait_closed()

    def fired():
        counts['timers'] += 1

    async def timers():
        # Timers scheduled, some cancelled before they fire.
        while time.monotonic() < stop:
            handles = [loop.call_later(rng.uniform(0, 0.05), fired)
                       for _ in range(50)]
            for h in handles[::3]:
                h.cancel()
            await asyncio.sleep(0.01)

    async def sample():
        # RSS after a warm-up of a fifth of the run (at most 30 s).
        await asyncio.sleep(min(seconds / 5, 30))
        gc.collect()
        return rss()

    tasks = [asyncio.ensure_future(echo_client()) for _ in range(20)]
    tasks.append(asyncio.ensure_future(timers()))
    try:
        rss0 = await sample()
        await asyncio.gather(*tasks)
        await asyncio.sleep(0.1)        # the last timers and closes
    finally:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await close_server(server)
    gc.collect()
    return dict(counts, fds0=fds0, fds1=len(fds()), rss0=rss0, rss1=rss())
