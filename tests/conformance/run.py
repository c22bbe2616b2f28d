"""Run CPython's own test.test_asyncio against `loop`, beside stdlib asyncio.

    PYTHONPATH=src python tests/conformance/run.py            # all modules
    PYTHONPATH=src python tests/conformance/run.py --ci       # a few minutes
    PYTHONPATH=src python tests/conformance/run.py --module test_tasks
    python tests/conformance/run.py --all-pythons             # 3.10 .. 3.13
    python tests/conformance/run.py --report                  # docs only

Each module runs twice in subprocesses (launcher.py): once on stock asyncio,
once with the loop under test injected.  The table compares them test id by
test id: of the tests that pass on asyncio, how many also pass on the loop.
Results go to tests/conformance/results/<python>.json; --report (implied
by --all-pythons) turns every results file into docs/conformance.md.
"""
import argparse
import concurrent.futures
import datetime
import glob
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
RESULTS = os.path.join(HERE, 'results')
DOCS = os.path.join(ROOT, 'docs', 'conformance.md')
LAUNCHER = os.path.join(HERE, 'launcher.py')
sys.path.insert(0, HERE)
import exclusions

import report

PYTHONS = ('3.10', '3.11', '3.12', '3.13')

# The CI selection: every module that exercises the loop except the two
# slowest for what they add: test_futures (its tests all run on the
# suite's virtual-time TestLoop, never on the loop under test) and test_ssl
# (20 s of TLS handshakes; test_sslproto's start_tls tests stay).
CI_MODULES = (
    'test_base_events', 'test_buffered_proto', 'test_context',
    'test_eager_task_factory', 'test_events', 'test_futures2', 'test_locks',
    'test_pep492', 'test_queues', 'test_runners', 'test_sendfile',
    'test_server', 'test_sock_lowlevel', 'test_sslproto', 'test_staggered',
    'test_streams', 'test_subprocess', 'test_taskgroups', 'test_tasks',
    'test_threads', 'test_timeouts', 'test_unix_events', 'test_waitfor',
)

PASSING = ('pass', 'xfail')


def all_modules():
    import test.test_asyncio as pkg
    names = sorted(os.path.basename(p)[:-3] for p in glob.glob(
        os.path.join(os.path.dirname(pkg.__file__), 'test_*.py')))
    missing = [n for n in names if n not in exclusions.MODULES]
    if missing:
        sys.exit(f'modules not classified in exclusions.MODULES: {missing}; '
                 'add each with None (counts) or the reason it is excluded')
    return names


def python_tag():
    return '{}.{}'.format(*sys.version_info[:2])


# -- running one column of one module ----------------------------------------

class Column:
    """One module on one target: outcomes by test id, plus what went wrong
    outside any test (import errors, setUpClass errors, hangs)."""

    def __init__(self, module, target):
        self.module = module
        self.target = target
        self.results = {}       # id -> record
        self.fixture_errors = []
        self.excluded = {}      # id -> exclusion key
        self.kept = {}          # id -> KEPT key
        self.notes = []         # hangs, crashes, module timeout
        self.timed_out = False
        self.seconds = 0.0


def read_jsonl(path):
    records = []
    try:
        with open(path) as f:
            for line in f:
                if line.endswith('\n'):     # a torn last line is ignored
                    records.append(json.loads(line))
    except FileNotFoundError:
        pass
    return records


# Launchers running now: killed with their session if the runner is stopped.
RUNNING = set()


def kill(proc):
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait()


def child_env():
    """The environment with the repo's src/ (and this directory, for
    --target selfcheck) first on PYTHONPATH."""
    env = dict(os.environ)
    paths = [os.path.join(ROOT, 'src'), HERE] + [
        p for p in env.get('PYTHONPATH', '').split(os.pathsep) if p]
    env['PYTHONPATH'] = os.pathsep.join(paths)
    return env


