"""Run the benchmark suite: every loop side by side, rounds interleaved.

    PYTHONPATH=src python benchmarks/run.py            # full: docs/benchmarks.md
    PYTHONPATH=src python benchmarks/run.py --quick    # a quick look (~2 min)
    ... --only echo,micro/sleep0 --loops asyncio,loop --rounds 5
    ... --report benchmarks/results/latest.json        # re-render only

The method is /work/shared/BENCHMARKING.md's: each round runs every unit
of work for every loop, the loops one after another and in a rotating order
(A B C D, B C D A, ...), so slow drifts of a shared machine hit every loop
alike; the report gives the median of the rounds.  Loops that are not
installed, and cells whose feature a loop lacks, are recorded as n/a.

Results go to benchmarks/results/ (JSON, with every round); only a full
run (no --quick, --only or --loops) rewrites docs/benchmarks.md and its
chart, so the docs always quote a complete, comparable run.
"""
import argparse
import datetime
import fnmatch
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
import apps
import loops
import micro
import net
import report
import scale

RESULTS = os.path.join(HERE, 'results')

# Rough seconds of one micro-benchmark process (full size, asyncio),
# only for the time-left estimate, which corrects itself as it runs.
MICRO_SECONDS = {
    'call_soon': 1.7, 'call_soon_3args': 1.5, 'call_soon_threadsafe': 0.5,
    'timers': 1.2, 'timer_churn': 0.6, 'sleep0': 0.8, 'tasks': 1.5,
    'tasks_eager': 1.5, 'queue_pingpong': 0.8, 'sock_pingpong': 1.0,
    'stream_pingpong': 1.3, 'getaddrinfo': 0.3}


class Unit:
    """One unit of work: yields result records for one loop."""

    def __init__(self, ident, group, loop, seconds, work):
        self.ident, self.group, self.loop = ident, group, loop
        self.seconds, self.work = seconds, work


def plan(args, names, first_round):
    """The units of one round, grouped so that each group's loops are
    adjacent in time.  `names` is the list of loops in this round's order."""
    quick = args.quick
    timing = net.QUICK if quick else net.FULL
    idle_n = 2_000 if quick else 10_000
    timers_n = 100_000 if quick else 1_000_000
    groups = []
    for bench in micro.BENCHMARKS:
        est = 0.3 + MICRO_SECONDS[bench] / (10 if quick else 1)
        groups.append([
            Unit(f'micro/{bench}', 'micro', name, est,
                 lambda p, name=name, bench=bench:
                 micro.record(name, bench, quick, p))
            for name in names])
    for transport in net.TRANSPORTS:
        est = net.echo_seconds(timing)
        groups.append([
            Unit(f'echo/C/{transport}', 'echo', net.CEILING, est,
                 lambda p, t=transport:
                 net.echo_unit(net.CEILING, 'C', t, timing, p))])
        for style in net.STYLES:
            groups.append([
                Unit(f'echo/{style}/{transport}', 'echo', name, est,
                     lambda p, name=name, style=style, t=transport:
                     net.echo_unit(name, style, t, timing, p))
                for name in names])
    for writes in net.HTTP_WRITES:
        groups.append([
            Unit(f'http/{writes}write', 'http', name, net.http_seconds(timing),
                 lambda p, name=name, w=writes: net.http_unit(name, w,
                                                               timing, p))
            for name in names])
    app_timing = apps.QUICK if quick else apps.FULL
    for app in apps.HTTP_APPS:
        groups.append([
            Unit(f'apps/{app}', 'apps', name, apps.http_seconds(app_timing),
                 lambda p, name=name, app=app:
                 apps.http_unit(name, app, app_timing, p))
            for name in names])
    groups.append([
        Unit('apps/asyncpg', 'apps', name, apps.asyncpg_seconds(app_timing),
             lambda p, name=name: apps.asyncpg_unit(name, app_timing, p))
        for name in names])
    # RSS per idle connection is a memory figure, not a timing: 3-round runs
    # found it equal to 1% between rounds, and at 10,000 connections it is
    # the slowest unit of the suite, so it is measured in the first round.
    idle_styles = scale.IDLE_STYLES if first_round else ()
    if first_round:
        groups.append([Unit('scale/idle/C', 'idle', net.CEILING, 2.5,
                            lambda p: scale.idle_unit(
                                net.CEILING, 'protocol', idle_n, p))])
    for style in idle_styles:
        groups.append([
            Unit(f'scale/idle/{style}', 'idle', name, 1.0 + idle_n / 2500,
                 lambda p, name=name, style=style:
                 scale.idle_unit(name, style, idle_n, p))
            for name in names])
    groups.append([
        Unit('scale/timers', 'timers', name, 0.5 + timers_n / 300_000,
             lambda p, name=name: scale.timers_record(name, timers_n, p))
        for name in names])
    return [unit for group in groups for unit in group]


