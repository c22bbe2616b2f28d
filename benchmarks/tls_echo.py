"""TLS benchmark: echo at 1 KiB and 16 KiB, HTTPS keep-alive, handshakes.

    PYTHONPATH=src .venv/bin/python benchmarks/tls_echo.py \
        [--loops asyncio,uvloop,loop] [--rounds 5] [--seconds 2] \
        [--concurrency 32] [--profile LOOP]

One TLS server process per loop and round (the same server code on every
loop: asyncio Protocols over create_server(ssl=...)), pinned to CPU 0; the
client is this process, pinned to CPU 1: non-blocking ssl.SSLSockets
multiplexed with epoll (TLS in C, no event loop), `concurrency` connections
each with one request in flight.  Handshakes are counted by `openssl
s_time -new` (one connection at a time, full handshakes), when the command
exists.

Per cell: requests/s and the server's CPU time per request over the
measured window, from /proc/PID/stat (utime+stime).  Rounds are
interleaved across loops (each round starts with a different loop) and
the table shows each cell's median over rounds, and the least CPU per
request of any round (on a busy machine contention only adds to it).  The client's CPU share
is printed too: at ~100% the client, not the server, set the pace.

The ceiling, `c` (benchmarks/c/tls_echo_server.c: epoll and OpenSSL on
the socket, built here with gcc and libssl-dev), runs in the same rounds:
its CPU per request is what the kernel and OpenSSL cost, and a loop's TLS
overhead is its CPU/request minus the ceiling's (BENCHMARKING.md's
method).  The last column gives both ratios against the best peer.

--profile LOOP runs one extra server of that loop under cProfile through
the same workloads, and prints where its time goes grouped by layer
(asyncio's SSLProtocol, the ssl module and MemoryBIO, the transport, the
application).  rloop has no TLS and is not offered.
"""
import argparse
import os
import re
import selectors
import shutil
import signal
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SERVER_CPU, CLIENT_CPU = 0, 1
LOOPS = ('asyncio', 'uvloop', 'loop')
CEILING = 'c'
CEILING_BIN = os.path.join(HERE, 'bin', 'tls_echo_server')
CLIENT_BIN = os.path.join(HERE, 'bin', 'tls_echo_client')
HTTP_REQUEST = b'GET / HTTP/1.1\r\nHost: localhost\r\n\r\n'
HTTP_BODY = b'Hello, World!'
HTTP_RESPONSE = (b'HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n'
                 b'Content-Length: %d\r\n\r\n%s' % (len(HTTP_BODY), HTTP_BODY))
# workload name -> (server port key, request, response size).  The plain
# (no TLS) echo is the baseline: TLS cell minus it = what TLS costs.
WORKLOADS = {
    'echo 1KiB': ('echo', b'x' * 1024, 1024),
    'echo 16KiB': ('echo', b'x' * 16384, 16384),
    'https keep-alive': ('http', HTTP_REQUEST, len(HTTP_RESPONSE)),
    'plain echo 1KiB (no TLS)': ('plain', b'x' * 1024, 1024),
}


# -- certificates -------------------------------------------------------------

def make_certs(directory):
    """(server cert+key PEM, CA PEM) for 'localhost': trustme, or the
    openssl command when trustme is not installed."""
    ca_path = os.path.join(directory, 'ca.pem')
    server_path = os.path.join(directory, 'server.pem')
    try:
        import trustme
    except ImportError:
        trustme = None
    if trustme is not None:
        ca = trustme.CA()
        ca.cert_pem.write_to_path(ca_path)
        ca.issue_cert('localhost', '127.0.0.1') \
            .private_key_and_cert_chain_pem.write_to_path(server_path)
        return server_path, ca_path
    # A self-signed leaf that is its own CA: enough for a benchmark.
    key = os.path.join(directory, 'server.key')
    crt = os.path.join(directory, 'server.crt')
    subprocess.run(
        ['openssl', 'req', '-x509', '-newkey', 'ec', '-pkeyopt',
         'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', key,
         '-out', crt, '-days', '2', '-subj', '/CN=localhost',
         '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1'],
        check=True, capture_output=True)
    with open(server_path, 'w') as out:
        for path in (key, crt):
            with open(path) as f:
                out.write(f.read())
    shutil.copy(crt, ca_path)
    return server_path, ca_path


