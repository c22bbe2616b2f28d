"""Network cost of the always-on counters: two builds, one interleaved run.

    python scripts/counters_net.py WITH_SRC WITHOUT_SRC [--rounds N]

WITH_SRC and WITHOUT_SRC are `src` directories of two in-place builds of
the same tree, one with the stats() counters and one with every counter
update deleted (scripts/counters_cost.sh --net prepares both and calls this).
Each round runs the echo servers (protocol and streams, TCP, 1 KiB and 100
KiB, 100 and 1 connections) and the HTTP server once per build, the builds
in alternating order, with benchmarks/net.py's pinned servers and native
load generators.  The figure is the server's CPU time per request; the
report gives each build's median over the rounds, the difference, and the
noise: half the spread (max - min) of a build's rounds relative to its
median, the larger of the two builds'.  A difference inside the noise is no difference.
"""
import argparse
import os
import statistics
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, 'benchmarks'))
import net


def cells(timing):
    """(label, records) for one build's units, in run order."""
    def quiet(cell, loop):
        pass
    for style in ('protocol', 'streams'):
        for r in net.echo_unit('loop', style, 'tcp', timing, quiet):
            size = net.size_label(r['size'])
            yield f"echo {style} {size} c{r['conns']}", r
    for r in net.http_unit('loop', 1, timing, quiet):
        yield f"http c{r['conns']}", r


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('with_src')
    parser.add_argument('without_src')
    parser.add_argument('--rounds', type=int, default=5)
    args = parser.parse_args()
    problem = net.build()
    if problem:
        sys.exit(problem)
    builds = {'with': args.with_src, 'without': args.without_src}
    figures = {}                     # (label, build) -> [cpu_us per round]
    for round_no in range(args.rounds):
        order = list(builds) if round_no % 2 == 0 else list(builds)[::-1]
        for build in order:
            # The servers are subprocesses of this interpreter: they import
            # `loop` from PYTHONPATH.
            os.environ['PYTHONPATH'] = builds[build]
            for label, record in cells(net.FULL):
                if 'na' in record:
                    sys.exit(f'{label} ({build}): {record["na"]}')
                figures.setdefault((label, build), []).append(
                    record['cpu_us'])
        print(f'round {round_no + 1}/{args.rounds} done', file=sys.stderr)
    print(f'{args.rounds} interleaved rounds; server CPU µs per request '
          '(median of the rounds)\n')
    print('| cell | with counters | without | difference | noise |')
    print('|---|---|---|---|---|')
    labels = dict.fromkeys(label for label, _ in figures)
    for label in labels:
        with_ = figures[label, 'with']
        without = figures[label, 'without']
        a, b = statistics.median(with_), statistics.median(without)
        noise = max((max(with_) - min(with_)) / a,
                    (max(without) - min(without)) / b) / 2
        print(f'| {label} | {a:.2f} | {b:.2f} | {(a - b) / b:+.1%} '
              f'| ±{noise:.1%} |')


if __name__ == '__main__':
    main()