def selected(unit, patterns):
    """--only: comma-separated globs, or substrings, of unit ids."""
    if not patterns:
        return True
    for pattern in patterns:
        if any(ch in pattern for ch in '*?['):
            if fnmatch.fnmatch(unit.ident, pattern):
                return True
        elif pattern in unit.ident:
            return True
    return False


class Progress:
    """One status line: cell, loop, round, units done, time left."""

    def __init__(self, total_seconds, total_units):
        self.started = time.monotonic()
        self.left = total_seconds          # estimated seconds still to run
        self.est_done = 0.0                # estimates of the units done
        self.units, self.done = total_units, 0
        self.round = ''
        self.tty = sys.stderr.isatty()

    def unit_done(self, unit):
        self.left -= unit.seconds
        self.est_done += unit.seconds
        self.done += 1

    def __call__(self, cell, loop):
        elapsed = time.monotonic() - self.started
        # Scale what is left by how the estimates have fared so far.
        factor = elapsed / self.est_done if self.est_done > 5 else 1.0
        left = max(0.0, self.left * min(max(factor, 0.5), 3.0))
        line = (f'[{self.round}] {cell} · {loop} · unit {self.done + 1}/'
                f'{self.units} · {_mmss(elapsed)} elapsed · '
                f'~{_mmss(left)} left')
        if self.tty:
            width = shutil.get_terminal_size().columns - 1
            sys.stderr.write('\r' + line[:width].ljust(width))
        else:
            sys.stderr.write(line + '\n')
        sys.stderr.flush()

    def finish(self):
        if self.tty:
            sys.stderr.write('\n')


def _mmss(seconds):
    return f'{int(seconds) // 60}:{int(seconds) % 60:02d}'


def machine_info(args, names):
    """What the report header needs to make the numbers reproducible."""
    cpu = 'unknown'
    with open('/proc/cpuinfo') as f:
        for line in f:
            if line.startswith('model name'):
                cpu = line.split(':', 1)[1].strip()
                break

    def tool_version(argv):
        try:
            out = subprocess.run(argv, check=False,
                              capture_output=True, text=True)
            return (out.stdout or out.stderr).strip().splitlines()[0]
        except (OSError, IndexError):
            return 'not installed'

    from importlib import metadata
    try:
        httptools = metadata.version('httptools')
    except metadata.PackageNotFoundError:
        httptools = 'not installed'
    return {
        'date': datetime.datetime.now().astimezone().isoformat(
            timespec='seconds'),
        'python': sys.version.split()[0],
        'implementation': platform.python_implementation(),
        'kernel': platform.release(),
        'cpu': cpu,
        'cpus': os.cpu_count(),
        'versions': {name: loops.version(name) for name in loops.LOOPS},
        'httptools': httptools,
        'wrk': ' '.join(tool_version(['wrk', '-v']).split()[:2]),
        'gcc': 'gcc ' + tool_version(['gcc', '-dumpfullversion']),
        'commit': tool_version(['git', '-C', ROOT, 'describe', '--always',
                                '--dirty']),
        'mode': 'quick' if args.quick else 'full',
        'rounds': args.rounds,
        'loops': names,
        'only': args.only,
        # Through JSON now, so a re-rendered report sees the same types.
        'timing': json.loads(json.dumps(net.QUICK if args.quick
                                        else net.FULL)),
        'apps_timing': apps.QUICK if args.quick else apps.FULL,
        'apps_versions': apps.versions(),
    }


