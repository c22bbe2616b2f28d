"""In-process micro-benchmarks: operations per second of one loop primitive.

Each benchmark is a function `bench(lp, n) -> (wall, cpu)` that runs `n`
operations on a fresh, not yet running loop `lp` and returns the wall and
CPU seconds of the measured part only (setup such as creating sockets is
excluded).

Run as a program, it measures one benchmark on one loop and prints one JSON
line; run.py starts it in a fresh process per loop per round, so no loop
inherits another's heap, caches or threads:

    python benchmarks/micro.py --loop uvloop --bench call_soon [--n N]

A feature the loop does not have yet (NotImplementedError) or a Python too
old for the benchmark gives {"na": reason}, so the report can say n/a.
test_micro.py runs the same functions under pytest-benchmark.
"""
import argparse
import asyncio
import contextlib
import json
import os
import socket
import subprocess
import sys
import threading
from time import perf_counter, process_time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import loops


class NotAvailable(Exception):
    """The benchmark cannot run here (feature missing, Python too old)."""


class Stopwatch:
    """Wall time and this process's CPU time (all its threads) since start.

    The report uses CPU time: on a shared machine the time other processes
    take from ours counts as wall time but not as our CPU time, and every
    benchmark process is pinned to one CPU, so on a quiet machine the two
    agree (save the timers benchmark's few idle milliseconds).
    """

    def __init__(self):
        self.wall, self.cpu = perf_counter(), process_time()

    def stop(self):
        """(wall seconds, CPU seconds) since start."""
        return perf_counter() - self.wall, process_time() - self.cpu


def _noop(*args):
    pass


def call_soon(lp, n):
    """n callbacks queued from a running task, then drained."""
    async def main():
        done = lp.create_future()
        schedule = lp.call_soon
        watch = Stopwatch()
        for _ in range(n):
            schedule(_noop)
        # FIFO order: this runs after every callback queued above.
        schedule(done.set_result, None)
        await done
        return watch.stop()
    return lp.run_until_complete(main())


def call_soon_3args(lp, n):
    """As call_soon, each callback with three positional arguments."""
    async def main():
        done = lp.create_future()
        schedule = lp.call_soon
        watch = Stopwatch()
        for i in range(n):
            schedule(_noop, i, 2, 3)
        schedule(done.set_result, None)
        await done
        return watch.stop()
    return lp.run_until_complete(main())


def call_soon_threadsafe(lp, n):
    """n callbacks queued by another thread while the loop drains them."""
    async def main():
        done = lp.create_future()

        def producer():
            schedule = lp.call_soon_threadsafe
            for _ in range(n):
                schedule(_noop)
            schedule(done.set_result, None)

        thread = threading.Thread(target=producer)
        watch = Stopwatch()
        thread.start()
        await done
        elapsed = watch.stop()
        thread.join()
        return elapsed
    return lp.run_until_complete(main())


def timers(lp, n):
    """n call_later over 0-5 ms, every other one cancelled, until all fire."""
    async def main():
        done = lp.create_future()
        left = n - n // 2

        def fire():
            nonlocal left
            left -= 1
            if not left:
                done.set_result(None)

        schedule = lp.call_later
        watch = Stopwatch()
        # 7919 is prime, so the delays come in a scrambled order: the heap
        # sees a realistic mix, not an already sorted sequence.
        handles = [schedule((i * 7919 % 5000) * 1e-6, fire)
                   for i in range(n)]
        for handle in handles[1::2]:
            handle.cancel()
        await done
        return watch.stop()
    return lp.run_until_complete(main())


def timer_churn(lp, n):
    """call_later(30).cancel(): a timeout that is set up and never fires."""
    async def main():
        schedule = lp.call_later
        watch = Stopwatch()
        for i in range(n):
            schedule(30.0, _noop).cancel()
            if i % 1000 == 999:
                # A real program yields between timeouts; this lets each
                # loop run its own cancelled-timer housekeeping.
                await asyncio.sleep(0)
        await asyncio.sleep(0)
        return watch.stop()
    return lp.run_until_complete(main())


def sleep0(lp, n):
    """One task doing `await asyncio.sleep(0)` n times."""
    async def main():
        watch = Stopwatch()
        for _ in range(n):
            await asyncio.sleep(0)
        return watch.stop()
    return lp.run_until_complete(main())


async def _trivial():
    return None


def tasks(lp, n):
    """gather() of n trivial coroutines (task creation, run, completion)."""
    async def main():
        watch = Stopwatch()
        await asyncio.gather(*[_trivial() for _ in range(n)])
        return watch.stop()
    return lp.run_until_complete(main())


def tasks_eager(lp, n):
    """As tasks, with asyncio.eager_task_factory (Python 3.12+)."""
    factory = getattr(asyncio, 'eager_task_factory', None)
    if factory is None:
        raise NotAvailable('eager_task_factory needs Python 3.12+')
    lp.set_task_factory(factory)
    return tasks(lp, n)


def queue_pingpong(lp, n):
    """Two tasks passing an item back and forth through asyncio.Queues."""
    async def main():
        there, back = asyncio.Queue(), asyncio.Queue()

        async def echo():
            while (item := await there.get()) is not None:
                back.put_nowait(item)

        peer = lp.create_task(echo())
        watch = Stopwatch()
        for i in range(n):
            there.put_nowait(i)
            await back.get()
        elapsed = watch.stop()
        there.put_nowait(None)
        await peer
        return elapsed
    return lp.run_until_complete(main())


def sock_pingpong(lp, n):
    """100-byte round trips over a socketpair with sock_sendall/sock_recv."""
    msg = b'x' * 100
    a, b = socket.socketpair()
    a.setblocking(False)
    b.setblocking(False)

    async def echo():
        while data := await lp.sock_recv(b, 65536):
            await lp.sock_sendall(b, data)

    async def main():
        peer = lp.create_task(echo())
        watch = Stopwatch()
        for _ in range(n):
            await lp.sock_sendall(a, msg)
            got = 0
            while got < len(msg):
                got += len(await lp.sock_recv(a, 65536))
        elapsed = watch.stop()
        a.shutdown(socket.SHUT_WR)      # the echo task sees EOF and ends
        await peer
        return elapsed
    try:
        return lp.run_until_complete(main())
    finally:
        a.close()
        b.close()


def stream_pingpong(lp, n):
    """100-byte line round trips: StreamWriter.write/drain, readline."""
    line = b'x' * 99 + b'\n'
    a, b = socket.socketpair()

    async def main():
        ra, wa = await asyncio.open_connection(sock=a)
        rb, wb = await asyncio.open_connection(sock=b)

        async def echo():
            while data := await rb.readline():
                wb.write(data)
                await wb.drain()

        peer = lp.create_task(echo())
        watch = Stopwatch()
        for _ in range(n):
            wa.write(line)
            await wa.drain()
            await ra.readline()
        elapsed = watch.stop()
        # Cancel rather than wait for EOF: rloop 0.5 does not deliver EOF
        # to the peer when a transport made with sock= is closed.
        peer.cancel()
        await asyncio.gather(peer, return_exceptions=True)
        wa.close()
        wb.close()
        return elapsed
    return lp.run_until_complete(main())


def getaddrinfo(lp, n):
    """loop.getaddrinfo of a numeric host, n times in sequence."""
    async def main():
        watch = Stopwatch()
        for _ in range(n):
            await lp.getaddrinfo('127.0.0.1', 80, type=socket.SOCK_STREAM)
        return watch.stop()
    return lp.run_until_complete(main())


# name -> (function, operations in a full run). The sizes the issue names
# are kept (1M call_soon, 200k timers and sleep0, 100k tasks); the others
# are sized to take about half a second on asyncio. Quick runs do a tenth.
BENCHMARKS = {
    'call_soon': (call_soon, 1_000_000),
    'call_soon_3args': (call_soon_3args, 500_000),
    'call_soon_threadsafe': (call_soon_threadsafe, 100_000),
    'timers': (timers, 200_000),
    'timer_churn': (timer_churn, 200_000),
    'sleep0': (sleep0, 200_000),
    'tasks': (tasks, 100_000),
    'tasks_eager': (tasks_eager, 100_000),
    'queue_pingpong': (queue_pingpong, 50_000),
    'sock_pingpong': (sock_pingpong, 10_000),
    'stream_pingpong': (stream_pingpong, 20_000),
    'getaddrinfo': (getaddrinfo, 5_000),
}


def run_once(loop_name, bench, n):
    """(wall, CPU) seconds of n operations of `bench` on a new loop."""
    lp = loops.new_loop(loop_name)
    try:
        return BENCHMARKS[bench][0](lp, n)
    finally:
        # Executor threads (getaddrinfo) must not outlive the loop.
        with contextlib.suppress(NotImplementedError, RuntimeError):
            lp.run_until_complete(lp.shutdown_default_executor())
        lp.close()


def measure(loop_name, bench, n):
    """A result record after a 1/10-size warm-up run: operations per CPU
    second ('ops', the figure the report uses) and per wall second."""
    try:
        run_once(loop_name, bench, max(1, n // 10))
        wall, cpu = run_once(loop_name, bench, n)
    except NotAvailable as exc:
        return {'na': str(exc)}
    except NotImplementedError as exc:
        return {'na': not_implemented(exc)}
    return {'ops': n / cpu, 'wall_ops': n / wall, 'cpu_s': cpu,
            'wall_s': wall, 'n': n}


def not_implemented(exc):
    """'NotImplementedError in sock_recv': which loop method is missing."""
    import traceback
    frames = traceback.extract_tb(exc.__traceback__)
    where = frames[-1].name if frames else '?'
    return f'NotImplementedError in {where}'


def record(loop, bench, quick, progress):
    """Run one benchmark in a fresh process pinned to CPU 0.  Yields one
    record (run.py's unit of work)."""
    progress(f'micro {bench}', loop)
    n = BENCHMARKS[bench][1] // (10 if quick else 1)
    argv = ['taskset', '-c', '0', sys.executable, os.path.abspath(__file__),
            '--loop', loop, '--bench', bench, '--n', str(n)]
    try:
        done = subprocess.run(argv, check=False,
                              capture_output=True, text=True,
                              timeout=120)
    except subprocess.TimeoutExpired:
        yield {'bench': bench, 'na': 'timed out after 120 s'}
        return
    lines = done.stdout.strip().splitlines()
    if done.returncode or not lines:
        errors = done.stderr.strip().splitlines() or ['failed']
        yield {'bench': bench, 'na': errors[-1][-200:]}
        return
    yield dict(json.loads(lines[-1]), bench=bench)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--loop', required=True, choices=loops.LOOPS)
    parser.add_argument('--bench', required=True, choices=sorted(BENCHMARKS))
    parser.add_argument('--n', type=int, help='operations (default: full)')
    args = parser.parse_args()
    n = args.n or BENCHMARKS[args.bench][1]
    print(json.dumps(measure(args.loop, args.bench, n)), flush=True)
    # Skip interpreter teardown: nothing is measured there and some loops
    # are slow to finalise.
    os._exit(0)


if __name__ == '__main__':
    main()
