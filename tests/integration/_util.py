"""Helpers shared by the integration tests."""
import asyncio
import os

import pytest

import loop as eloop

HOST = '127.0.0.1'
# A hung library call fails its test after this long instead of hanging
# the run (generous: the machine is shared).
TIMEOUT = 60


def need(module):
    """Import `module`, or skip the calling test module if it is missing
    (requirements-integration.txt has it; scripts/integration.sh installs
    it)."""
    return pytest.importorskip(
        module, reason=f'{module} is not installed: run '
        'scripts/integration.sh (pip install -r requirements-integration.txt)')


def run(loop, coro, timeout=TIMEOUT):
    """Run `coro` on `loop`, failing with TimeoutError if it hangs."""
    return loop.run_until_complete(asyncio.wait_for(coro, timeout))


def assert_running_on(loop_kind):
    """The running loop is the kind under test: a library that made or
    picked a loop of its own would make the test prove nothing."""
    running = asyncio.get_running_loop()
    if loop_kind == 'loop':
        assert isinstance(running, eloop.EventLoop), running
    else:
        assert not isinstance(running, eloop.EventLoop), running
        assert type(running).__module__.startswith('asyncio'), running


def loop_module_path():
    """The directory holding the `loop` package this run imports."""
    return os.path.dirname(os.path.dirname(os.path.abspath(eloop.__file__)))