# -- the server (a subprocess) ------------------------------------------------

def new_loop(name):
    if name == 'asyncio':
        import asyncio
        return asyncio.new_event_loop()
    if name == 'uvloop':
        import uvloop
        return uvloop.new_event_loop()
    import loop
    return loop.new_event_loop()


def serve(loop_name, cert, profile_path):
    import asyncio

    class Echo(asyncio.Protocol):
        def connection_made(self, transport):
            self.transport = transport

        def data_received(self, data):
            self.transport.write(data)

    class Http(asyncio.Protocol):
        # Keep-alive: one canned response per request (a request ends
        # with an empty line); the parsing is the same on every loop.
        def connection_made(self, transport):
            self.transport = transport
            self.buffer = b''

        def data_received(self, data):
            self.buffer += data
            count = self.buffer.count(b'\r\n\r\n')
            if count:
                self.buffer = self.buffer[self.buffer.rfind(b'\r\n\r\n') + 4:]
                self.transport.write(HTTP_RESPONSE * count)

    os.sched_setaffinity(0, {SERVER_CPU})
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(cert)
    ev = new_loop(loop_name)
    asyncio.set_event_loop(ev)
    echo = ev.run_until_complete(ev.create_server(
        Echo, '127.0.0.1', 0, ssl=ctx, backlog=1024))
    http = ev.run_until_complete(ev.create_server(
        Http, '127.0.0.1', 0, ssl=ctx, backlog=1024))
    plain = ev.run_until_complete(ev.create_server(
        Echo, '127.0.0.1', 0, backlog=1024))
    ev.add_signal_handler(signal.SIGTERM, ev.stop)
    print('READY', *(server.sockets[0].getsockname()[1]
                     for server in (echo, http, plain)), flush=True)
    if profile_path:
        import cProfile
        # CPU time, not wall time: on a busy machine wall time would bill
        # the functions for the time the server waited for the CPU.
        profiler = cProfile.Profile(time.process_time)
        # Profile only between the client's SIGUSR1s: the measured window.
        ev.add_signal_handler(signal.SIGUSR1, profiler.enable)
        ev.add_signal_handler(signal.SIGUSR2, profiler.disable)
        ev.run_forever()
        profiler.disable()
        profiler.dump_stats(profile_path)
    else:
        ev.run_forever()


def build_c(target):
    """Compile a C tool (the ceiling server, the native client) when missing
    or older than its source: None, or why it could not be built."""
    name = os.path.basename(target)
    source = os.path.join(HERE, 'c', name + '.c')
    if (os.path.exists(target) and
            os.path.getmtime(target) >= os.path.getmtime(source)):
        return None
    os.makedirs(os.path.dirname(target), exist_ok=True)
    done = subprocess.run(['gcc', '-O2', '-Wall', '-o', target, source,
                           '-lssl', '-lcrypto'],
                          check=False, capture_output=True, text=True)
    if done.returncode:
        return (f'gcc failed on {name}.c (libssl-dev missing?): '
                + done.stderr.strip()[-300:])
    return None


def process_cpu_seconds(pid):
    with open(f'/proc/{pid}/stat') as f:
        fields = f.read().rsplit(')', 1)[1].split()
    # utime and stime: fields 14 and 15 of stat(5), in clock ticks.
    return (int(fields[11]) + int(fields[12])) / os.sysconf('SC_CLK_TCK')


class Server:
    def __init__(self, loop_name, cert, profile_path=None):
        argv = [sys.executable, os.path.abspath(__file__), '--serve',
                loop_name, '--cert', cert]
        if loop_name == CEILING:
            argv = [CEILING_BIN, cert]
        if profile_path:
            argv += ['--profile-out', profile_path]
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True)
        if loop_name == CEILING:
            os.sched_setaffinity(self.proc.pid, {SERVER_CPU})
        line = self.proc.stdout.readline().split()
        if not line or line[0] != 'READY':
            self.proc.kill()
            self.proc.wait()
            raise RuntimeError(f'{loop_name} server did not start')
        self.ports = dict(zip(('echo', 'http', 'plain'), map(int, line[1:])))

    def cpu_seconds(self):
        return process_cpu_seconds(self.proc.pid)

    def signal(self, sig):
        self.proc.send_signal(sig)

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


