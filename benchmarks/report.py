"""Turn a run's records into markdown tables and a PNG chart of ratios.

A full run writes docs/benchmarks.md and docs/benchmarks.png; a partial
one (--quick, --only, --loops) writes benchmarks/results/report.md and
report.png, so the docs only ever quote a complete run.

Every figure is the median over the rounds.  Ratios are always "times
better than", whatever the unit: ops/s divided by asyncio's for the
throughput figures, asyncio's divided by ours for CPU time, memory and
latency.  "Best peer" is the best of asyncio, uvloop and rloop in that cell.
"""
import os
import re
import statistics

import loops
import net

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
OURS = 'loop'

# Per group: the record fields that identify a cell.
CELL_FIELDS = {
    'micro': ('bench',),
    'echo': ('style', 'transport', 'size', 'conns'),
    'http': ('writes', 'conns'),
    'idle': ('style',),
    'timers': (),
    'apps': ('app', 'workload'),
}


class Results:
    """Medians, spreads and n/a reasons, looked up by group, cell, loop."""

    def __init__(self, results):
        self.meta = results['meta']
        self.loops = self.meta['loops']
        self.runs = {}          # (group, cell, loop) -> [record per round]
        self.unit_na = {}       # (ident, loop) -> reason (whole unit failed)
        self.groups = set()
        for rec in results['records']:
            self.groups.add(rec['group'])
            if 'ident' in rec:
                self.unit_na[rec['ident'], rec['loop']] = rec['na']
                continue
            cell = tuple(rec.get(f) for f in CELL_FIELDS[rec['group']])
            self.runs.setdefault((rec['group'], cell, rec['loop']),
                                 []).append(rec)
        self.footnotes = []

    def value(self, group, cell, loop, metric):
        """(median, None) or (None, why it is n/a)."""
        recs = self.runs.get((group, cell, loop), [])
        values = [r[metric] for r in recs if r.get(metric) is not None]
        if values:
            return statistics.median(values), None
        why = next((r['na'] for r in recs if 'na' in r), None)
        if why is None:
            why = next((na for (ident, lp), na in self.unit_na.items()
                        if lp == loop and ident.startswith(
                            _unit_prefix(group, cell))), 'not measured')
        return None, why

    def measured(self, group, cell):
        """Whether a run covered this cell (--only may have skipped it)."""
        prefix = _unit_prefix(group, cell)
        return (any((group, cell, name) in self.runs for name in self.loops)
                or any(ident.startswith(prefix) and lp in self.loops
                       for ident, lp in self.unit_na))

    def spread(self, group, metric):
        """Per cell and loop: (max - min) / median over the rounds."""
        out = []
        for (g, _, _), recs in self.runs.items():
            values = [r[metric] for r in recs if r.get(metric) is not None]
            if g == group and len(values) >= 2:
                mid = statistics.median(values)
                if mid:
                    out.append((max(values) - min(values)) / mid)
        return out

    def na(self, loop, why):
        """'n/a' with a footnote number for the reason."""
        note = f'{loop}: {why}'
        if note not in self.footnotes:
            self.footnotes.append(note)
        return f'n/a<sup>{self.footnotes.index(note) + 1}</sup>'


def _unit_prefix(group, cell):
    """The unit id (see run.plan) a cell belongs to, for unit-level n/a."""
    if group == 'micro':
        return f'micro/{cell[0]}'
    if group == 'echo':
        return f'echo/{cell[0]}/{cell[1]}'
    if group == 'http':
        return f'http/{cell[0]}write'
    if group == 'idle':
        return 'scale/idle/'
    if group == 'apps':
        return f'apps/{cell[0]}'
    return 'scale/timers'


def ratio(ours, theirs, higher_is_better):
    """How many times better `ours` is than `theirs`."""
    if not ours or not theirs:
        return None
    return ours / theirs if higher_is_better else theirs / ours


def si(value):
    """3 significant digits with k/M: 2.32M, 143k, 58.2k, 6.22."""
    for scale, suffix in ((1e6, 'M'), (1e3, 'k')):
        if abs(value) >= scale:
            return f'{value / scale:.3g}{suffix}'
    return f'{value:.3g}'


def times(r):
    return f'{r:.2f}×' if r else 'n/a'


