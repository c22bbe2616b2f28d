"""Application benchmarks: real frameworks and drivers on each loop.

- uvicorn + Starlette and aiohttp web servers (servers/app_*.py), pinned to
  CPU 0, loaded by `wrk -t1 -c100` (keep-alive) on CPU 1, on two endpoints:
  /plaintext and /json.  Figures: requests/s and the server's CPU per
  request, as net.py measures its HTTP cells.
- asyncpg: this file run as a program, pinned to CPU 0,

      python benchmarks/apps.py asyncpg --loop NAME --dsn DSN

  runs TASKS tasks, each with its own connection, each awaiting one query
  after another (`fetchval('SELECT 1')`, then a 10-row `fetch`), against a
  throwaway PostgreSQL server on 127.0.0.1 pinned to CPU 1.  Figures:
  queries/s and the client process's CPU per query (the loop's and
  asyncpg's share; the server's is the same for every loop).

The PostgreSQL server is started once per run (on first use) in a temporary
directory as the `postgres` user (initdb, then `postgres` on a free port,
no fsync), and stopped and removed at the end of the run, at exit, or, if
the runner is killed, by the parent-death signal it sets.  By hand:

    python benchmarks/apps.py postgres     # prints a DSN, Ctrl-C stops it

Instructions per request (deterministic, for comparing loops on a noisy
machine): run a server under `valgrind --tool=callgrind`, send it
`python benchmarks/apps.py requests --port P --conns 100 --per-conn 5`
(warm-up) and then `--per-conn 1` (short run) or `--per-conn 21` (long run),
stop it with SIGTERM; (long total - short total) / 2,000 is the cost of a
request over connections that exist in both runs.  For asyncpg, the client
with 0 and with N queries, likewise.

Without PostgreSQL (Debian: apt-get install postgresql) or a package
(requirements-bench.txt), the cells say n/a and why.
"""
import argparse
import asyncio
import atexit
import ctypes
import glob
import importlib.util
import json
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import loops
import net

# app -> (server script, packages it needs)
HTTP_APPS = {
    'uvicorn': ('app_uvicorn.py', ('uvicorn', 'starlette', 'httptools')),
    'aiohttp': ('app_aiohttp.py', ('aiohttp',)),
}
ENDPOINTS = ('plaintext', 'json')
HTTP_CONNS = 100
QUERIES = ('fetchval', 'fetch')
TASKS = 10          # concurrent asyncpg tasks, one connection each

# Seconds: wrk takes whole seconds; the asyncpg client any.
FULL = {'http_warmup': 1, 'http_measure': 2,
        'pg_warmup': 0.5, 'pg_measure': 2.0}
QUICK = {'http_warmup': 0, 'http_measure': 1,
         'pg_warmup': 0.2, 'pg_measure': 0.5}


def missing_packages(names):
    """Why a cell cannot run: the packages not installed, or None."""
    absent = [n for n in names if importlib.util.find_spec(n) is None]
    if absent:
        return (', '.join(absent) + ' not installed (pip install -r '
                'requirements-bench.txt)')
    return None


# --- HTTP applications -----------------------------------------------------

def run_wrk(port, path, conns, seconds, pid=None):
    """net.py's wrk run against one path; error responses make it n/a."""
    return net.run_wrk(port, conns, seconds, pid, path=path,
                       reject_errors=True)


def http_unit(loop, app, timing, progress):
    """Start one app server; warm it up; measure each endpoint.  Yields."""
    script, packages = HTTP_APPS[app]
    server = None
    na = ((None if shutil.which('wrk') else 'wrk not installed')
          or missing_packages(packages))
    if not na:
        server = net.python_server(script, ['--loop', loop])
        na = server.na
    try:
        if not na and timing['http_warmup']:
            progress(f'apps {app} warm-up', loop)
            for endpoint in ENDPOINTS:
                warm = run_wrk(server.address, '/' + endpoint, HTTP_CONNS,
                               timing['http_warmup'])
                if 'na' in warm:
                    na = server.died() or warm['na']
                    break
        for endpoint in ENDPOINTS:
            params = {'app': app, 'workload': endpoint, 'conns': HTTP_CONNS}
            progress(f'apps {app} /{endpoint} c{HTTP_CONNS}', loop)
            if na:
                yield dict(params, na=na)
                continue
            result = run_wrk(server.address, '/' + endpoint, HTTP_CONNS,
                             timing['http_measure'], server.pid)
            if 'na' in result:
                result['na'] = server.died() or result['na']
            yield dict(params, **result)
    finally:
        if server:
            server.stop()


