"""pytest plugin for run.sh: uvloop's own test suite without uvloop.

Loaded with ``-p uvloop_shim`` (project uvloop), before the tests import
anything.  It puts a module named ``uvloop`` into ``sys.modules`` whose
loop is the run's loop (FOREIGN_LOOP): ours in ourloop mode, the stdlib's
in asyncio mode.  uvloop's tests then run their "UV" classes on that loop;
their "AIO" classes make loops with ``asyncio.new_event_loop()``, which
foreign_loop's policy makes ours in ourloop mode too.  Submodules
(``uvloop._testbase``, the suite's harness) come from the unpacked sdist,
the current directory when pytest starts.
"""
from __future__ import annotations

import asyncio
import os
import sys
import types

MODE = os.environ.get("FOREIGN_LOOP", "asyncio")

shim = types.ModuleType("uvloop", "run.sh's stand-in for uvloop")
shim.__path__ = [os.path.join(os.getcwd(), "uvloop")]
shim.__version__ = "shim"
if MODE == "ourloop":
    import loop

    shim.Loop = loop.EventLoop
    shim.new_event_loop = loop.new_event_loop
    shim.EventLoopPolicy = loop.EventLoopPolicy
    shim.install = loop.install
    shim.run = loop.run
else:
    shim.Loop = asyncio.SelectorEventLoop
    shim.new_event_loop = asyncio.new_event_loop
    shim.EventLoopPolicy = asyncio.DefaultEventLoopPolicy
    shim.install = lambda: asyncio.set_event_loop_policy(
        asyncio.DefaultEventLoopPolicy())
    shim.run = asyncio.run
sys.modules["uvloop"] = shim
