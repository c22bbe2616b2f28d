"""Scale benchmarks: memory per idle connection, a million pending timers.

idle connections: an echo server (servers/echo_server.py, protocol or
streams style, or the C ceiling) is pinned to CPU 0; this process opens N
TCP connections to it and makes one 1-byte round trip on each, so the
server has accepted and set up every one of them.  The figure is the
growth of the server's RSS divided by N.

timers: run as a program in a fresh process per loop,

    python benchmarks/scale.py timers --loop NAME [--n 1000000]

schedules N call_later timers 60-70 s ahead (scrambled order), then one
10 ms timer on top of them, and prints one JSON line: the CPU time to
schedule them (ns per timer), the RSS growth (bytes per timer), how late
the 10 ms timer fires (first-fire latency: what a heap of N costs the
next timer due) and the median lateness of 20 more 2 ms timers fired one
after another over the same heap.
"""
import argparse
import json
import os
import resource
import socket
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import loops
import net

IDLE_STYLES = ('protocol', 'streams')
BATCH = 200         # connections opened before waiting for their echoes


def rss_bytes(pid='self'):
    """Resident set size of a process, from /proc/PID/status."""
    with open(f'/proc/{pid}/status') as f:
        for line in f:
            if line.startswith('VmRSS:'):
                return int(line.split()[1]) * 1024
    raise RuntimeError('no VmRSS')


def raise_fd_limit(needed):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < needed:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, needed), hard))
    if resource.getrlimit(resource.RLIMIT_NOFILE)[0] < needed:
        raise OSError(f'RLIMIT_NOFILE hard limit {hard} < {needed}')


def _connect(port):
    # Not socket.create_connection: its getaddrinfo per call would make
    # 10,000 connections take a third longer.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.settimeout(30)
    sock.connect(('127.0.0.1', port))
    return sock


def open_idle(port, n):
    """n connected sockets, each having made one round trip."""
    conns = []
    for start in range(0, n, BATCH):
        # In batches, so the server's accept backlog never overflows (an
        # overflow costs a 1 s SYN retransmit and a wrong idea of speed).
        batch = [_connect(port) for _ in range(min(BATCH, n - start))]
        for sock in batch:
            sock.sendall(b'x')
        for sock in batch:
            if sock.recv(1) != b'x':
                raise OSError('no echo')
        conns.extend(batch)
    return conns


def idle_unit(loop, style, n, progress):
    """Server RSS growth per idle connection.  Yields one record."""
    progress(f'scale idle {n} conns {style}', loop)
    params = {'style': style, 'n': n}
    if loop == net.CEILING:
        server = net.Server([os.path.join(net.BIN, 'echo_server'),
                             '-p', '0'])
    else:
        server = net.python_server(
            'echo_server.py', ['--loop', loop, '--style', style,
                               '--port', '0'])
    conns = []
    try:
        if server.na:
            yield dict(params, na=server.na)
            return
        raise_fd_limit(n + 100)
        port = int(server.address)
        # One connection first, so one-time setup (first transport, first
        # task) is in the baseline and not charged to the N connections.
        conns = open_idle(port, 1)
        time.sleep(0.05)
        before = rss_bytes(server.pid)
        conns += open_idle(port, n)
        time.sleep(0.2)          # let the server finish its last callbacks
        after = rss_bytes(server.pid)
        yield dict(params, rss_before=before, rss_after=after,
                   bytes_per_conn=(after - before) / n)
    # Whatever failed (fd limit, a reset, no echo), the cell is n/a.
    except Exception as exc:  # noqa: BLE001
        yield dict(params,
                   na=server.died() or f'{type(exc).__name__}: {exc}')
    finally:
        # Server first: its side then holds the TIME_WAIT entries, all on
        # its one port, rather than 10,000 of this machine's client ports.
        server.stop()
        for sock in conns:
            sock.close()


NEAR_TIMERS = 21      # near timers fired one after another over the heap


def timers(loop_name, n):
    """Schedule n far timers, then near ones; see the module docstring."""
    lp = loops.new_loop(loop_name)

    async def late_ms(delay):
        """How late a timer `delay` ahead fires, in ms (wall clock)."""
        fired = lp.create_future()
        due = time.monotonic() + delay
        lp.call_later(delay, lambda: fired.set_result(time.monotonic()))
        return (await fired - due) * 1e3

    async def main():
        before = rss_bytes()
        # CPU time, as in micro.py: what other processes take from a shared
        # machine is not charged to the loop.
        t0 = time.process_time()
        schedule = lp.call_later
        for i in range(n):
            # 60-70 s ahead, scrambled (7919 is prime): none fires here.
            schedule(60 + (i * 7919 % 10000) * 1e-3, _noop)
        scheduled = time.process_time() - t0
        grown = rss_bytes() - before
        # The first one pays any work a loop deferred (a lazy heapify); one
        # sample is at the mercy of a busy machine, so the median of the
        # others, each scheduled when the previous fired, is kept too.
        lateness = [await late_ms(0.010)]
        for _ in range(NEAR_TIMERS - 1):
            lateness.append(await late_ms(0.002))
        return {'n': n, 'schedule_s': scheduled,
                'ns_per_timer': scheduled / n * 1e9,
                'bytes_per_timer': grown / n,
                'first_fire_late_ms': lateness[0],
                'fire_late_ms': statistics.median(lateness[1:])}

    return lp.run_until_complete(main())


def _noop():
    pass


def timers_record(loop, n, progress):
    """Run `timers` in a fresh process pinned to CPU 0.  Yields one record."""
    progress(f'scale {n} timers', loop)
    argv = ['taskset', '-c', net.SERVER_CPU, sys.executable,
            os.path.abspath(__file__), 'timers', '--loop', loop,
            '--n', str(n)]
    try:
        done = subprocess.run(argv, check=False,
                              capture_output=True, text=True,
                              timeout=120)
    except subprocess.TimeoutExpired:
        yield {'n': n, 'na': 'timed out'}
        return
    if done.returncode:
        lines = done.stderr.strip().splitlines() or ['failed']
        yield {'n': n, 'na': lines[-1][-200:]}
        return
    yield dict(json.loads(done.stdout), n=n)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('what', choices=('timers',))
    parser.add_argument('--loop', required=True, choices=loops.LOOPS)
    parser.add_argument('--n', type=int, default=1_000_000)
    args = parser.parse_args()
    try:
        result = timers(args.loop, args.n)
    except NotImplementedError as exc:
        result = {'na': f'NotImplementedError: {exc}'}
    print(json.dumps(result), flush=True)
    os._exit(0)     # tearing down a million timers is not measured


if __name__ == '__main__':
    main()