def run_column(module, target, args, stop, only=None):
    """Run `module` on `target`, resuming after a hung or crashed test.

    With `only` (a set of ids), run just those: a retry.
    """
    col = Column(module, target)
    raw = os.path.join(RESULTS, 'raw', f'{python_tag()}-{args.target}')
    os.makedirs(raw, exist_ok=True)
    stem = os.path.join(raw, f'{module}.{target}' + ('.retry' if only else ''))
    out, log, skip = stem + '.jsonl', stem + '.log', stem + '.skip'
    for path in (out, log):
        open(path, 'w').close()
    if only:
        with open(stem + '.only', 'w') as f:
            f.write(''.join(i + '\n' for i in sorted(only)))
    env = child_env()
    t0 = time.monotonic()
    deadline = t0 + args.module_timeout
    while not stop.is_set():
        with open(skip, 'w') as f:
            f.write(''.join(i + '\n' for i in col.results))
        cmd = [sys.executable, LAUNCHER, '--target', target,
               '--module', module, '--out', out, '--skip', skip,
               '--test-timeout', str(args.test_timeout)]
        if only:
            cmd += ['--only', stem + '.only']
        with open(log, 'a') as logf:
            # A session of its own: a timeout kills the test's children too.
            proc = subprocess.Popen(cmd, stdout=logf, stderr=logf, env=env,
                                    cwd=ROOT, start_new_session=True)
            RUNNING.add(proc)
            try:
                rc = proc.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                kill(proc)
                rc = None
            finally:
                RUNNING.discard(proc)
        in_flight, done = None, False
        progress = False
        for rec in read_jsonl(out):
            ev = rec['event']
            if ev == 'start':
                in_flight = rec['id']
            elif ev == 'result':
                if rec['id'] not in col.results:
                    progress = True
                col.results[rec['id']] = rec
                in_flight = None
            elif ev == 'excluded':
                col.excluded[rec['id']] = rec['rule']
            elif ev == 'kept':
                col.kept[rec['id']] = rec['rule']
            elif ev in ('fixture_error', 'fixture_skip'):
                if rec not in col.fixture_errors:
                    col.fixture_errors.append(rec)
            elif ev == 'done':
                done = True
        if done:
            break
        if in_flight is not None and in_flight not in col.results:
            if rc is None:
                why = f'hang: module time budget ({args.module_timeout:.0f}s) spent'
            elif rc < 0:
                why = f'crash: process killed by signal {-rc}'
            elif tail_has(log, 'Timeout ('):
                why = f'hang: no result within {args.test_timeout:.0f}s'
            else:
                why = f'process exited (rc={rc}) during the test'
            col.results[in_flight] = {'id': in_flight, 'outcome': 'error',
                                      'detail': why, 'killed': True}
            col.notes.append(f'{in_flight}: {why}')
            progress = True
        if rc is None:
            col.timed_out = True
            col.notes.append(f'module time budget ({args.module_timeout:.0f}s) '
                             'spent; tests not reached count as not run')
            break
        if not progress:
            col.notes.append(f'launcher exited rc={rc} outside any test; '
                             f'see {os.path.relpath(log, ROOT)}')
            break
    col.seconds = time.monotonic() - t0
    return col


def tail_has(path, needle, size=20000):
    with open(path, 'rb') as f:
        f.seek(0, os.SEEK_END)
        f.seek(max(0, f.tell() - size))
        return needle.encode() in f.read()


# -- comparing the columns ---------------------------------------------------

def counts(col):
    c = {'run': 0, 'passed': 0, 'failed': 0, 'errors': 0, 'skipped': 0}
    for rec in col.results.values():
        c['run'] += 1
        o = rec['outcome']
        if o in PASSING:
            c['passed'] += 1
        elif o in ('fail', 'xpass'):
            c['failed'] += 1
        elif o == 'error':
            c['errors'] += 1
        elif o == 'skip':
            c['skipped'] += 1
    return c


def why_missing(test_id, col):
    """Why a test that ran on asyncio has no result on the target."""
    cls = test_id.rsplit('.', 1)[0]
    for err in col.fixture_errors:
        if err['id'] == col.module or cls in err['id']:
            kind = 'skipped' if err['event'] == 'fixture_skip' else 'error'
            return kind, f"not run: {err['id']}: {err.get('detail', '')}"
    if col.timed_out:
        return 'error', 'not run: module time budget spent'
    return 'error', 'not run (see the log)'