# -- the client ---------------------------------------------------------------

class Conn:
    __slots__ = ('out', 'received', 'sock')

    def __init__(self, sock):
        self.sock = sock
        self.received = 0
        self.out = b''


def connect_all(port, ctx, count):
    conns = []
    for _ in range(count):
        raw = socket.create_connection(('127.0.0.1', port))
        raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock = (raw if ctx is None else
                ctx.wrap_socket(raw, server_hostname='localhost'))
        sock.setblocking(False)
        conns.append(Conn(sock))
    return conns


def send(conn, sel):
    """Send conn.out as far as the socket takes it; wait for writability
    for the rest."""
    try:
        while conn.out:
            sent = conn.sock.send(conn.out)
            conn.out = conn.out[sent:]
    except (ssl.SSLWantWriteError, BlockingIOError):
        pass
    sel.modify(conn.sock, selectors.EVENT_READ |
               (selectors.EVENT_WRITE if conn.out else 0), conn)


def drive(conns, request, response_size, seconds, on_start=None):
    """Keep one request in flight per connection for `seconds` (after
    on_start() was called); returns (requests done, elapsed seconds)."""
    sel = selectors.DefaultSelector()
    for conn in conns:
        sel.register(conn.sock, selectors.EVENT_READ, conn)
        conn.out = request
        send(conn, sel)
    if on_start:
        on_start()
    done = 0
    start = time.perf_counter()
    deadline = start + seconds
    while True:
        now = time.perf_counter()
        if now >= deadline:
            break
        for key, events in sel.select(deadline - now):
            conn = key.data
            if events & selectors.EVENT_WRITE:
                send(conn, sel)
            if not events & selectors.EVENT_READ:
                continue
            try:
                # Drain: decrypted bytes may wait inside the SSL object
                # where epoll cannot see them.
                while True:
                    data = conn.sock.recv(65536)
                    if not data:
                        raise RuntimeError('server closed a connection')
                    conn.received += len(data)
            except (ssl.SSLWantReadError, BlockingIOError):
                pass
            while conn.received >= response_size:
                conn.received -= response_size
                done += 1
                conn.out += request
            if conn.out:
                send(conn, sel)
    elapsed = time.perf_counter() - start
    sel.close()
    return done, elapsed


def settle(conns, response_size):
    """Finish the one request each connection has in flight, so that the
    connections can be driven again."""
    for conn in conns:
        conn.sock.settimeout(10)
        conn.sock.sendall(conn.out)
        conn.out = b''
        while conn.received < response_size:
            conn.received += len(conn.sock.recv(65536))
        conn.received = 0
        conn.sock.setblocking(False)


def measure(server, workload, ctx, concurrency, warmup, seconds,
            profile=False):
    key, request, response_size = WORKLOADS[workload]
    conns = connect_all(server.ports[key], None if key == 'plain' else ctx,
                        concurrency)
    try:
        drive(conns, request, response_size, warmup)
        settle(conns, response_size)
        marks = {}

        def start():
            if profile:
                server.signal(signal.SIGUSR1)
            marks['cpu'] = server.cpu_seconds()
            marks['client'] = time.process_time()

        done, elapsed = drive(conns, request, response_size, seconds, start)
        cpu = server.cpu_seconds() - marks['cpu']
        client = time.process_time() - marks['client']
        if profile:
            server.signal(signal.SIGUSR2)
    finally:
        for conn in conns:
            conn.sock.close()
    return {'rps': done / elapsed, 'us': cpu / done * 1e6 if done else 0,
            'client': client / elapsed, 'done': done, 'cpu': cpu}


