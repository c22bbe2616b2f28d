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


