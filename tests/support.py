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


def with_default_sigint(argv):
    """argv run with SIGINT's default disposition, for a child sent Ctrl-C.

    A job started in the background by a non-interactive shell (`make test
    &`, nohup, some CI runners) inherits SIGINT ignored, and a Python started
    so installs no KeyboardInterrupt handler at all.  A small Python resets
    it and execs argv (exec keeps a default disposition; no preexec_fn,
    which is unsafe with threads).
    """
    import sys
    reset = ('import os, signal, sys; '
             'signal.signal(signal.SIGINT, signal.SIG_DFL); '
             'os.execv(sys.argv[1], sys.argv[1:])')
    return [sys.executable, '-c', reset, *argv]


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