def table(res, group, rows, metric, higher, fmt, ceiling=None,
          overhead=False):
    """One markdown table: a row per cell, a column per loop, and our
    ratios to asyncio and to the best peer.  `rows` is [(label, cell)], or
    [(label, cell, metric, fmt)] when `metric` is None; `ceiling(cell)`
    gives the C server's cell for a "C ceiling" column; with `overhead`,
    each loop's excess over it is shown in parentheses."""
    names = res.loops
    head = ['cell'] + (['C ceiling'] if ceiling else []) + names
    if OURS in names:
        head += [f'{OURS} vs asyncio', f'{OURS} vs best peer']
    lines = ['| ' + ' | '.join(head) + ' |',
             '|' + '---|' * len(head)]
    for label, cell, *own in rows:
        if own:
            metric, fmt = own
        if not res.measured(group, cell):
            continue
        row = [label]
        base = None
        if ceiling:
            base, why = res.value(group, ceiling(cell), net.CEILING, metric)
            row.append(fmt(base) if base is not None
                       else res.na(net.CEILING, why))
        values = {}
        for name in names:
            v, why = res.value(group, cell, name, metric)
            values[name] = v
            if v is None:
                row.append(res.na(name, why))
            elif overhead and base is not None:
                sign = '+' if v >= base else '−'
                row.append(f'{fmt(v)} ({sign}{fmt(abs(v - base))})')
            else:
                row.append(fmt(v))
        if OURS in names:
            peers = [values[p] for p in loops.PEERS
                     if p in values and values[p] is not None]
            best = (max if higher else min)(peers) if peers else None
            row.append(times(ratio(values[OURS], values.get('asyncio'),
                                   higher)))
            row.append(times(ratio(values[OURS], best, higher)))
        lines.append('| ' + ' | '.join(row) + ' |')
    return '\n'.join(lines)


def micro_rows():
    import micro
    return [(name, (name,)) for name in micro.BENCHMARKS]


def echo_rows():
    return [(f'{style} {t} {net.size_label(s)} c{c}', (style, t, s, c))
            for t, s, c in net.echo_cells() for style in net.STYLES]


def scale_styles():
    import scale
    return scale.IDLE_STYLES


def http_rows():
    return [(f'{w} write{"s" if w > 1 else ""}, c{c}', (w, c))
            for w in net.HTTP_WRITES for c in net.CONCURRENCY]


def app_rows():
    import apps
    names = {'uvicorn': 'uvicorn + Starlette', 'aiohttp': 'aiohttp'}
    rows = [(f'{names[app]} /{endpoint}, c{apps.HTTP_CONNS}',
             (app, endpoint))
            for app in apps.HTTP_APPS for endpoint in apps.ENDPOINTS]
    labels = {'fetchval': "fetchval('SELECT 1')", 'fetch': 'fetch, 10 rows'}
    rows += [(f'asyncpg {labels[query]}, {apps.TASKS} tasks',
              ('asyncpg', query)) for query in apps.QUERIES]
    return rows


TIMER_ROWS = [
    ('schedule, CPU ns per timer', (), 'ns_per_timer', lambda x: _whole(x)),
    ('RSS, bytes per timer', (), 'bytes_per_timer', lambda x: _whole(x)),
    ('first fire, ms late', (), 'first_fire_late_ms', lambda x: f'{x:.3f}'),
    ('next 20 fires, median ms late', (), 'fire_late_ms',
     lambda x: f'{x:.3f}'),
]


def _ceiling(cell):
    return ('C',) + cell[1:]


HEADER = """\
# Benchmarks

Measured by `make bench` (`benchmarks/run.py`) on {date}.  Each full run
rewrites this page; do not edit it by hand.

| | |
|---|---|
| CPU | {cpu}, {cpus} CPUs, Linux {kernel} |
| Python | {implementation} {python} (asyncio: its standard loop) |
| loops | {loop_list} |
| tools | httptools {httptools}; {wrk}; {gcc} |{app_tools}
| commit | {commit} |
| method | {rounds} interleaved round(s) ({mode} mode), medians; server on \
CPU 0, load on CPU 1 |
| run time | {minutes} min {seconds_} s |

{warning}{chart}

Ratios read "times better than": above 1.00× means faster, or less CPU,
memory or latency.  *vs asyncio* compares with the standard loop, *vs best
peer* with the best of asyncio, uvloop and rloop in that cell.  n/a means the
loop is not installed or lacks the feature (the note says which).
"""

MICRO = """
## Micro-benchmarks (operations per CPU second, higher is better)

In-process, each loop in a fresh process per round, pinned to CPU 0.  One
operation: a callback run, a timer scheduled, a sleep(0), a task gathered, a
round trip.  Divided by the process's CPU time, not wall time: on a shared
machine the time other processes take is not charged to the loop, and pinned
to one CPU the two agree on a quiet machine (the JSON has both).
"""

