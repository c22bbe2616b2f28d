"""Write docs/conformance.md from tests/conformance/results/<python>.json.

Only full runs on the loop under test are used (not --ci/--module runs, not
--target uvloop calibration runs).  The hand-written analysis between the
ANALYSIS markers of an existing docs/conformance.md is kept as it is.
"""
import glob
import json
import os
import re

import exclusions

BEGIN = '<!-- analysis:begin (hand-written; kept when regenerated) -->'
END = '<!-- analysis:end -->'


def pct(a, b):
    return f'{100.0 * b / a:.1f}%' if a else '-'


def cause(f):
    """A short grouping key for why a test failed on the loop."""
    detail = f.get('detail', '')
    where = f.get('where', '')
    m = re.match(r'events\.py:\d+ in (\w+)$', where)
    if detail.startswith('NotImplementedError') and m:
        return f'not implemented yet: loop.{m.group(1)}()'
    if detail.startswith(('hang', 'crash', 'not run', 'process exited')):
        return detail.split(':')[0] if detail.startswith('hang') else detail
    detail = re.sub(r'0x[0-9a-fA-F]+', '0x…', detail)
    detail = re.sub(r'\d+(\.\d+)?', 'N', detail)
    detail = re.sub(r'/\S+/', '…/', detail)
    return detail[:140]


def load(results_dir):
    runs = []
    for path in glob.glob(os.path.join(results_dir, '3.*.json')):
        name = os.path.basename(path)[:-5]
        if not re.fullmatch(r'3\.\d+', name):
            continue        # --ci/--module runs, calibration targets
        with open(path) as f:
            runs.append(json.load(f))
    runs.sort(key=lambda d: [int(x) for x in d['python'].split('.')])
    return runs


def calibration(results_dir):
    """Full runs of other loops (--target uvloop/rloop) by this runner."""
    out = []
    for path in sorted(glob.glob(os.path.join(results_dir, '3.*-*.json'))):
        name = os.path.basename(path)[:-5]
        if not re.fullmatch(r'3\.\d+-[a-z_]+', name):
            continue
        with open(path) as f:
            d = json.load(f)
        if 'totals' not in d or d.get('selection') != 'full':
            continue
        a = d['totals']['asyncio_passing']
        b = d['totals']['also_passing']
        ver = d.get('target_version', '')
        ver = '' if ver in ('', '?') else ' ' + ver
        out.append((d['target'] != 'selfcheck', version(d['python']),
                    (f"| {d['target']}{ver} | {d['python']} | {a} | {b} "
                    f"| {pct(a, b)} | {d['date'][:10]} |")))
    if not out:
        return []
    out.sort(reverse=True)
    return [CALIBRATION, '',
            '| target | Python | pass on asyncio | also pass | % | run on |',
            '|---|---|---:|---:|---:|---|', *(row for *_, row in out), '']


def ok(runs):
    return [d for d in runs if 'error' not in d]


def summary(runs):
    out = [('| Python | pass on asyncio | also pass on loop | % '
            '| of which built the loop under test | also pass | % '
            '| wall (s) |'),
           '|---|---:|---:|---:|---:|---:|---:|---:|']
    for d in runs:
        if 'error' in d:
            out.append(f"| {d['python']} | not run: {md(d['error'])} "
                       '| | | | | | |')
            continue
        a = d['totals']['asyncio_passing']
        b = d['totals']['also_passing']
        on = sum(m['on_target'] for m in d['modules'].values())
        on_b = sum(m.get('on_target_passing', 0) for m in d['modules'].values())
        out.append(f"| {d['python']} | {a} | {b} | **{pct(a, b)}** | {on} "
                   f"| {on_b} | {pct(on, on_b)} | {d['wall_seconds']:.0f} |")
    return out


def module_matrix(runs):
    names = sorted({m for d in runs for m in d['modules']})
    out = ['| module | ' + ' | '.join(d['python'] for d in runs) + ' |',
           '|---|' + '---:|' * len(runs)]
    for name in names:
        cells = []
        for d in runs:
            m = d['modules'].get(name)
            if m is None:
                cells.append('')
                continue
            a, b = m['asyncio_passing'], m['also_passing']
            cell = f'{b}/{a}'
            if b < a:
                cell = f'**{cell}**'
            cells.append(cell)
        out.append(f'| {name} | ' + ' | '.join(cells) + ' |')
    return out


