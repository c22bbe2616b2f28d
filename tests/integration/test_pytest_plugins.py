"""Users' own test suites on our loop: pytest-asyncio (with pytest-aiohttp
on top), anyio's pytest plugin and aiohttp's legacy pytest plugin, each
configured as docs/integration.md says.  The sample projects next to this
file are run by pytest in a subprocess; their tests check that they run on
the loop that was selected (ours, or asyncio's as the control)."""
import os
import re
import subprocess
import sys

import pytest

from ._util import loop_module_path, need

need('pytest_asyncio')
need('pytest_aiohttp')
need('anyio')

HERE = os.path.dirname(os.path.abspath(__file__))


def run_sample(project, loop_kind, *args, **env):
    env = dict(os.environ, SAMPLE_LOOP=loop_kind, **env)
    env['PYTHONPATH'] = os.pathsep.join(
        [loop_module_path(), os.environ.get('PYTHONPATH', '')])
    # Plugins of this environment that the sample does not use stay out.
    proc = subprocess.run(
        [sys.executable, '-m', 'pytest', '-q', '-p', 'no:cacheprovider',
         '-p', 'no:benchmark', '-p', 'no:hypothesispytest', *args],
        cwd=os.path.join(HERE, project), env=env, capture_output=True,
        text=True, timeout=300, check=False)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output
    counts = {word: int(n) for n, word in
              re.findall(r'(\d+) (passed|failed|error|skipped)', output)}
    return counts, output


@pytest.mark.parametrize('recipe', ['hook', 'policy'])
def test_pytest_asyncio_anyio_pytest_aiohttp(loop_kind, recipe):
    counts, output = run_sample('sample_project', loop_kind,
                                SAMPLE_RECIPE=recipe)
    # 5 pytest-asyncio tests, 4 anyio tests, 2 pytest-aiohttp tests.
    assert counts == {'passed': 11}, output


def test_aiohttp_legacy_plugin(loop_kind):
    counts, output = run_sample('sample_project_legacy', loop_kind,
                                '-p', 'no:aiohttp', '-p', 'no:asyncio',
                                '-p', 'no:anyio')
    assert counts == {'passed': 2}, output