def measure_native(server, workload, ca, concurrency, warmup, seconds):
    """measure() with the C client (c/tls_echo_client.c) as the load."""
    key, request, response_size = WORKLOADS[workload]
    with tempfile.NamedTemporaryFile(prefix='tls-request-') as f:
        f.write(request)
        f.flush()
        argv = [CLIENT_BIN, str(server.ports[key]), str(concurrency),
                str(warmup), str(seconds), f.name, str(response_size)]
        if key != 'plain':
            argv.append(ca)
        client = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True)
        try:
            if client.stdout.readline().strip() != 'START':
                raise RuntimeError('the native client failed')
            cpu = server.cpu_seconds()
            client_cpu = process_cpu_seconds(client.pid)
            line = client.stdout.readline().split()
            cpu = server.cpu_seconds() - cpu
            client_cpu = process_cpu_seconds(client.pid) - client_cpu
        finally:
            client.wait()
    if len(line) != 3 or line[0] != 'DONE':
        raise RuntimeError('the native client failed')
    done, elapsed = int(line[1]), float(line[2])
    return {'rps': done / elapsed, 'us': cpu / done * 1e6 if done else 0,
            'client': client_cpu / elapsed, 'done': done, 'cpu': cpu}


def handshakes(server, seconds, ca):
    """Full handshakes per second by openssl s_time (one at a time)."""
    before = server.cpu_seconds()
    start = time.perf_counter()
    out = subprocess.run(
        ['openssl', 's_time', '-connect', f'127.0.0.1:{server.ports["echo"]}',
         '-new', '-time', str(max(1, round(seconds))), '-CAfile', ca],
        check=False, capture_output=True, text=True,
        preexec_fn=lambda: os.sched_setaffinity(0, {CLIENT_CPU})).stdout
    elapsed = time.perf_counter() - start
    cpu = server.cpu_seconds() - before
    found = re.search(r'(\d+) connections in ([\d.]+)s', out)
    if not found:
        return None
    count = int(found.group(1))
    # s_time's own clock for the rate; the server's CPU over the whole run.
    del elapsed
    return {'rps': count / float(found.group(2)),
            'us': cpu / count * 1e6 if count else 0, 'client': None}


# -- profile report -----------------------------------------------------------

def layer(filename, funcname):
    if filename.endswith('sslproto.py'):
        return "asyncio SSLProtocol (sslproto.py)"
    if filename.endswith(os.sep + 'ssl.py') or funcname.startswith(
            ("<method 'read' of '_ssl", "<method 'write' of '_ssl",
             "<method 'do_handshake' of '_ssl", "<method 'pending'",
             "<method 'read' of '_ssl.MemoryBIO'",
             "<method 'write' of '_ssl.MemoryBIO'")):
        return 'ssl module / OpenSSL / MemoryBIO'
    if filename.endswith('tls_echo.py'):
        return 'application (echo / http protocols)'
    if ('_epoll' in filename or '_epoll' in funcname or 'uvloop' in filename
            or filename.endswith(('selector_events.py', 'selectors.py',
                                  'base_events.py', 'events.py'))):
        return 'event loop and transport (Python-visible part)'
    return 'other'


def profile_report(path, requests, cpu):
    import pstats
    stats = pstats.Stats(path)
    by_layer = {}
    rows = []
    for (filename, line, func), (_, calls, tottime, _, _) in \
            stats.stats.items():
        name = layer(filename, func)
        by_layer[name] = by_layer.get(name, 0.0) + tottime
        rows.append((tottime, calls, f'{os.path.basename(filename)}:{line}'
                     f'({func})' if line else func))
    total = sum(by_layer.values())
    # Compiled code called from a Python function (a Cython transport's
    # write(), uvloop) counts in that function's tottime; compiled code
    # that no Python frame is under (the loop's own dispatch, recv and
    # epoll_wait in our Cython core) is invisible: it is the server's CPU
    # time less everything profiled.
    by_layer['not under any Python frame (compiled loop core)'] = max(
        0.0, cpu - total)
    total = max(total, cpu)
    head = (f'cProfile tottime under profiling (which inflates Python '
            f'calls), {requests} requests, server CPU '
            f'{cpu / requests * 1e6:.1f} us/request:')
    lines = [head, '',
             '| layer | us/request | share |', '|---|---:|---:|']
    for name, t in sorted(by_layer.items(), key=lambda kv: -kv[1]):
        if t / requests < 5e-8:      # shows as 0.0
            continue
        lines.append(f'| {name} | {t / requests * 1e6:.1f} | '
                     f'{t / total:.0%} |')
    lines += ['', '| function | calls/request | us/request |',
              '|---|---:|---:|']
    for tottime, calls, name in sorted(rows, reverse=True)[:20]:
        lines.append(f'| {name} | {calls / requests:.2f} | '
                     f'{tottime / requests * 1e6:.2f} |')
    return '\n'.join(lines)