def http_seconds(timing):
    """Estimated seconds of one HTTP app unit (for the time-left line)."""
    return 1.0 + len(ENDPOINTS) * (timing['http_warmup']
                                   + timing['http_measure'] + 0.2)


# --- PostgreSQL ------------------------------------------------------------

def _pg_bindir():
    """The newest installed PostgreSQL's bin directory, or None."""
    found = sorted(glob.glob('/usr/lib/postgresql/*/bin/postgres'),
                   key=lambda p: int(p.split('/')[-3]) if
                   p.split('/')[-3].isdigit() else 0)
    return os.path.dirname(found[-1]) if found else None


def _free_port():
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


def _child_setup():
    """In the server's process before exec: its CPU, and a signal for when
    the runner dies, so a killed run does not leave a server behind (set
    after the uid change, which would clear it)."""
    os.sched_setaffinity(0, {int(net.CLIENT_CPU)})
    libc = ctypes.CDLL(None, use_errno=True)
    pr_set_pdeathsig = 1
    libc.prctl(pr_set_pdeathsig, signal.SIGINT)


class Postgres:
    """A throwaway PostgreSQL server on 127.0.0.1; `na` says why not."""

    def __init__(self):
        self.proc = self.tmp = self.dsn = None
        self.na = None
        self.log = None
        try:
            self._start()
        except Exception as exc:  # noqa: BLE001 - any failure is an n/a
            self.na = self.na or f'PostgreSQL: {type(exc).__name__}: {exc}'
        if self.na:
            self.stop()
        else:
            atexit.register(self.stop)

    def _start(self):
        bindir = _pg_bindir()
        if not bindir:
            self.na = ('PostgreSQL not installed (Debian: apt-get install '
                       'postgresql)')
            return
        # The server refuses to run as root: as root, run it as `postgres`.
        run_as = {}
        if os.geteuid() == 0:
            try:
                user = pwd.getpwnam('postgres')
            except KeyError:
                self.na = 'running as root and there is no postgres user'
                return
            run_as = {'user': user.pw_uid, 'group': user.pw_gid,
                      'extra_groups': []}
        self.tmp = tempfile.mkdtemp(prefix='loop-bench-pg-')
        if run_as:
            os.chown(self.tmp, run_as['user'], run_as['group'])
        data = os.path.join(self.tmp, 'data')
        init = subprocess.run(
            [os.path.join(bindir, 'initdb'), '-D', data, '-A', 'trust',
             '-U', 'postgres', '-E', 'UTF8', '--locale=C', '--no-sync'],
            check=False, capture_output=True, text=True, timeout=120,
            cwd=self.tmp, **run_as)
        if init.returncode:
            self.na = 'initdb failed: ' + init.stderr.strip()[-200:]
            return
        port = _free_port()
        # Closed by stop(): the server outlives this method.
        self.log = open(os.path.join(self.tmp, 'log'), 'w+')  # noqa: SIM115
        self.proc = subprocess.Popen(
            [os.path.join(bindir, 'postgres'), '-D', data,
             '-h', '127.0.0.1', '-p', str(port), '-k', self.tmp,
             # A benchmark's server: durability off, room for the tasks.
             '-c', 'fsync=off', '-c', 'synchronous_commit=off',
             '-c', 'full_page_writes=off', '-c', 'max_connections=100'],
            stdin=subprocess.DEVNULL, stdout=self.log, stderr=self.log,
            # preexec_fn: the only way to set the death signal; the runner
            # starts no threads, so the fork it runs after is safe.
            cwd=self.tmp, preexec_fn=_child_setup,  # noqa: PLW1509
            **run_as)
        isready = [os.path.join(bindir, 'pg_isready'), '-q',
                   '-h', '127.0.0.1', '-p', str(port), '-U', 'postgres']
        deadline = time.monotonic() + 30
        while subprocess.run(isready, check=False).returncode:
            if self.proc.poll() is not None:
                self.na = 'postgres exited: ' + self._log_tail()
                return
            if time.monotonic() > deadline:
                self.na = 'postgres not ready in 30 s: ' + self._log_tail()
                return
            time.sleep(0.1)
        self.dsn = f'postgresql://postgres@127.0.0.1:{port}/postgres'

    def _log_tail(self):
        self.log.seek(0)
        lines = self.log.read().strip().splitlines()
        return lines[-1][-200:] if lines else 'no log'

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)     # "fast" shutdown
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None
        if self.log:
            self.log.close()
            self.log = None
        if self.tmp:
            shutil.rmtree(self.tmp, ignore_errors=True)
            self.tmp = None


