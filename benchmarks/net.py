"""Network benchmarks: echo and HTTP servers under native load.

The server (servers/*.py, the same code for every loop, or the C ceiling)
runs pinned to CPU 0; the load generator (bin/echo_client or wrk) runs
pinned to CPU 1.  One server process serves every cell of its (loop, style,
transport): 1 KiB and 100 KiB messages, 100 and 1 connections, one after
the other, each after its own warm-up.

Two figures per cell: requests/s, and the server's CPU time per request
over the measured window (all its threads' on-CPU time: the utime+stime
figure, read with nanosecond precision from /proc/PID/task/TID/schedstat;
/proc/PID/stat's utime+stime, in 10 ms ticks, is recorded beside it as a
cross-check).
"""
import json
import os
import re
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
BIN = os.path.join(HERE, 'bin')
SERVERS = os.path.join(HERE, 'servers')
SERVER_CPU, CLIENT_CPU = '0', '1'

STYLES = ('protocol', 'buffered', 'streams', 'sockets')
TRANSPORTS = ('tcp', 'unix')
SIZES = (1024, 102400)
CONCURRENCY = (100, 1)
HTTP_WRITES = (1, 2)
CEILING = 'C'       # the loop name of the C echo server in the results

# Seconds of warm-up and of measurement per cell.  Latency at one
# connection needs fewer seconds than throughput at 100 to be stable.
FULL = {'warmup': {100: 0.2, 1: 0.1}, 'measure': {100: 0.8, 1: 0.4},
        'http_warmup': 1}
QUICK = {'warmup': {100: 0.1, 1: 0.1}, 'measure': {100: 0.3, 1: 0.2},
         'http_warmup': 0}
HTTP_SECONDS = 1        # wrk takes whole seconds


def build():
    """Compile the C tools into bin/ when missing or older than the source.

    Returns None, or why they could not be built.
    """
    os.makedirs(BIN, exist_ok=True)
    for name in ('echo_client', 'echo_server'):
        source = os.path.join(HERE, 'c', name + '.c')
        target = os.path.join(BIN, name)
        if (os.path.exists(target)
                and os.path.getmtime(target) >= os.path.getmtime(source)):
            continue
        done = subprocess.run(['gcc', '-O2', '-Wall', '-o', target, source],
                              check=False, capture_output=True, text=True)
        if done.returncode:
            return f'gcc failed on {name}.c: {done.stderr.strip()[-300:]}'
    return None


def size_label(size):
    return f'{size // 1024}KiB'


def echo_cells():
    """(transport, size, concurrency) of every echo cell, in run order."""
    return [(t, s, c) for t in TRANSPORTS for s in SIZES for c in CONCURRENCY]


class Server:
    """A server subprocess pinned to CPU 0, ready once it printed READY."""

    def __init__(self, argv):
        # Closed by stop(): the server outlives this method.
        self.errors = tempfile.TemporaryFile(mode='w+')  # noqa: SIM115
        self.proc = subprocess.Popen(
            ['taskset', '-c', SERVER_CPU, *argv], stdout=subprocess.PIPE,
            stderr=self.errors, stdin=subprocess.DEVNULL, text=True)
        self.pid = self.proc.pid        # taskset execs the server itself
        self.na = None
        self.address = None
        ready, _, _ = select.select([self.proc.stdout], [], [], 30)
        line = self.proc.stdout.readline().strip() if ready else ''
        if line.startswith('READY '):
            self.address = line.split(' ', 1)[1]
        elif line.startswith('NA '):
            self.na = line[3:]
        else:
            self.na = 'server did not start: ' + (self.stderr_tail() or
                                                  'no READY in 30 s')

    def stderr_tail(self):
        self.errors.seek(0)
        lines = self.errors.read().strip().splitlines()
        return lines[-1] if lines else ''

    def died(self):
        """Why the server is gone, or None while it runs."""
        code = self.proc.poll()
        if code is None:
            return None
        if code < 0:
            return f'server crashed ({signal.Signals(-code).name})'
        return f'server exited ({code}): {self.stderr_tail()}'

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(3)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc.stdout.close()
        self.errors.close()