def compare(base, target):
    """Per-module summary: both columns' counts and the per-test verdict."""
    passing = sorted(i for i, r in base.results.items()
                     if r['outcome'] in PASSING)
    failures = []
    also = on_target = on_target_passing = 0
    for tid in passing:
        rec = target.results.get(tid)
        if rec is None:
            outcome, detail = why_missing(tid, target)
            rec = {'outcome': outcome, 'detail': detail}
        # A test killed mid-run has no loop count; it was running on ours.
        built = bool(rec.get('target_loops') or rec.get('killed'))
        on_target += built
        if rec['outcome'] in PASSING:
            also += 1
            on_target_passing += built
            continue
        failures.append({k: rec[k] for k in
                         ('outcome', 'detail', 'where', 'traceback')
                         if k in rec} | {'id': tid, 'on_target': built})
    leaks = sorted(i for i, r in target.results.items()
                   if r.get('stdlib_loops'))
    target_only = sorted(
        i for i, r in target.results.items() if r['outcome'] in PASSING
        and base.results.get(i, {}).get('outcome') not in PASSING)
    return {
        'baseline': counts(base), 'target': counts(target),
        'asyncio_passing': len(passing), 'also_passing': also,
        'on_target': on_target, 'on_target_passing': on_target_passing,
        'excluded': len(set(base.excluded) | set(target.excluded)),
        'excluded_keys': sorted(set(base.excluded.values())
                                | set(target.excluded.values())),
        'kept_keys': sorted(set(base.kept.values()) | set(target.kept.values())),
        'failures': failures,
        'stdlib_loop_leaks': leaks,
        'flaky': {c.target: sorted(i for i, r in c.results.items()
                                   if 'flaky' in r) for c in (base, target)},
        'target_only_passes': target_only,
        'notes': {'asyncio': base.notes + [
            f"{e['id']}: {e.get('detail', '')}" for e in base.fixture_errors],
            target.target: target.notes + [
            f"{e['id']}: {e.get('detail', '')}" for e in target.fixture_errors]},
        'seconds': {'asyncio': round(base.seconds, 1),
                    target.target: round(target.seconds, 1)},
    }


# -- the table ----------------------------------------------------------------

def pct(a, b):
    return f'{100.0 * b / a:.1f}%' if a else '-'


def print_table(data, file=sys.stdout):
    tgt = data['target']
    cols = ('run', 'passed', 'failed', 'errors', 'skipped')
    head = ' '.join(f'{c[:4]:>5}' for c in cols)
    print(f"\nPython {data['python']}: test.test_asyncio on asyncio and "
          f"on {tgt}", file=file)
    print(f"{'':26} {'asyncio':^29} | {tgt:^29} |", file=file)
    print(f"{'module':26} {head} | {head} | {'a-pass':>6} {'also':>5} "
          f"{'%':>6} {'excl':>5}", file=file)
    tot = {'baseline': dict.fromkeys(cols, 0), 'target': dict.fromkeys(cols, 0),
           'a': 0, 'b': 0, 'x': 0}
    for name, m in sorted(data['modules'].items()):
        line = [f'{name:26}']
        for side in ('baseline', 'target'):
            line.append(' '.join(f'{m[side][c]:5d}' for c in cols))
            for c in cols:
                tot[side][c] += m[side][c]
        tot['a'] += m['asyncio_passing']
        tot['b'] += m['also_passing']
        tot['x'] += m['excluded']
        print(f"{line[0]} {line[1]} | {line[2]} | {m['asyncio_passing']:6d} "
              f"{m['also_passing']:5d} "
              f"{pct(m['asyncio_passing'], m['also_passing']):>6} "
              f"{m['excluded']:5d}", file=file)
    print(f"{'TOTAL':26} "
          + ' '.join(f"{tot['baseline'][c]:5d}" for c in cols) + ' | '
          + ' '.join(f"{tot['target'][c]:5d}" for c in cols)
          + f" | {tot['a']:6d} {tot['b']:5d} {pct(tot['a'], tot['b']):>6}"
          + f" {tot['x']:5d}", file=file)


# -- main --------------------------------------------------------------------