_postgres = None


def postgres():
    """The run's PostgreSQL server, started on first use."""
    global _postgres
    if _postgres is None:
        _postgres = Postgres()
    return _postgres


def shutdown():
    """Stop the run's PostgreSQL server, if one was started."""
    if _postgres is not None:
        _postgres.stop()


# --- asyncpg ---------------------------------------------------------------

TABLE_SETUP = """
CREATE TABLE IF NOT EXISTS bench_rows (
    id integer PRIMARY KEY, name text NOT NULL, price float8 NOT NULL);
INSERT INTO bench_rows
    SELECT g, 'item ' || g, g * 1.25 FROM generate_series(1, 100) AS g
    ON CONFLICT DO NOTHING;
"""


async def _query(conn, kind):
    if kind == 'fetchval':
        return await conn.fetchval('SELECT 1')
    return await conn.fetch(
        'SELECT id, name, price FROM bench_rows ORDER BY id LIMIT $1', 10)


async def asyncpg_bench(dsn, tasks, warmup, seconds):
    """Per query kind: queries/s and client CPU per query.  Returns dicts."""
    import asyncpg
    conns = [await asyncpg.connect(dsn) for _ in range(tasks)]
    try:
        await conns[0].execute(TABLE_SETUP)
        if await _query(conns[0], 'fetchval') != 1 or len(
                await _query(conns[0], 'fetch')) != 10:
            raise RuntimeError('wrong query results')
        results = []
        for kind in QUERIES:
            results.append(await _measure(conns, kind, warmup, seconds))
        return results
    finally:
        for conn in conns:
            await conn.close()


async def _measure(conns, kind, warmup, seconds):
    done = [0]
    running = True

    async def worker(conn):
        while running:
            await _query(conn, kind)
            done[0] += 1

    workers = [asyncio.ensure_future(worker(conn)) for conn in conns]
    await asyncio.sleep(warmup)
    n0, wall0, cpu0 = done[0], time.perf_counter(), time.process_time()
    await asyncio.sleep(seconds)
    n1, wall1, cpu1 = done[0], time.perf_counter(), time.process_time()
    running = False
    await asyncio.gather(*workers)
    queries = n1 - n0
    if not queries:
        return {'workload': kind, 'na': 'no query completed'}
    return {'workload': kind, 'tasks': len(conns), 'requests': queries,
            'rps': queries / (wall1 - wall0),
            'cpu_us': (cpu1 - cpu0) / queries * 1e6,
            # Near 1.0: the client is the bottleneck; lower: the server.
            'client_util': (cpu1 - cpu0) / (wall1 - wall0)}


def asyncpg_unit(loop, timing, progress):
    """Run the asyncpg client in a fresh process pinned to CPU 0.  Yields
    one record per query kind."""
    progress('apps asyncpg', loop)
    na = missing_packages(('asyncpg',))
    if not na:
        server = postgres()
        na = server.na
    if na:
        for kind in QUERIES:
            yield {'app': 'asyncpg', 'workload': kind, 'na': na}
        return
    argv = ['taskset', '-c', net.SERVER_CPU, sys.executable,
            os.path.abspath(__file__), 'asyncpg', '--loop', loop,
            '--dsn', server.dsn, '--tasks', str(TASKS),
            '--warmup', str(timing['pg_warmup']),
            '--seconds', str(timing['pg_measure'])]
    budget = 60 + len(QUERIES) * (timing['pg_warmup'] + timing['pg_measure'])
    try:
        done = subprocess.run(argv, check=False, capture_output=True,
                              text=True, timeout=budget)
        lines = done.stdout.strip().splitlines()
        if done.returncode or not lines:
            errors = done.stderr.strip().splitlines() or ['failed']
            na = errors[-1][-200:]
    except subprocess.TimeoutExpired:
        na = f'timed out after {budget:.0f} s'
    if na:
        for kind in QUERIES:
            yield {'app': 'asyncpg', 'workload': kind, 'na': na}
        return
    for rec in json.loads(lines[-1]):
        yield dict(rec, app='asyncpg')


