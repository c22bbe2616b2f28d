"""pytest plugin for run.sh: choose the loop of a foreign test suite.

Loaded with ``-p foreign_loop``.  Environment:

FOREIGN_LOOP=asyncio   the stdlib loop, nothing changed (the reference run)
FOREIGN_LOOP=ourloop   asyncio's event loop policy becomes
                       ``loop.EventLoopPolicy``, so every
                       ``asyncio.new_event_loop()``, ``asyncio.run()``,
                       ``asyncio.Runner`` and ``IsolatedAsyncioTestCase``
                       makes our loop.  The policy is put back before each
                       test if an earlier test replaced it.
FOREIGN_POLICY=0       (ourloop) leave the policy alone; only what a
                       project plugin injects (anyio_params) uses our loop.
FOREIGN_LOOP_REPORT    file for the end-of-run report (below).

Whatever the mode, it counts the loops that actually ran, by type: it wraps
``asyncio.events._set_running_loop``, which both asyncio's ``run_forever()``
and ours call when a loop starts running.  The report gives those counts and
the tests during which a loop of the other kind ran (in ourloop mode: tests
that built a stdlib loop themselves, e.g. ``asyncio.SelectorEventLoop()``,
and so did not test ours).  A run in ourloop mode where no loop of ours ran
is an injection failure, and the report says so.
"""
from __future__ import annotations

import asyncio
import collections
import os
import sys
import warnings
from collections.abc import Iterator

import pytest

MODE = os.environ.get("FOREIGN_LOOP", "asyncio")
USE_POLICY = os.environ.get("FOREIGN_POLICY", "1") != "0"
if MODE not in ("asyncio", "ourloop"):
    raise pytest.UsageError(f"FOREIGN_LOOP={MODE!r}: asyncio or ourloop")

_ran = collections.Counter()        # loop type name -> runs
_other_tests = collections.Counter()  # nodeid -> runs of the other kind
_policy_resets = 0
_current = None                     # nodeid of the test being run
_orig_set_running_loop = asyncio.events._set_running_loop


def _is_ours(lp: object) -> bool:
    return type(lp).__module__.split(".")[0] == "loop"


def _set_running_loop(lp: object) -> object:
    if lp is not None:
        t = type(lp)
        _ran[f"{t.__module__}.{t.__qualname__}"] += 1
        if _current is not None and _is_ours(lp) != (MODE == "ourloop"):
            _other_tests[_current] += 1
    return _orig_set_running_loop(lp)


asyncio.events._set_running_loop = _set_running_loop


def _policy_class() -> type:
    import loop
    return loop.EventLoopPolicy


def _ensure_policy() -> bool:
    """Install our policy if it is not the current one; True if it was."""
    cls = _policy_class()
    with warnings.catch_warnings():     # policies are deprecated in 3.14
        warnings.simplefilter("ignore", DeprecationWarning)
        if type(asyncio.get_event_loop_policy()) is cls:
            return False
        asyncio.set_event_loop_policy(cls())
    return True


def pytest_configure(config: pytest.Config) -> None:
    if MODE == "ourloop" and USE_POLICY:
        _ensure_policy()


def _header() -> str:
    line = f"mode={MODE} python={sys.version.split()[0]}"
    if MODE == "ourloop":
        import loop
        line += f" loop {loop.__version__} from {loop.__file__}"
        line += f" policy={'yes' if USE_POLICY else 'no'}"
    return line


def pytest_report_header(config: pytest.Config) -> list[str]:
    return [f"foreign_loop: {_header()}"]


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(
        item: pytest.Item, nextitem: object) -> Iterator[None]:
    global _current, _policy_resets
    if MODE == "ourloop" and USE_POLICY and _ensure_policy():
        _policy_resets += 1
    _current = item.nodeid
    try:
        yield
    finally:
        _current = None


def _report() -> list[str]:
    ours = sum(n for name, n in _ran.items() if name.startswith("loop."))
    other = sum(_ran.values()) - ours
    kind = "stdlib/other" if MODE == "ourloop" else "`loop`"
    lines = [
        f"[foreign_loop] {_header()}",
        f"[foreign_loop] loops run, by type: {dict(_ran)}",
        f"[foreign_loop] runs of our loop: {ours}, of other loops: {other}",
        f"[foreign_loop] tests that ran a {kind} loop: {len(_other_tests)}",
    ]
    if MODE == "ourloop" and USE_POLICY:
        lines.append(f"[foreign_loop] policy reinstalled before "
                     f"{_policy_resets} tests (an earlier test replaced it)")
    if MODE == "ourloop" and ours == 0:
        lines.append("[foreign_loop] ERROR: our loop never ran: the "
                     "injection did not work")
    return lines


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    lines = _report()
    sys.stderr.write("\n" + "\n".join(lines) + "\n")
    path = os.environ.get("FOREIGN_LOOP_REPORT")
    if path:
        with open(path, "w") as f:
            f.write("\n".join(lines) + "\n")
            f.writelines(f"other-loop {n:4d} {nodeid}\n"
                         for nodeid, n in sorted(_other_tests.items()))