def main():
    parser = argparse.ArgumentParser(
        description=__doc__.split('\n')[0],
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--quick', action='store_true',
                        help='short cells, smaller sizes, 1 round')
    parser.add_argument('--rounds', type=int,
                        help='interleaved rounds (default 3, quick 1)')
    parser.add_argument('--only', help='comma-separated unit ids, globs or '
                        'substrings: micro, echo/protocol, http, apps, '
                        'apps/asyncpg, scale/timers')
    parser.add_argument('--loops', help='comma-separated subset of '
                        + ','.join(loops.LOOPS))
    parser.add_argument('--report', metavar='JSON',
                        help='only re-render the report of a saved run')
    args = parser.parse_args()
    if args.report:
        with open(args.report) as f:
            results = json.load(f)
        print(report.write(results, full=results['meta']['mode'] == 'full'
                           and not results['meta']['only']))
        return
    args.rounds = args.rounds or (1 if args.quick else 3)
    names = args.loops.split(',') if args.loops else list(loops.LOOPS)
    for name in names:
        if name not in loops.LOOPS:
            parser.error(f'unknown loop {name!r}')
    patterns = args.only.split(',') if args.only else None

    # Absolute import paths: servers and micro-benchmarks run elsewhere.
    os.environ['PYTHONPATH'] = os.pathsep.join(
        os.path.abspath(p) for p in
        os.environ.get('PYTHONPATH', '').split(os.pathsep) if p)
    # This process drives clients: keep it off the server's CPU.
    os.sched_setaffinity(0, {int(net.CLIENT_CPU)})
    started = time.monotonic()
    missing = {name: loops.missing(name) for name in names}
    for name, why in missing.items():
        if why:
            print(f'{name}: {why}; its cells will say n/a', file=sys.stderr)
    build_error = net.build()
    if build_error:
        print(f'C tools: {build_error}; echo cells will say n/a',
              file=sys.stderr)

    # A SIGTERM exits like Ctrl-C, so the servers this run started (the
    # PostgreSQL server: apps.py registers its stop with atexit) are stopped.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    rounds = []
    for r in range(args.rounds):
        order = names[r % len(names):] + names[:r % len(names)]
        rounds.append([u for u in plan(args, order, r == 0)
                       if selected(u, patterns)])
    units = [u for units in rounds for u in units]
    progress = Progress(sum(u.seconds for u in units), len(units))
    meta = machine_info(args, names)
    stamp_before = loops.build_stamp()
    records = []
    meta['unit_seconds'] = []      # to tune the sizes against the budget
    for r, round_units in enumerate(rounds):
        progress.round = f'round {r + 1}/{args.rounds}'
        for unit in round_units:
            base = {'group': unit.group, 'loop': unit.loop, 'round': r}
            unit_started = time.monotonic()
            why = missing.get(unit.loop) or (
                build_error if unit.loop == net.CEILING else None)
            if why:
                progress(unit.ident, unit.loop)
                records.append(dict(base, ident=unit.ident, na=why))
            else:
                try:
                    for rec in unit.work(progress):
                        records.append(dict(base, **rec))
                # Never lose a 15-minute run to one broken cell.
                except Exception as exc:  # noqa: BLE001
                    records.append(dict(base, ident=unit.ident,
                                        na=f'{type(exc).__name__}: {exc}'))
            progress.unit_done(unit)
            meta['unit_seconds'].append(
                [unit.ident, unit.loop, r,
                 round(time.monotonic() - unit_started, 2)])
    apps.shutdown()
    progress.finish()
    meta['seconds'] = time.monotonic() - started
    if stamp_before != loops.build_stamp():
        meta['warning'] = ('the loop extension was rebuilt during this run: '
                           'cells of "loop" may mix two builds, and a server '
                           'that had the old file mapped may have crashed')
    results = {'meta': meta, 'records': records}

    os.makedirs(RESULTS, exist_ok=True)
    stamp = datetime.datetime.now().strftime('%Y%m%d-%H%M%S')
    for name in (f'run-{stamp}.json', 'latest.json'):
        with open(os.path.join(RESULTS, name), 'w') as f:
            json.dump(results, f, indent=1)
    full = not (args.quick or args.only or args.loops)
    print(report.write(results, full=full))
    print(f'\n{len(records)} results in {_mmss(meta["seconds"])}; raw data '
          f'in benchmarks/results/run-{stamp}.json', file=sys.stderr)


if __name__ == '__main__':
    main()