def asyncpg_seconds(timing):
    return 1.5 + len(QUERIES) * (timing['pg_warmup'] + timing['pg_measure'])


async def exact_requests(port, path, conns, per_conn):
    """Exactly conns * per_conn keep-alive GETs, each awaited before the
    next on its connection: a fixed amount of work for instruction counts
    (callgrind), where wrk's fixed duration would not do."""
    async def one_connection():
        reader, writer = await asyncio.open_connection('127.0.0.1', port)
        request = f'GET {path} HTTP/1.1\r\nHost: bench\r\n\r\n'.encode()
        for _ in range(per_conn):
            writer.write(request)
            head = await reader.readuntil(b'\r\n\r\n')
            if not head.startswith(b'HTTP/1.1 200 '):
                raise RuntimeError(head.split(b'\r\n', 1)[0].decode())
            length = 0
            for line in head.lower().split(b'\r\n'):
                if line.startswith(b'content-length:'):
                    length = int(line.split(b':', 1)[1])
            await reader.readexactly(length)
        writer.close()
        await writer.wait_closed()

    await asyncio.gather(*(one_connection() for _ in range(conns)))


def versions():
    """Package and server versions, for the report's header."""
    from importlib import metadata
    out = {}
    for name in ('uvicorn', 'starlette', 'aiohttp', 'asyncpg'):
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = 'not installed'
    bindir = _pg_bindir()
    out['PostgreSQL'] = 'not installed'
    if bindir:
        done = subprocess.run([os.path.join(bindir, 'postgres'), '--version'],
                              check=False, capture_output=True, text=True)
        if done.stdout:
            out['PostgreSQL'] = done.stdout.split()[2]
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    sub = parser.add_subparsers(dest='what', required=True)
    client = sub.add_parser('asyncpg', help='run the asyncpg client')
    client.add_argument('--loop', required=True, choices=loops.LOOPS)
    client.add_argument('--dsn', required=True)
    client.add_argument('--tasks', type=int, default=TASKS)
    client.add_argument('--warmup', type=float, default=FULL['pg_warmup'])
    client.add_argument('--seconds', type=float, default=FULL['pg_measure'])
    load = sub.add_parser('requests', help='exactly CONNS x PER_CONN GETs '
                          '(for callgrind runs of a server)')
    load.add_argument('--port', type=int, required=True)
    load.add_argument('--path', default='/json')
    load.add_argument('--conns', type=int, default=HTTP_CONNS)
    load.add_argument('--per-conn', type=int, default=20)
    sub.add_parser('postgres', help='start a throwaway server, print its '
                   'DSN, stop it on Ctrl-C or SIGTERM')
    args = parser.parse_args()
    if args.what == 'requests':
        asyncio.run(exact_requests(args.port, args.path, args.conns,
                                   args.per_conn))
        return
    if args.what == 'postgres':
        # SIGTERM too runs the cleanup (atexit and finally).
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
        server = postgres()
        try:
            print(server.na or server.dsn, flush=True)
            if not server.na:
                signal.pause()
        except KeyboardInterrupt:
            pass
        finally:
            shutdown()
        return
    lp = loops.new_loop(args.loop)
    try:
        results = lp.run_until_complete(asyncpg_bench(
            args.dsn, args.tasks, args.warmup, args.seconds))
    except NotImplementedError as exc:
        results = [{'workload': kind, 'na': f'NotImplementedError: {exc}'}
                   for kind in QUERIES]
    print(json.dumps(results), flush=True)
    lp.close()


if __name__ == '__main__':
    main()
