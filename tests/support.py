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


def default_sigint():
    """preexec_fn for a child that is sent Ctrl-C: SIGINT back to its default
    disposition.  A job started in the background by a non-interactive shell
    (`make test &`, nohup, some CI runners) inherits SIGINT ignored, and a
    Python started so installs no KeyboardInterrupt handler at all."""
    import signal
    signal.signal(signal.SIGINT, signal.SIG_DFL)


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