ECHO = """
## Echo servers: server CPU per request (µs, lower is better)

The same Python server for every loop (Protocol, BufferedProtocol, streams,
sock_*), driven by a C closed-loop client with 100 or 1 connections.  In
parentheses: the *overhead*, CPU/request minus the C epoll server's (the
kernel's share), which is the part a loop controls.
"""

APPS = """
## Application benchmarks

Real frameworks and drivers, the same code on every loop
(`benchmarks/apps.py`, `benchmarks/servers/app_*.py`).  HTTP: uvicorn
serving a Starlette app (httptools protocol) and an aiohttp web server, one
process pinned to CPU 0, `wrk -t1 -c100` keep-alive on CPU 1, on a
plaintext and a JSON endpoint; {hw} s warm-up per endpoint, then {hm} s
measured.  asyncpg: {tasks} tasks in one process pinned to CPU 0, each
with its own connection awaiting one query after another, against a
throwaway PostgreSQL server on 127.0.0.1 pinned to CPU 1; {pw} s warm-up,
then {pm} s measured per query.  The PostgreSQL server's own CPU is the same
for every loop, so the asyncpg CPU figure is the client process's.
"""

IDLE = """
## Idle connections: server RSS per connection (bytes, lower is better)

Growth of the server's RSS over {n} connections that each made one round
trip, divided by their number; the C column is the C echo server's.  A
memory figure, equal to 1% between rounds: measured in the first round only.
"""

TIMERS = """
## {n:,} pending timers (lower is better)

call_later 60-70 s ahead in scrambled order, then one 10 ms timer: its
lateness is the first-fire latency.  Then 20 timers 2 ms ahead, each set when
the previous fired: their median lateness is steadier than one sample.
"""


