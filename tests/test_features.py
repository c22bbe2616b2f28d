"""docs/features.md stays true: its asyncio and loop columns are checked
against the running Python's asyncio and our loop.

Each row of the table is a probe of scripts/probe_features.py (the script
that wrote the table); the same probe runs here, in this process, on a fresh
loop of each kind, and must give the cell's result: `yes` means the method
exists and works when called with valid arguments (no NotImplementedError),
anything else must fail the same way.  Every public method of
asyncio.AbstractEventLoop of this Python must have a row.
"""
import asyncio
import importlib.util
import os
import re
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DOC = os.path.join(ROOT, 'docs', 'features.md')
SCRIPT = os.path.join(ROOT, 'scripts', 'probe_features.py')

if not (os.path.exists(DOC) and os.path.exists(SCRIPT)):
    # The wheel tests run a copy of tests/ alone, away from the checkout.
    pytest.skip('docs/features.md and scripts/ are not beside tests/ (a '
                'copy of the tests run against an installed wheel)',
                allow_module_level=True)

_spec = importlib.util.spec_from_file_location('probe_features', SCRIPT)
probes = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(probes)

PYTHON = f'{sys.version_info[0]}.{sys.version_info[1]}'


def parse_table(text):
    """{title: {column: cell}} of the first table in `text`; columns are
    named by the first word of their header ('loop 0.1.0' -> 'loop')."""
    rows = [line for line in text.splitlines() if line.startswith('|')]
    split = [[c.strip() for c in line.strip().strip('|').split(' | ')]
             for line in rows]
    header = [cell.split()[0] for cell in split[0]]
    table = {}
    for cells in split[2:]:
        assert len(cells) == len(header), f'row of the wrong width: {cells}'
        assert cells[0] not in table, f'two rows for {cells[0]}'
        table[cells[0]] = dict(zip(header[1:], cells[1:]))
    return table


def cell_for(cell, python=PYTHON):
    """The result a cell gives for one Python: a single result, or
    per-version results written `3.11: x; 3.13: y`."""
    if not re.match(r'\d+\.\d+: ', cell):
        return cell
    parts = dict(part.split(': ', 1) for part in cell.split('; '))
    return parts.get(python)


with open(DOC) as _f:
    TABLE = parse_table(_f.read())

# The probes that apply to this Python (the rest are newer features).
APPLICABLE = [p for p in probes.PROBES if probes.applies(p)]


def test_table_has_the_columns():
    first = next(iter(TABLE.values()))
    assert list(first) == ['Python', 'asyncio', 'uvloop', 'rloop', 'loop']


def test_a_row_for_each_method():
    methods = sorted(name for name in vars(asyncio.AbstractEventLoop)
                     if not name.startswith('_'))
    assert methods      # the class really lists them
    missing = [m for m in methods if f'`{m}()`' not in TABLE]
    assert missing == []


def test_rows_and_probes_match():
    # A row nobody probes could say anything; a probe without a row is
    # a feature the doc forgot.
    assert set(TABLE) == {p.title for p in probes.PROBES}


def test_python_column_matches_probes():
    for p in probes.PROBES:
        assert TABLE[p.title]['Python'] == '{}.{}+'.format(*p.since)


@pytest.mark.parametrize('probe', APPLICABLE, ids=lambda p: p.title)
def test_column_is_true(loop_kind, probe):
    expected = cell_for(TABLE[probe.title][loop_kind])
    assert expected is not None, (
        f'the {loop_kind} cell of {probe.title} says nothing for {PYTHON}')
    result, note = probes.run_one(probe, loop_kind)
    if expected == 'yes':
        assert result == 'yes', note
    else:
        # Documented as missing or failing: it must still fail that way.
        assert result == expected, note
