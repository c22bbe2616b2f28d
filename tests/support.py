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




def has_ipv6_loopback():
    """Whether ::1 can be bound here."""
    import socket
    if not socket.has_ipv6:
        return False
    try:
        with socket.socket(socket.AF_INET6) as s:
            s.bind(('::1', 0))
    except OSError:
        return False
    return True


def polls(loop):
    """How many times the loop has polled so far: our loop counts them;
    asyncio's selector.select() gets a counting wrapper on first use."""
    if hasattr(loop, 'stats'):
        return loop.stats()['epoll_waits']
    selector = loop._selector
    if not hasattr(selector, 'test_polls'):
        select = selector.select

        def counting_select(timeout=None):
            selector.test_polls += 1
            return select(timeout)

        selector.test_polls = 0
        selector.select = counting_select
    return selector.test_polls


def run_finishing(loop, coro, timeout):
    """run_until_complete(wait_for(coro, timeout)); when something escapes
    the loop itself (a bug of the loop under test), the test's tasks are
    finished first, so that the report is that failure rather than the
    fixture's "tasks left pending".  Each try may be cut short by the same
    escaping error again."""
    import contextlib
    task = loop.create_task(asyncio.wait_for(coro, timeout))
    try:
        return loop.run_until_complete(task)
    except BaseException:
        if not task.done():
            for _ in range(50):
                pending = [t for t in asyncio.all_tasks(loop)
                           if not t.done()]
                if not pending:
                    break
                for t in pending:
                    t.cancel()
                with contextlib.suppress(BaseException):
                    loop.run_until_complete(
                        asyncio.gather(*pending, return_exceptions=True))
        raise
