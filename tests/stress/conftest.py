"""Stress scenarios (issue 8): `make stress` (full) / `make stress-ci`
(LOOP_STRESS_SHORT=1, the CI-sized subset).

Every scenario runs against both loops through the fixtures of
tests/conftest.py and reports its figures with the `figure` fixture; they
are printed in the terminal summary (and appended, as JSON lines, to the
file named by LOOP_STRESS_REPORT when it is set) so that
docs/reliability.md can be written from a run.
"""
import json
import os

import pytest

SHORT = os.environ.get('LOOP_STRESS_SHORT') == '1'
_HERE = os.path.dirname(os.path.abspath(__file__))
_figures = []


def pytest_collection_modifyitems(config, items):
    # A plain `pytest tests` (make test) collects this directory too: the
    # full-size scenarios would take many minutes there, so they only run
    # when tests/stress was named on the command line (make stress*).
    named = any(os.path.abspath(str(a).split('::')[0]).startswith(_HERE)
                for a in config.args)
    if named:
        return
    skip = pytest.mark.skip(reason='stress scenario: run by make stress')
    for item in items:
        if str(item.fspath).startswith(_HERE):
            item.add_marker(skip)


@pytest.fixture
def figure(request, loop_kind):
    """figure(name, value, unit=''): record one of the scenario's figures."""
    test = request.node.originalname or request.node.name

    def record(name, value, unit=''):
        row = {'test': test, 'loop': loop_kind, 'name': name,
               'value': value, 'unit': unit,
               'mode': 'short' if SHORT else 'full'}
        _figures.append(row)
        path = os.environ.get('LOOP_STRESS_REPORT')
        if path:
            with open(path, 'a') as f:
                f.write(json.dumps(row) + '\n')
    return record


def pytest_terminal_summary(terminalreporter):
    if not _figures:
        return
    tr = terminalreporter
    tr.section('stress figures (%s mode)' % ('short' if SHORT else 'full'))
    for r in _figures:
        value = r['value']
        if isinstance(value, float):
            value = f'{value:.4g}'
        tr.write_line(f"{r['test']:<32} {r['loop']:<8} {r['name']}: "
                      f"{value} {r['unit']}")