def python_server(script, args):
    return Server([sys.executable, os.path.join(SERVERS, script), *args])


def probe(family, address):
    """One 1-byte round trip: does the server really echo?  None if so."""
    try:
        with socket.socket(family, socket.SOCK_STREAM) as sock:
            sock.settimeout(5)
            sock.connect(address)
            sock.sendall(b'x')
            if sock.recv(1) != b'x':
                return 'probe: no echo'
    except OSError as exc:
        return f'probe failed: {exc}'
    return None


def run_echo_client(address, unix, conns, size, warmup, seconds, pid):
    """One cell's measurement by bin/echo_client; returns a result dict."""
    where = ['-u', address] if unix else ['-p', address]
    argv = ['taskset', '-c', CLIENT_CPU, os.path.join(BIN, 'echo_client'),
            *where, '-c', str(conns), '-s', str(size), '-w', str(warmup),
            '-d', str(seconds), '-P', str(pid)]
    try:
        done = subprocess.run(argv, check=False,
                              capture_output=True, text=True,
                              timeout=warmup + seconds + 30)
    except subprocess.TimeoutExpired:
        return {'na': 'echo_client timed out'}
    if done.returncode:
        return {'na': done.stderr.strip()[-200:] or 'echo_client failed'}
    out = json.loads(done.stdout)
    if not out['requests']:
        return {'na': 'no request completed'}
    return per_request(out, out['requests'])


def per_request(out, requests):
    """Add the CPU-per-request figures (microseconds) to a result."""
    out['cpu_us'] = out['server_cpu_s'] / requests * 1e6
    out['stat_cpu_us'] = out['server_stat_cpu_s'] / requests * 1e6
    return out


def echo_unit(loop, style, transport, timing, progress):
    """Start one echo server; measure all its cells.  Yields records."""
    unix = transport == 'unix'
    tmp = tempfile.mkdtemp(prefix='loop-bench-') if unix else None
    path = os.path.join(tmp, 'echo.sock') if unix else None
    if loop == CEILING:
        server = Server([os.path.join(BIN, 'echo_server'),
                         *(['-u', path] if unix else ['-p', '0'])])
    else:
        server = python_server('echo_server.py', [
            '--loop', loop, '--style', style,
            *(['--unix', path] if unix else ['--port', '0'])])
    try:
        na = server.na
        if not na:
            family = socket.AF_UNIX if unix else socket.AF_INET
            target = path if unix else ('127.0.0.1', int(server.address))
            na = probe(family, target)
            if na:
                na = server.died() or na
        for t, size, conns in echo_cells():
            if t != transport:
                continue
            params = {'style': style, 'transport': transport, 'size': size,
                      'conns': conns}
            progress(f'echo {style} {transport} {size_label(size)} '
                     f'c{conns}', loop)
            if na:
                yield dict(params, na=na)
                continue
            result = run_echo_client(
                server.address, unix, conns, size, timing['warmup'][conns],
                timing['measure'][conns], server.pid)
            if 'na' in result:
                result['na'] = server.died() or result['na']
            yield dict(params, **result)
    finally:
        server.stop()
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)


def server_cpu(pid):
    """On-CPU seconds of every thread of a process (see echo_client.c)."""
    total = 0
    for tid in os.listdir(f'/proc/{pid}/task'):
        try:
            with open(f'/proc/{pid}/task/{tid}/schedstat') as f:
                total += int(f.read().split()[0])
        except OSError:         # the thread ended meanwhile
            pass
    return total / 1e9