def render(res, chart_name):
    meta = res.meta
    versions = meta['versions']
    seconds = int(meta.get('seconds', 0))
    out = [HEADER.format(**dict(
        meta,
        loop_list=', '.join(f'{n} {versions.get(n) or "(not installed)"}'
                            for n in res.loops if n != 'asyncio'),
        chart=(f'![Ratios to asyncio]({chart_name})' if chart_name
               else '(no chart: matplotlib is not installed)'),
        warning=(f'**Warning: {meta["warning"]}.**\n\n'
                 if meta.get('warning') else ''),
        app_tools=_app_tools(meta),
        minutes=seconds // 60, seconds_=seconds % 60))]
    if 'micro' in res.groups:
        out += [MICRO, table(res, 'micro', micro_rows(), 'ops', True, si)]
    if 'echo' in res.groups:
        out += [ECHO,
                table(res, 'echo', echo_rows(), 'cpu_us', False, _us,
                      ceiling=_ceiling, overhead=True),
                '\n## Echo servers: requests/s (higher is better)\n',
                table(res, 'echo', echo_rows(), 'rps', True, si,
                      ceiling=_ceiling),
                '\n## Echo servers: p99 latency (µs, lower is better)\n',
                table(res, 'echo', echo_rows(), 'p99_us', False, si,
                      ceiling=_ceiling)]
    if 'http' in res.groups:
        out += ['\n## HTTP/1.1 keep-alive (httptools), wrk -t1\n',
                'Requests/s (higher is better):\n',
                table(res, 'http', http_rows(), 'rps', True, si),
                '\nServer CPU per request (µs, lower is better):\n',
                table(res, 'http', http_rows(), 'cpu_us', False, _us),
                '\np99 latency (µs, lower is better):\n',
                table(res, 'http', http_rows(), 'p99_us', False, si)]
    if 'apps' in res.groups:
        out += [APPS.format(**_app_timing(meta)),
                ('\nRequests (HTTP) or queries (asyncpg) per second, higher '
                 'is better:\n'),
                table(res, 'apps', app_rows(), 'rps', True, si),
                ('\nCPU per request or query, µs (HTTP: the server\'s; '
                 'asyncpg: the client\'s), lower is better:\n'),
                table(res, 'apps', app_rows(), 'cpu_us', False, _us)]
    if 'idle' in res.groups:
        out += [IDLE.format(n=_idle_n(res)),
                table(res, 'idle', [(s, (s,)) for s in scale_styles()],
                      'bytes_per_conn', False, _whole,
                      ceiling=lambda cell: ('protocol',), overhead=True)]
    if 'timers' in res.groups:
        out += [TIMERS.format(n=_timers_n(res)),
                table(res, 'timers', TIMER_ROWS, None, False, None)]
    out += ['\n## Noise\n', _noise(res)]
    if res.footnotes:
        out += ['\n## Notes\n']
        out += [f'{i}. {note}' for i, note in enumerate(res.footnotes, 1)]
    out += ['\n## Method\n', METHOD.format(**_timing(meta))]
    return re.sub(r'\n{3,}', '\n\n', '\n'.join(out))


def _us(x):
    return f'{x:.2f}'


def _whole(x):
    return f'{x:,.0f}'


def _idle_n(res):
    for (g, _, _), recs in res.runs.items():
        if g == 'idle':
            return f'{recs[0]["n"]:,}'
    return '?'


def _timers_n(res):
    for (g, _, _), recs in res.runs.items():
        if g == 'timers':
            return recs[0]['n']
    return 0


def _timing(meta):
    t = meta['timing']      # from JSON: the connection counts are strings
    return {'w100': t['warmup']['100'], 'm100': t['measure']['100'],
            'w1': t['warmup']['1'], 'm1': t['measure']['1'],
            'hw': t['http_warmup'], 'hs': net.HTTP_SECONDS}


def _app_tools(meta):
    """The header's row of application package versions, if measured."""
    found = meta.get('apps_versions')
    if not found:
        return ''
    return '\n| applications | ' + ', '.join(
        f'{name} {version}' for name, version in found.items()) + ' |'


def _app_timing(meta):
    import apps
    t = meta.get('apps_timing') or apps.FULL
    return {'hw': t['http_warmup'], 'hm': t['http_measure'],
            'pw': t['pg_warmup'], 'pm': t['pg_measure'],
            'tasks': apps.TASKS}


def _noise(res):
    if res.meta['rounds'] < 2:
        return 'One round: no estimate of the noise (run 3 or more).'
    lines = [('How much a cell moved between its fastest and slowest round, '
             '(max - min) / median, over all cells and loops.  Differences '
             'between loops smaller than this are not significant.'), '',
             '| figure | median cell | 90% of cells within |', '|---|---|---|']
    for group, metric, label in (
            ('micro', 'ops', 'micro ops/s'),
            ('echo', 'cpu_us', 'echo CPU/request'),
            ('echo', 'rps', 'echo requests/s'),
            ('http', 'cpu_us', 'HTTP CPU/request'),
            ('http', 'rps', 'HTTP requests/s'),
            ('apps', 'cpu_us', 'application CPU/request'),
            ('apps', 'rps', 'application requests/s'),
            ('idle', 'bytes_per_conn', 'RSS per connection'),
            ('timers', 'ns_per_timer', 'timer scheduling'),
            ('timers', 'fire_late_ms', 'timer lateness (median of 20)')):
        spreads = sorted(res.spread(group, metric))
        if spreads:
            p90 = spreads[min(len(spreads) - 1, int(0.9 * len(spreads)))]
            lines.append(f'| {label} | {statistics.median(spreads):.0%} | '
                         f'{p90:.0%} |')
    return '\n'.join(lines)


METHOD = """\
- Servers run pinned to CPU 0 (`taskset -c 0`), the C client or wrk pinned
  to CPU 1; one server process per loop, style and transport serves all its
  cells.  Echo cells: {w100} s warm-up and {m100} s measured at 100
  connections, {w1} s and {m1} s at 1 connection.  HTTP: {hw} s wrk warm-up,
  then {hs} s per cell.
- Server CPU is the on-CPU time of all its threads over the measured window
  (utime+stime, read with nanosecond precision from
  /proc/PID/task/TID/schedstat by the client at the instants the window
  opens and closes; /proc/PID/stat's tick-based utime+stime is recorded in
  the JSON as a cross-check), divided by the requests completed in it.
- Rounds are interleaved: every unit of work of every loop, then again, the
  loop order rotating each round.  Tables give medians.
- The machine is a shared 2-core VM: compare loops within this page only,
  never with numbers from another run or machine.
- Raw data of every round: `benchmarks/results/` (JSON).  Re-render with
  `python benchmarks/run.py --report benchmarks/results/latest.json`.
"""


def chart(res, path):
    """A PNG of every loop's ratio to asyncio, one panel per group."""
    try:
        import matplotlib
        matplotlib.use('Agg')
        import matplotlib.pyplot as plt
        import matplotlib.ticker
    except ImportError:
        return False
    # Each bar group: (label, group, cell, metric, higher is better).
    panels = [('Micro-benchmarks: operations per CPU second, × asyncio',
               [(label, 'micro', cell, 'ops', True)
                for label, cell in micro_rows()])]
    for conns in net.CONCURRENCY:
        panels.append((
            (f'Echo, {conns} connection{"s" if conns > 1 else ""}: '
            'asyncio\'s server CPU per request ÷ each loop\'s'),
            [(label.replace(f' c{conns}', ''), 'echo', cell, 'cpu_us', False)
             for label, cell in echo_rows() if cell[3] == conns]))
    panels.append((
        ('HTTP (CPU per request) and scale (memory, time): asyncio ÷ each '
        'loop'),
        [(f'HTTP {label}', 'http', cell, 'cpu_us', False)
         for label, cell in http_rows()]
        + [(f'idle conn RSS, {style}', 'idle', (style,), 'bytes_per_conn',
            False) for style in scale_styles()]
        + [(label, 'timers', (), metric, False)
           for label, _, metric, _ in TIMER_ROWS]))
    panels.append((
        'Applications: asyncio\'s CPU per request or query ÷ each loop\'s',
        [(label, 'apps', cell, 'cpu_us', False)
         for label, cell in app_rows()]))
    panels = [(title, [bar for bar in bars if res.measured(bar[1], bar[2])])
              for title, bars in panels]
    panels = [(title, bars) for title, bars in panels if bars]
    if not panels:
        return False
    colors = {'uvloop': '#4c72b0', 'rloop': '#dd8452', 'loop': '#2ca02c',
              net.CEILING: '#999999'}
    fig, axes = plt.subplots(len(panels), 1, squeeze=False,
                             figsize=(14, 3.6 * len(panels)))
    for ax, (title, bars) in zip(axes[:, 0], panels):
        # The C ceiling is drawn where it serves the same requests: echo.
        with_c = all(group == 'echo' for _, group, *_ in bars)
        series = ([net.CEILING] if with_c else []) + [
            n for n in res.loops if n != 'asyncio']
        width = 0.8 / len(series)
        shown = [1.0]
        for i, name in enumerate(series):
            color = colors.get(name, '#8172b2')
            drawn = False
            for j, (label, group, cell, metric, higher) in enumerate(bars):
                base, _ = res.value(group, cell, 'asyncio', metric)
                key = _ceiling(cell) if name == net.CEILING else cell
                r = ratio(res.value(group, key, name, metric)[0], base,
                          higher)
                x = j + (i - (len(series) - 1) / 2) * width
                if r:
                    # From 1 (asyncio) up or down, on a log scale, so 2×
                    # better and 2× worse are the same length.
                    ax.bar(x, r - 1, width, bottom=1, color=color,
                           label=None if drawn else name)
                    drawn = True
                    shown.append(r)
                else:     # n/a is shown, never silently dropped
                    ax.text(x, 0.02, 'n/a', rotation=90, fontsize=7,
                            ha='center', va='bottom', color=color,
                            transform=ax.get_xaxis_transform())
            if not drawn:
                ax.bar(0, 0, width, bottom=1, color=color,
                       label=f'{name} (n/a)')
        ax.set_yscale('log', base=2)
        ax.set_ylim(min(shown) / 1.5, max(shown) * 1.5)
        ax.yaxis.set_major_formatter(
            matplotlib.ticker.FuncFormatter(lambda y, _: f'{y:g}×'))
        ax.axhline(1.0, color='black', linewidth=0.8)
        ax.set_xticks(range(len(bars)))
        ax.set_xticklabels([bar[0] for bar in bars], rotation=30,
                           ha='right', fontsize=8)
        ax.set_ylabel('× asyncio (higher is better)', fontsize=8)
        ax.set_title(title, fontsize=10)
        ax.legend(fontsize=8, loc='upper left', ncol=len(series))
    fig.suptitle('Ratios to asyncio (1.0 = asyncio; C = the C epoll echo '
                 f'server, the ceiling), {res.meta["date"][:10]}')
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return True


def write(results, full):
    """Write the markdown and the chart; return the markdown."""
    if full:
        directory, stem = os.path.join(ROOT, 'docs'), 'benchmarks'
    else:
        directory, stem = os.path.join(HERE, 'results'), 'report'
    os.makedirs(directory, exist_ok=True)
    res = Results(results)
    png = os.path.join(directory, stem + '.png')
    text = render(res, stem + '.png' if chart(res, png) else None)
    path = os.path.join(directory, stem + '.md')
    text += kept_section(path)
    with open(path, 'w') as f:
        f.write(text)
    return text


KEPT_BEGIN = '<!-- measured-separately:begin -->'
KEPT_END = '<!-- measured-separately:end -->'


def kept_section(path):
    """The hand-kept section of an existing page (figures measured by their
    own scripts, e.g. TLS and subprocess spawning), carried over."""
    try:
        with open(path) as f:
            old = f.read()
    except FileNotFoundError:
        return ''
    start, end = old.find(KEPT_BEGIN), old.find(KEPT_END)
    if start < 0 or end < start:
        return ''
    return '\n' + old[start:end + len(KEPT_END)] + '\n'