# -- main ---------------------------------------------------------------------

def available(name):
    if name == CEILING:
        return build_c(CEILING_BIN)
    try:
        new_loop(name).close()
    except Exception as exc:  # noqa: BLE001 - any failure means "not here"
        return f'{type(exc).__name__}: {exc}'
    return None


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--loops', default=','.join(LOOPS))
    parser.add_argument('--rounds', type=int, default=5)
    parser.add_argument('--seconds', type=float, default=2.0)
    parser.add_argument('--warmup', type=float, default=0.5)
    parser.add_argument('--concurrency', type=int, default=32)
    parser.add_argument('--no-handshakes', action='store_true')
    parser.add_argument('--client', choices=('native', 'python'),
                        default='native',
                        help='the load generator (native: C over OpenSSL, '
                        'built here; python: ssl.SSLSockets in this process)')
    parser.add_argument('--profile', metavar='LOOP')
    parser.add_argument('--serve', help=argparse.SUPPRESS)
    parser.add_argument('--cert', help=argparse.SUPPRESS)
    parser.add_argument('--profile-out', help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        return serve(args.serve, args.cert, args.profile_out)

    os.sched_setaffinity(0, {CLIENT_CPU})
    if args.client == 'native':
        why = build_c(CLIENT_BIN)
        if why:
            print(f'native client: not available ({why}); the Python '
                  f'client runs instead', file=sys.stderr)
            args.client = 'python'
    loops = []
    for name in [n for n in args.loops.split(',') if n != CEILING] + [CEILING]:
        why = available(name)
        if why:
            print(f'{name}: not available ({why}), skipped', file=sys.stderr)
        else:
            loops.append(name)
    tmp = tempfile.mkdtemp(prefix='tls-bench-')
    try:
        cert, ca = make_certs(tmp)
        ctx = ssl.create_default_context(cafile=ca)
        workloads = list(WORKLOADS)
        if not args.no_handshakes and shutil.which('openssl'):
            workloads.append('handshakes (s_time)')
        results = {}      # (workload, loop) -> list of dicts
        for rnd in range(args.rounds):
            order = loops[rnd % len(loops):] + loops[:rnd % len(loops)]
            for name in order:
                server = Server(name, cert)
                try:
                    for workload in workloads:
                        if workload.startswith('handshakes'):
                            res = handshakes(server, args.seconds, ca)
                        elif args.client == 'native':
                            res = measure_native(server, workload, ca,
                                                 args.concurrency,
                                                 args.warmup, args.seconds)
                        else:
                            res = measure(server, workload, ctx,
                                          args.concurrency, args.warmup,
                                          args.seconds)
                        if res:
                            results.setdefault((workload, name),
                                               []).append(res)
                            print(f'round {rnd + 1} {name:8} {workload:18} '
                                  f'{res["rps"]:9.0f} req/s '
                                  f'{res["us"]:7.1f} us/req',
                                  file=sys.stderr, flush=True)
                finally:
                    server.stop()
        print(table(results, workloads, loops, args))
        if args.profile:
            print()
            print(profile_run(args, cert, ctx))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


def table(results, workloads, loops, args):
    head = (f'TLS server, {sys.implementation.name} '
            f'{sys.version.split()[0]}, {ssl.OPENSSL_VERSION}; median of '
            f'{args.rounds} rounds of {args.seconds:g} s; concurrency '
            f'{args.concurrency} (handshakes: 1 at a time); '
            f'{args.client} client')
    lines = [head, '',
             ('| workload | loop | requests/s | server CPU us/request '
              '| (least) | client CPU | loop vs best peer (medians) |'),
             '|---|---|---:|---:|---:|---:|---|']
    for workload in workloads:
        med = {}
        for name in loops:
            runs = results.get((workload, name))
            if runs:
                client = [r['client'] for r in runs
                          if r['client'] is not None]
                med[name] = (statistics.median(r['rps'] for r in runs),
                             statistics.median(r['us'] for r in runs),
                             statistics.median(client) if client else None,
                             min(r['us'] for r in runs))
        peers = [n for n in med if n not in ('loop', CEILING)]
        for name in loops:
            if name not in med:
                lines.append(f'| {workload} | {name} | n/a | n/a | | | |')
                continue
            rps, us, client, least = med[name]
            verdict = ''
            if name == 'loop' and peers:
                best_rps = max(med[p][0] for p in peers)
                best_us = min(med[p][1] for p in peers)
                verdict = (f'{rps / best_rps:.2f}x req/s, '
                           f'{us / best_us:.2f}x CPU/req')
                if CEILING in med and best_us > med[CEILING][1]:
                    floor = med[CEILING][1]
                    verdict += (f', {(us - floor) / (best_us - floor):.2f}x '
                                f'overhead above {CEILING}')
            share = '' if client is None else f'{client:.0%}'
            lines.append(f'| {workload} | {name} | {rps:,.0f} | {us:.1f} '
                         f'| {least:.1f} | {share} | {verdict} |')
    lines += ['', 'rloop: n/a (no TLS).']
    return '\n'.join(lines)


def ssl_floor(cert, ctx, count=20000):
    """CPU per request of the TLS work alone, in this process: a server
    SSLObject over MemoryBIOs decrypting a request and encrypting its
    echo, as SSLProtocol does per request (two reads: the second one
    finds nothing), with no event loop, socket or protocol code.  What
    any TLS layer built on the ssl module pays at least."""
    sctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    sctx.load_cert_chain(cert)
    bios = [ssl.MemoryBIO() for _ in range(4)]
    client = ctx.wrap_bio(bios[0], bios[1], server_hostname='localhost')
    server = sctx.wrap_bio(bios[2], bios[3], server_side=True)
    for _ in range(10):
        for obj in (client, server):
            try:
                obj.do_handshake()
            except ssl.SSLWantReadError:
                pass
        bios[2].write(bios[1].read())
        bios[0].write(bios[3].read())
    results = {}
    for size in (1024, 16384):
        spent = 0.0
        for _ in range(count // 500):
            # Records carry sequence numbers: encrypt fresh ones (untimed).
            records = []
            for _ in range(500):
                client.write(b'x' * size)
                records.append(bios[1].read())
            start = time.process_time()
            for record in records:
                bios[2].write(record)
                data = server.read(65536)
                try:
                    server.read(65536)
                except ssl.SSLWantReadError:
                    pass
                server.write(data)
                bios[3].read()
            spent += time.process_time() - start
        results[size] = spent / (count // 500 * 500) * 1e6
    return results


def profile_run(args, cert, ctx):
    """One profiled server per TLS workload; their reports."""
    reports = []
    for workload in WORKLOADS:
        if WORKLOADS[workload][0] == 'plain':
            continue
        tmp = tempfile.mkdtemp(prefix='tls-prof-')
        path = os.path.join(tmp, 'server.prof')
        server = Server(args.profile, cert, profile_path=path)
        try:
            res = measure(server, workload, ctx, args.concurrency,
                          args.warmup, args.seconds, profile=True)
        finally:
            server.stop()
        reports.append(f'### {args.profile} server, {workload}\n\n'
                       + profile_report(path, res['done'], res['cpu']))
        shutil.rmtree(tmp, ignore_errors=True)
    floor = ssl_floor(cert, ctx)
    reports.append('TLS work alone (ssl.SSLObject + MemoryBIO, no loop): '
                   + ', '.join(f'{size // 1024} KiB {us:.1f} us/request'
                               for size, us in floor.items()))
    return '\n\n'.join(reports)


if __name__ == '__main__':
    sys.exit(main())