def server_stat_cpu(pid):
    """utime+stime from /proc/PID/stat, in seconds (10 ms ticks)."""
    with open(f'/proc/{pid}/stat') as f:
        fields = f.read().rsplit(')', 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf('SC_CLK_TCK')


_UNITS = {'us': 1, 'ms': 1e3, 's': 1e6}


def parse_wrk(text):
    """requests, rps, p50_us, p99_us and errors from `wrk --latency`."""
    out = {}
    found = re.search(r'(\d+) requests in ([\d.]+)(\w+)', text)
    out['requests'] = int(found.group(1)) if found else 0
    found = re.search(r'Requests/sec:\s+([\d.]+)', text)
    out['rps'] = float(found.group(1)) if found else 0.0
    for pct, key in (('50', 'p50_us'), ('99', 'p99_us')):
        found = re.search(pct + r'%\s+([\d.]+)(us|ms|s)\b', text)
        if found:
            out[key] = float(found.group(1)) * _UNITS[found.group(2)]
    bad = re.search(r'Non-2xx or 3xx responses: (\d+)', text)
    errors = re.search(r'Socket errors: (.*)', text)
    out['errors'] = ((f'{bad.group(1)} non-2xx; ' if bad else '')
                     + (errors.group(1) if errors else ''))
    return out


def run_wrk(port, conns, seconds, pid=None, *, path='/',
            reject_errors=False):
    """wrk -t1 on CPU 1 against one path; with pid, the server's CPU over
    wrk's run.  With reject_errors, error responses make the cell n/a."""
    argv = ['taskset', '-c', CLIENT_CPU, 'wrk', '-t1', f'-c{conns}',
            f'-d{seconds}s', '--latency', f'http://127.0.0.1:{port}{path}']
    cpu0 = stat0 = 0
    if pid:
        cpu0, stat0 = server_cpu(pid), server_stat_cpu(pid)
    try:
        done = subprocess.run(argv, check=False,
                              capture_output=True, text=True,
                              timeout=seconds + 30)
    except subprocess.TimeoutExpired:
        return {'na': 'wrk timed out'}
    if done.returncode:
        return {'na': done.stderr.strip()[-200:] or 'wrk failed'}
    out = parse_wrk(done.stdout)
    if not out['requests']:
        return {'na': 'wrk: no request completed ' + out['errors']}
    if reject_errors and out['errors']:
        # A server that answers errors is not serving the benchmark.
        return {'na': 'wrk: ' + out['errors']}
    if pid:
        out['server_cpu_s'] = server_cpu(pid) - cpu0
        out['server_stat_cpu_s'] = server_stat_cpu(pid) - stat0
        per_request(out, out['requests'])
    return out


def http_unit(loop, writes, timing, progress):
    """Start one HTTP server; warm it up; measure c100 and c1.  Yields."""
    server = None
    na = None if shutil.which('wrk') else 'wrk not installed'
    if not na:
        server = python_server('http_server.py',
                               ['--loop', loop, '--writes', str(writes)])
        na = server.na
    try:
        if not na and timing['http_warmup']:
            progress(f'http {writes}-write warm-up', loop)
            warm = run_wrk(server.address, 100, timing['http_warmup'])
            na = warm.get('na') and (server.died() or warm['na'])
        for conns in CONCURRENCY:
            params = {'writes': writes, 'conns': conns}
            progress(f'http {writes}-write c{conns}', loop)
            if na:
                yield dict(params, na=na)
                continue
            result = run_wrk(server.address, conns, HTTP_SECONDS, server.pid)
            if 'na' in result:
                result['na'] = server.died() or result['na']
            yield dict(params, **result)
    finally:
        if server:
            server.stop()


def echo_seconds(timing):
    """Estimated seconds of one echo unit (for the time-left estimate)."""
    per_transport = sum(timing['warmup'][c] + timing['measure'][c]
                        for _, _, c in echo_cells()) / len(TRANSPORTS)
    return 0.5 + per_transport + 0.1 * len(echo_cells()) / len(TRANSPORTS)


def http_seconds(timing):
    return 0.5 + timing['http_warmup'] + len(CONCURRENCY) * (
        HTTP_SECONDS + 0.2)


if __name__ == '__main__':
    # Handy while developing: python benchmarks/net.py LOOP STYLE TRANSPORT
    print(build() or 'built')
    for record in echo_unit(*sys.argv[1:4], FULL,
                            lambda cell, loop: print(cell, loop)):
        print(record)
