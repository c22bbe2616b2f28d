"""Compare two junit xml files of run.sh: which tests' outcomes differ.

    python scripts/foreign_suites/diff.py ASYNCIO.xml OURLOOP.xml

A test is ``classname::name`` of its <testcase>.  Its outcome is one of
passed, failed, error, skipped, xfailed, or missing (not in that file: not
collected, deselected, or the run stopped before it).  A testcase listed
more than once (pytest's subtests, an error in teardown after a pass)
takes its worst outcome.

Prints each file's counts, then the tests that passed on A and not on B,
those that passed on B and not on A, and the other differences (e.g.
skipped on one, failed on the other).  Exit status: 1 if some test passed
on A and not on B (a regression, with A the asyncio run), else 0; 2 on a
usage or read error.
"""
from __future__ import annotations

import collections
import sys
import xml.etree.ElementTree as ET

# Worse outcomes win when a testcase appears more than once.
_RANK = {"passed": 0, "skipped": 1, "xfailed": 2, "failed": 3, "error": 4}


def _outcome(tc: ET.Element) -> str:
    worst = "passed"
    for child in tc:
        if child.tag == "skipped":
            kind = child.get("type", "")
            oc = "xfailed" if kind == "pytest.xfail" else "skipped"
        elif child.tag in ("failure", "error"):
            oc = "failed" if child.tag == "failure" else "error"
        else:
            continue
        if _RANK[oc] > _RANK[worst]:
            worst = oc
    return worst


def load(path: str) -> dict[str, str]:
    results: dict[str, str] = {}
    for tc in ET.parse(path).iter("testcase"):
        tid = f"{tc.get('classname', '')}::{tc.get('name', '')}"
        oc = _outcome(tc)
        old = results.get(tid)
        if old is None or _RANK[oc] > _RANK[old]:
            results[tid] = oc
    return results


def _counts(results: dict[str, str]) -> str:
    c = collections.Counter(results.values())
    return ", ".join(f"{n} {oc}" for oc, n in sorted(
        c.items(), key=lambda kv: _RANK[kv[0]])) or "no tests"


def main(argv: list[str]) -> int:
    if len(argv) != 3 or argv[1].startswith("-"):
        print(__doc__.strip(), file=sys.stderr)
        return 2
    a_path, b_path = argv[1], argv[2]
    try:
        a, b = load(a_path), load(b_path)
    except (OSError, ET.ParseError) as e:
        print(f"diff.py: {e}", file=sys.stderr)
        return 2
    print(f"A {a_path}: {_counts(a)}")
    print(f"B {b_path}: {_counts(b)}")
    lost, gained, other = [], [], []
    for tid in sorted(set(a) | set(b)):
        oa, ob = a.get(tid, "missing"), b.get(tid, "missing")
        if oa == ob:
            continue
        line = f"  {oa:8} -> {ob:8} {tid}"
        if oa == "passed":
            lost.append(line)
        elif ob == "passed":
            gained.append(line)
        else:
            other.append(line)
    for title, lines in (("passed on A, not on B", lost),
                         ("passed on B, not on A", gained),
                         ("other differences", other)):
        print(f"{title}: {len(lines)}")
        for line in lines:
            print(line)
    return 1 if lost else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