def detail_table(d):
    cols = ('run', 'passed', 'failed', 'errors', 'skipped')
    out = ['| module | ' + ' | '.join(f'asyncio {c}' for c in cols) + ' | '
           + ' | '.join(f'loop {c}' for c in cols)
           + ' | pass on asyncio | also on loop | % | built our loop |',
           '|---|' + '---:|' * (2 * len(cols) + 4)]
    tot = {s: dict.fromkeys(cols, 0) for s in ('baseline', 'target')}
    ta = tb = ton = 0
    for name, m in sorted(d['modules'].items()):
        row = [name]
        for side in ('baseline', 'target'):
            for c in cols:
                row.append(str(m[side][c]))
                tot[side][c] += m[side][c]
        a, b = m['asyncio_passing'], m['also_passing']
        ta, tb, ton = ta + a, tb + b, ton + m['on_target']
        row += [str(a), str(b), pct(a, b), str(m['on_target'])]
        out.append('| ' + ' | '.join(row) + ' |')
    row = ['**total**'] + [str(tot['baseline'][c]) for c in cols] + [
        str(tot['target'][c]) for c in cols] + [
        str(ta), str(tb), f'**{pct(ta, tb)}**', str(ton)]
    out.append('| ' + ' | '.join(row) + ' |')
    return out


def failures(runs):
    """Failing tests merged over Pythons: id -> {python: failure}."""
    merged = {}
    for d in runs:
        for m in d['modules'].values():
            for f in m['failures']:
                merged.setdefault(f['id'], {})[d['python']] = f
    return merged


def by_cause(merged):
    """cause -> {test id: [Pythons]}; a test failing for different reasons
    on different Pythons is listed under each cause."""
    groups = {}
    for tid, per_py in merged.items():
        for py, f in per_py.items():
            groups.setdefault(cause(f), {}).setdefault(tid, []).append(py)
    if not groups:
        return ['None.']
    out = [('| cause (first error line, normalised) | Pythons | tests '
           '| examples |'), '|---|---|---:|---|']
    for key, tests in sorted(groups.items(),
                             key=lambda kv: (-len(kv[1]), kv[0])):
        ids = sorted(tests)
        pys = sorted({short(p) for v in tests.values() for p in v},
                     key=version)
        ex = ', '.join(f'`{i}`' for i in ids[:3])
        if len(ids) > 3:
            ex += f', … ({len(ids) - 3} more)'
        out.append(f"| {md(key)} | {', '.join(pys)} | {len(ids)} | {ex} |")
    return out


def short(python):
    return python.rsplit('.', 1)[0]


def version(text):
    return [int(x) for x in text.split('.')]


def per_module(merged, runs):
    pys = [d['python'] for d in runs]
    out = []
    by_module = {}
    for tid in sorted(merged):
        by_module.setdefault(tid.partition('.')[0], []).append(tid)
    for module, ids in sorted(by_module.items()):
        out += ['', f'#### {module} ({len(ids)})', '',
                '| test | fails on | first error line |', '|---|---|---|']
        for tid in ids:
            per_py = merged[tid]
            on = [p for p in pys if p in per_py]
            # One line per distinct error, naming the Pythons it is seen on.
            errors = {}
            for p in on:
                f = per_py[p]
                where = f" ({f['where']})" if f.get('where') else ''
                errors.setdefault(f.get('detail', '') + where, []).append(
                    short(p))
            if len(errors) == 1:
                text = md(next(iter(errors)))
            else:
                text = '; '.join(f"{', '.join(v)}: {md(k)}"
                                 for k, v in errors.items())
            out.append(f"| `{tid.partition('.')[2]}` "
                       f"| {', '.join(short(p) for p in on)} | {text} |")
    return out


def md(text):
    return text.replace('|', '\\|').replace('\n', ' ')


def exclusion_tables():
    out = ['Modules:', '', '| module | excluded because |', '|---|---|']
    for name, why in sorted(exclusions.MODULES.items()):
        if why:
            out.append(f'| {name} | {md(why)} |')
    out += ['', 'Classes and tests (fnmatch patterns over test ids):', '',
            '| key | excluded because |', '|---|---|']
    for key, why in exclusions.TESTS.items():
        out.append(f'| `{key}` | {md(why)} |')
    out += ['', 'Kept although a key above covers them:', '',
            '| key | what it checks |', '|---|---|']
    for key, why in exclusions.KEPT.items():
        out.append(f'| `{key}` | {md(why)} |')
    return out


def kept_analysis(docs_path):
    try:
        with open(docs_path) as f:
            text = f.read()
    except FileNotFoundError:
        return None
    if BEGIN in text and END in text:
        return text[text.index(BEGIN):text.index(END) + len(END)]
    return None