def run_python(args):
    modules = all_modules()
    if args.module:
        unknown = [m for m in args.module if m not in modules]
        if unknown:
            sys.exit(f'no such module on Python {python_tag()}: {unknown}')
        selected = args.module
    elif args.ci:
        selected = [m for m in CI_MODULES if m in modules]
    else:
        selected = modules
    skipped = [m for m in selected if exclusions.MODULES[m]]
    selected = [m for m in selected if not exclusions.MODULES[m]]

    probe = (f'import {args.target} as t; t.new_event_loop().close(); '
             'print(getattr(t, "__version__", "?"))')
    check = subprocess.run([sys.executable, '-c', probe], check=False,
                           cwd=ROOT, capture_output=True, text=True,
                           env=child_env())
    if check.returncode:
        last = (check.stderr.strip().splitlines() or ['?'])[-1]
        print(f'{args.target} cannot make a loop on Python {python_tag()} '
              f'({sys.executable}); is its extension built for this '
              f'Python?\n{check.stderr.strip()}', file=sys.stderr)
        if not (args.ci or args.module):
            # Recorded, so the docs say why this Python has no numbers.
            save(args, {'python': sys.version.split()[0],
                        'target': args.target, 'selection': 'full',
                        'date': now(), 'error': f'{args.target} unusable: '
                        f'{last}'})
        return 2

    jobs = [(m, t) for m in selected for t in ('asyncio', args.target)]
    stop = threading.Event()
    cols = {}
    t0 = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(args.jobs) as pool:
        futs = {pool.submit(run_column, m, t, args, stop): (m, t)
                for m, t in jobs}
        try:
            for fut in concurrent.futures.as_completed(futs):
                m, t = futs[fut]
                col = cols[m, t] = fut.result()
                if not args.quiet:
                    c = counts(col)
                    print(f'  {m} on {t}: {c["passed"]}/{c["run"]} passed '
                          f'in {col.seconds:.0f}s', flush=True)
        except BaseException:
            stop.set()
            for fut in futs:
                fut.cancel()
            for proc in list(RUNNING):
                kill(proc)
            raise

    if args.retries:
        retry(cols, args, stop)

    data = {
        'python': sys.version.split()[0], 'target': args.target,
        'target_version': check.stdout.strip(), 'date': now(),
        'selection': ('ci' if args.ci else 'modules' if args.module
                      else 'full'),
        'wall_seconds': round(time.monotonic() - t0, 1),
        'modules': {m: compare(cols[m, 'asyncio'], cols[m, args.target])
                    for m in selected},
        'excluded_modules': {m: exclusions.MODULES[m] for m in skipped},
    }
    if data['selection'] == 'full':
        used = set()
        for m in data['modules'].values():
            used.update(m['excluded_keys'], m['kept_keys'])
        data['unused_exclusions'] = sorted(
            k for k in list(exclusions.TESTS) + list(exclusions.KEPT)
            if k not in used and k.partition('.')[0] in selected)
    totals = {'asyncio_passing': 0, 'also_passing': 0, 'on_target': 0}
    for m in data['modules'].values():
        for k in totals:
            totals[k] += m[k]
    data['totals'] = totals

    path = save(args, data)
    print_table(data)
    print(f"\n{totals['also_passing']} of {totals['asyncio_passing']} tests "
          f"passing on asyncio also pass on {args.target} "
          f"({pct(totals['asyncio_passing'], totals['also_passing'])}); "
          f"wall {data['wall_seconds']:.0f}s; details in "
          f"{os.path.relpath(path, ROOT)}")
    for m, mod in sorted(data['modules'].items()):
        for col, ids in mod['flaky'].items():
            if ids:
                print(f'  flaky on {col} (failed, then passed on retry): '
                      + ', '.join(ids))
        leaks = mod['stdlib_loop_leaks']
        if leaks:
            shown = ', '.join(leaks[:3]) + (' ...' if len(leaks) > 3 else '')
            print(f'  note: {m}: {len(leaks)} tests also built a stdlib loop '
                  f'in the target column: {shown}')
    if data.get('unused_exclusions'):
        print('  exclusion keys matching nothing here: '
              + ', '.join(data['unused_exclusions']))
    share = (100.0 * totals['also_passing'] / totals['asyncio_passing']
             if totals['asyncio_passing'] else 0.0)
    if args.fail_under is not None and share < args.fail_under:
        print(f'FAIL: {share:.1f}% is under --fail-under {args.fail_under}%')
        return 1
    return 0


