"""Helpers shared by the tests (fixtures are in conftest.py)."""
import asyncio


def run_briefly(loop, passes=3):
    """Let the loop run a few passes (callbacks scheduled by callbacks)."""
    async def go():
        for _ in range(passes):
            await asyncio.sleep(0)
    loop.run_until_complete(go())


def run_for(loop, seconds):
    """Run the loop for `seconds` of loop time (nothing else to do)."""
    loop.run_until_complete(asyncio.sleep(seconds))


def subprocess_env(**extra):
    """os.environ for a child Python that imports the same `loop` package
    as this test run (whatever PYTHONPATH pointed at)."""
    import os

    import loop
    src = os.path.dirname(os.path.dirname(os.path.abspath(loop.__file__)))
    path = os.environ.get('PYTHONPATH')
    env = dict(os.environ,
               PYTHONPATH=src if not path else os.pathsep.join([src, path]))
    env.update(extra)
    return env


def handler_in_context_bug():
    """The loop_bug marker of tests that a custom exception handler's call
    for a failed callback breaks on 3.12+ (see test_exceptions.py)."""
    import sys

    import pytest
    return pytest.mark.loop_bug(
        'a failing callback is reported to the exception handler while the '
        "callback's context is still entered (Handle._run calls "
        'report_callback_error inside PyContext_Enter/Exit); from 3.12 on, '
        "asyncio's call_exception_handler runs a custom handler with "
        "handle.get_context().run(...), which raises 'RuntimeError: cannot "
        "enter context: ... is already entered', so the custom handler is "
        "never called and 'Unhandled error in exception handler' is logged "
        'instead; asyncio reports after leaving the context',
        when=sys.version_info >= (3, 12))
