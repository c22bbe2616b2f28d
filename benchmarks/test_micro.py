"""The micro-benchmarks as pytest-benchmark tests, for comparing commits:

    PYTHONPATH=src .venv/bin/python -m pytest benchmarks/ --benchmark-autosave
    ... (change something) ...
    PYTHONPATH=src .venv/bin/python -m pytest benchmarks/ \
        --benchmark-compare --benchmark-group-by=param:bench

Each round creates a fresh loop in this process (run.py is the one that
isolates every loop in its own process).  pytest-benchmark times wall
clock; on a busy machine add `--benchmark-timer time.process_time`.  Sizes
are a tenth of the full suite's (BENCH_SCALE=1 for full size).  A loop that is not installed, or
lacks the feature, is skipped with the reason.
"""
import os

import pytest

import loops
import micro

SCALE = float(os.environ.get('BENCH_SCALE', '0.1'))


@pytest.mark.parametrize('loop_name', loops.LOOPS)
@pytest.mark.parametrize('bench', list(micro.BENCHMARKS))
def test_micro(benchmark, bench, loop_name):
    why = loops.missing(loop_name)
    if why:
        pytest.skip(why)
    n = max(1, int(micro.BENCHMARKS[bench][1] * SCALE))
    try:
        micro.run_once(loop_name, bench, max(1, n // 10))   # warm-up
    except micro.NotAvailable as exc:
        pytest.skip(str(exc))
    except NotImplementedError as exc:
        pytest.skip(micro.not_implemented(exc))
    benchmark.extra_info['operations'] = n
    # pedantic: one call per round, since one call is n operations.
    _wall, cpu = benchmark.pedantic(micro.run_once, (loop_name, bench, n),
                                    rounds=3, iterations=1)
    benchmark.extra_info['ops_per_cpu_s'] = n / cpu