def retry(cols, args, stop):
    """Run each failure once more, in a fresh process; on this 2-core
    machine shared with builds, a timing test can lose its race once.

    A test that passes on the retry counts as passing and keeps the first
    failure under 'flaky'; one that fails again keeps its first record.
    Both columns get the same treatment: asyncio's failures are retried
    too, so a flake cannot shrink the baseline either.
    """
    for attempt in range(args.retries):
        todo = {}
        for (m, t), col in cols.items():
            base = cols[m, 'asyncio']
            ids = {i for i, r in col.results.items()
                   if r['outcome'] in ('fail', 'error', 'xpass')
                   and (t == 'asyncio'
                        or base.results.get(i, {}).get('outcome') in PASSING)}
            if ids:
                todo[m, t] = ids
        if not todo:
            return
        with concurrent.futures.ThreadPoolExecutor(args.jobs) as pool:
            futs = {pool.submit(run_column, m, t, args, stop, ids): (m, t)
                    for (m, t), ids in todo.items()}
            for fut in concurrent.futures.as_completed(futs):
                col = cols[futs[fut]]
                for tid, rec in fut.result().results.items():
                    if rec['outcome'] in PASSING:
                        first = col.results[tid]
                        rec['flaky'] = (f"attempt 1: {first.get('detail', '')}"
                                        f" ({first.get('where', '')})")
                        col.results[tid] = rec
        if not args.quiet:
            print(f'  retried {sum(map(len, todo.values()))} failures',
                  flush=True)


def now():
    return datetime.datetime.now().isoformat(timespec='seconds')


def save(args, data):
    """results/<python>[-<target>][-<selection>].json; returns the path."""
    os.makedirs(RESULTS, exist_ok=True)
    name = python_tag() + ('' if args.target == 'loop' else '-' + args.target)
    if data['selection'] != 'full':
        name += '-' + data['selection']
    path = os.path.join(RESULTS, name + '.json')
    with open(path, 'w') as f:
        json.dump(data, f, indent=1)
    return path


def find_python(version):
    """The interpreter for `version`: the repo's venv if it has one."""
    for venv in (f'.venv-{version}', '.venv'):
        py = os.path.join(ROOT, venv, 'bin', 'python')
        if os.path.exists(py):
            code = 'import sys; print("{}.{}".format(*sys.version_info))'
            out = subprocess.run([py, '-c', code], check=False,
                                 capture_output=True, text=True).stdout
            if out.strip() == version:
                return py
    found = sorted(glob.glob(os.path.expanduser(
        f'~/.pyenv/versions/{version}.*/bin/python')),
        key=lambda p: [int(x) for x in re.findall(r'\d+', p)])
    return found[-1] if found else None


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--ci', action='store_true',
                    help='the CI-sized selection (CI_MODULES)')
    ap.add_argument('--module', action='append',
                    help='run this module only (repeatable)')
    ap.add_argument('-j', '--jobs', type=int, default=2,
                    help='module runs in parallel (default 2)')
    ap.add_argument('--module-timeout', type=float, default=300,
                    help='seconds per module and column (default 300)')
    ap.add_argument('--test-timeout', type=float, default=120,
                    help='seconds per test before it counts as hung')
    ap.add_argument('--target', default='loop',
                    help='module whose new_event_loop() is under test '
                         '(default loop; uvloop or rloop to calibrate)')
    ap.add_argument('--retries', type=int, default=1,
                    help='rerun failures this many times (default 1)')
    ap.add_argument('--fail-under', type=float, metavar='PCT',
                    help='exit 1 if the share passing on the target is '
                         'below PCT (for CI)')
    ap.add_argument('--all-pythons', action='store_true',
                    help=f'run on each of {", ".join(PYTHONS)}, then --report')
    ap.add_argument('--report', action='store_true',
                    help=f'write {os.path.relpath(DOCS, ROOT)} from results/')
    ap.add_argument('-q', '--quiet', action='store_true')
    args = ap.parse_args()
    # SIGTERM stops the run like Ctrl-C: launchers are killed, not orphaned.
    signal.signal(signal.SIGTERM, signal.default_int_handler)

    if args.report:
        report.write(RESULTS, DOCS)
        return 0
    if args.all_pythons:
        rc = 0
        argv = [a for a in sys.argv[1:] if a != '--all-pythons']
        for v in PYTHONS:
            py = find_python(v)
            if py is None:
                print(f'== Python {v}: not installed', file=sys.stderr)
                rc = 1
                continue
            print(f'== Python {v} ({py})', flush=True)
            child = subprocess.Popen([py, __file__, *argv], cwd=ROOT)
            try:
                rc |= child.wait()
            except BaseException:
                child.terminate()   # it kills its launchers on SIGTERM
                child.wait()
                raise
        report.write(RESULTS, DOCS)
        return rc
    return run_python(args)


if __name__ == '__main__':
    sys.exit(main())