def kept_calibration(docs_path):
    """The calibration section of the existing page, for a regeneration
    without calibration results (results/ is not versioned: a fresh
    checkout has none)."""
    try:
        with open(docs_path) as f:
            text = f.read()
    except FileNotFoundError:
        return []
    start = text.find(CALIBRATION[:40])
    end = text.find('## Analysis')
    if start < 0 or end < start:
        return []
    return text[start:end].rstrip('\n').split('\n') + ['']


INTRO = (
    "Each module of the interpreter's own `test.test_asyncio` runs twice, in "
    'subprocesses: on stock asyncio, and with `loop` injected wherever the '
    'suite makes a loop.  The figure is the share of tests passing on '
    'asyncio that also pass on `loop`, compared test id by test id, over the '
    'public-behaviour tests (stdlib-internal ones are excluded, listed with '
    'reasons below).  Generated by `tests/conformance/run.py --all-pythons` '
    '(or `--report` from saved results); only the Analysis section is '
    'written by hand.  Method and injection points: '
    '[tests/conformance/README.md](../tests/conformance/README.md).')

BUILT = (
    '"Built the loop under test" counts the tests that constructed a `loop` '
    'loop in the loop column.  The others never touch it: they run on the '
    "suite's virtual-time `test_utils.TestLoop` (most of test_futures and "
    'test_tasks) or need no loop at all (abstract classes, Handle reprs); '
    'they pass the same in both columns and are counted, as the method '
    'prescribes.  The second percentage is the sharper one.')

REFERENCE = (
    "Reference, same method (share of asyncio's passing public-behaviour "
    'tests that also pass), from the issue: uvloop 91.6% on 3.11, 92.0% on '
    '3.12, 89.6% on 3.13; rloop 79.0% on 3.11.')

FAILURES = (
    '{n} distinct test ids over all Pythons, grouped by the first line of '
    'the error (numbers and addresses normalised); a test failing for '
    'different reasons on different Pythons is counted under each.  Full '
    'tracebacks: `tests/conformance/results/<python>.json`.')

CALIBRATION = (
    'Checks of the method.  `--target uvloop` / `--target rloop`: the same '
    'runner on other loops, against the reference figures above (uvloop\'s '
    'policy has no child-watcher API: `set_child_watcher` raises '
    'NotImplementedError, which the test_events loop mixin calls in setUp '
    'and the subprocess watcher tests need; that alone fails about 190 of '
    'its tests).  `--target selfcheck`: the stdlib loop injected exactly '
    'like `loop`; its only differences from the asyncio column are the '
    'fixtures that mock the private `_selector` of a bare BaseEventLoop '
    '(test_base_events.BaseEventLoopTests, test_pep492), which a real '
    'SelectorEventLoop cannot run with.  Older rows used the exclusion '
    'list of their date.')

EXCLUDED = (
    'From `tests/conformance/exclusions.py`, the single list.  Each reason '
    'is a fact about the test (what private part of the stdlib it checks), '
    'never "loop differs".')


def write(results_dir, docs_path):
    runs = load(results_dir)
    if not runs:
        raise SystemExit(f'no full-run results in {results_dir}')
    analysis = kept_analysis(docs_path) or f'{BEGIN}\n\n(none yet)\n\n{END}'
    everything, runs = runs, ok(runs)
    merged = failures(runs)
    lines = ["# Conformance: CPython's test_asyncio on `loop`", '', INTRO, '',
             '## Summary', '', *summary(everything), '', BUILT, '',
             REFERENCE, '',
             *(calibration(results_dir) or kept_calibration(docs_path)),
             '## Analysis', '', analysis, '',
             '## Per module: also pass on loop / pass on asyncio', '',
             *module_matrix(runs), '']
    for d in runs:
        title = f"Python {d['python']}: both columns ({d['date']})"
        lines += [f'<details><summary>{title}</summary>', '',
                  *detail_table(d), '', '</details>', '']
    lines += ['## Tests that pass on asyncio but not on loop', '',
              FAILURES.format(n=len(merged)), '', *by_cause(merged), '',
              '### By module', *per_module(merged, runs), '',
              '## Exclusions', '', EXCLUDED, '', *exclusion_tables(), '']
    unused = {d['python']: d['unused_exclusions'] for d in runs
              if d.get('unused_exclusions')}
    if unused:
        lines += [('Keys that match no test on a Python (tests that exist '
                   'only in other versions):'), '']
        for py, keys in unused.items():
            lines.append(f"- {py}: {', '.join(f'`{k}`' for k in keys)}")
        lines.append('')
    os.makedirs(os.path.dirname(docs_path), exist_ok=True)
    with open(docs_path, 'w') as f:
        f.write('\n'.join(lines))
    print(f'wrote {docs_path}')
