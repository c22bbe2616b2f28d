"""pytest plugin for run.sh: anyio's backend parameters (with foreign_loop).

anyio's tests/conftest.py parametrizes ``anyio_backend`` with
``asyncio_params``: plain "asyncio" (debug=True), "asyncio+uvloop",
"asyncio+eager" on 3.12+ (its factory calls ``asyncio.new_event_loop()``
and sets the eager task factory), then trio.  This plugin keeps the plain
asyncio and the eager params and deselects the others (uvloop and trio are
other loops, the same in both modes).  Tests without ``anyio_backend`` are
kept.

In ourloop mode the kept params get a ``loop_factory`` making our loop, so
they run on it even with FOREIGN_POLICY=0.

ANYIO_EAGER=0   drop the asyncio+eager params too.
ANYIO_DEBUG=0   run the asyncio params with debug=False (the conftest's
                default is debug=True), in both modes.
"""
from __future__ import annotations

import asyncio
import os

import pytest

MODE = os.environ.get("FOREIGN_LOOP", "asyncio")
_KEEP: list[object] = []    # the backend values kept, compared by identity


def _our_eager_loop() -> asyncio.AbstractEventLoop:
    import loop
    lp = loop.new_event_loop()
    lp.set_task_factory(asyncio.eager_task_factory)
    return lp


def pytest_plugin_registered(plugin: object, manager: object) -> None:
    name = getattr(plugin, "__name__", "")
    if not (name.endswith("tests.conftest")
            and hasattr(plugin, "asyncio_params")):
        return
    for param in plugin.asyncio_params:
        value = param.values[0]
        backend, options = value
        assert backend == "asyncio", value
        if param.id == "asyncio":
            assert "loop_factory" not in options, value
            if MODE == "ourloop":
                import loop
                options["loop_factory"] = loop.new_event_loop
        elif param.id == "asyncio+eager":
            if os.environ.get("ANYIO_EAGER", "1") == "0":
                continue
            if MODE == "ourloop":
                options["loop_factory"] = _our_eager_loop
        else:
            continue
        if os.environ.get("ANYIO_DEBUG", "1") == "0":
            options["debug"] = False
        _KEEP.append(value)
    if not any(param.id == "asyncio" for param in plugin.asyncio_params):
        raise pytest.UsageError("anyio_params: no plain 'asyncio' param in "
                                "tests/conftest.py's asyncio_params")


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(session: pytest.Session,
                                  config: pytest.Config,
                                  items: list[pytest.Item]) -> None:
    keep, drop = [], []
    for item in items:
        cs = getattr(item, "callspec", None)
        if cs is None or "anyio_backend" not in cs.params:
            keep.append(item)
            continue
        backend = cs.params["anyio_backend"]
        # The string "asyncio" comes from tests parametrized by hand.
        if backend == "asyncio" or any(backend is v for v in _KEEP):
            keep.append(item)
        else:
            drop.append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep
