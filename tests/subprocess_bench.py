"""Spawn N processes concurrently and wait for them all, on each loop.

    PYTHONPATH=src python tests/subprocess_bench.py [-n 200] [--rounds 15]

Two workloads: `true` with no pipes (spawn and reap only), and `true` with
stdout=PIPE read by communicate() (spawn, two pipe transports, reap).  The
loops (stdlib asyncio, uvloop when installed, ours) are measured in the same
process, round by round in turn, so that machine noise hits all of them
alike; the table gives the median and best round in milliseconds.
"""
import argparse
import asyncio
import statistics
import subprocess
import sys
import time

import loop as eloop


async def no_pipes(n):
    procs = await asyncio.gather(*[
        asyncio.create_subprocess_exec('true') for _ in range(n)])
    codes = await asyncio.gather(*[p.wait() for p in procs])
    assert codes == [0] * n


async def stdout_pipe(n):
    async def one():
        proc = await asyncio.create_subprocess_exec(
            'true', stdout=subprocess.PIPE)
        await proc.communicate()
        return proc.returncode
    codes = await asyncio.gather(*[one() for _ in range(n)])
    assert codes == [0] * n


def factories():
    found = {'asyncio': asyncio.new_event_loop}
    try:
        import uvloop
        found['uvloop'] = uvloop.new_event_loop
    except ImportError:
        pass
    found['loop'] = eloop.new_event_loop
    return found


def measure(factory, workload, n):
    ev = factory()
    try:
        t0 = time.perf_counter()
        ev.run_until_complete(workload(n))
        return time.perf_counter() - t0
    finally:
        ev.close()


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('-n', type=int, default=200)
    ap.add_argument('--rounds', type=int, default=15)
    args = ap.parse_args()
    loops = factories()
    print(f'Python {sys.version.split()[0]}, {args.n} processes, '
          f'{args.rounds} rounds')
    print(f'{"workload":<12} {"loop":<8} {"median ms":>10} {"best ms":>8}')
    for workload in (no_pipes, stdout_pipe):
        times = {name: [] for name in loops}
        for name, factory in loops.items():     # warm up
            measure(factory, workload, 10)
        for _ in range(args.rounds):
            for name, factory in loops.items():
                times[name].append(measure(factory, workload, args.n))
        for name, samples in times.items():
            print(f'{workload.__name__:<12} {name:<8} '
                  f'{statistics.median(samples) * 1e3:>10.1f} '
                  f'{min(samples) * 1e3:>8.1f}')


if __name__ == '__main__':
    main()
