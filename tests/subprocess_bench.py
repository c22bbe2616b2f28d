"""Spawn N processes concurrently and wait for them all, on each loop.

    PYTHONPATH=src python tests/subprocess_bench.py [-n 200] [--rounds 15]

Two workloads: `true` with no pipes (spawn and reap only), and `true` with
stdout=PIPE read by communicate() (spawn, two pipe transports, reap).  The
loops (stdlib asyncio, uvloop when installed, ours) are measured in the same
process, round by round in turn (rotating who goes first), so that machine
noise hits all of them alike.  The table gives the median and best round of wall time, and the
median CPU time of this process (its threads included, its children not),
all in milliseconds: on a loaded machine the CPU column is the steadier.
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
    """(wall seconds, CPU seconds of this process) for one round."""
    ev = factory()
    try:
        cpu0 = time.process_time()
        t0 = time.perf_counter()
        ev.run_until_complete(workload(n))
        return time.perf_counter() - t0, time.process_time() - cpu0
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
    print(f'{"workload":<12} {"loop":<8} {"median ms":>10} {"best ms":>8} '
          f'{"cpu ms":>8}')
    for workload in (no_pipes, stdout_pipe):
        times = {name: [] for name in loops}
        for name, factory in loops.items():     # warm up
            measure(factory, workload, 10)
        order = list(loops.items())
        for _ in range(args.rounds):
            # Rotate who goes first: a round must not always follow the
            # same neighbour (uvloop's fork() leaves the most work behind).
            order.append(order.pop(0))
            for name, factory in order:
                times[name].append(measure(factory, workload, args.n))
        for name, samples in times.items():
            wall = [w for w, _ in samples]
            cpu = [c for _, c in samples]
            print(f'{workload.__name__:<12} {name:<8} '
                  f'{statistics.median(wall) * 1e3:>10.1f} '
                  f'{min(wall) * 1e3:>8.1f} '
                  f'{statistics.median(cpu) * 1e3:>8.1f}')


if __name__ == '__main__':
    main()
