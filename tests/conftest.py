"""Fixtures shared by the behaviour tests.

Every behaviour test is written once and runs against both stdlib asyncio
and our loop (uvloop's habit): take the `loop` fixture (a fresh loop of
each kind) or `loop_factory` (the kind's new_event_loop, for tests that
make their own loops, e.g. in a subprocess).

Where our loop has a known bug, mark the test ``@pytest.mark.loop_bug(
"what happens")`` (``when=<condition>`` for a bug of some Python versions
only): its 'loop' parametrization becomes a strict xfail and the 'asyncio'
one still has to pass.

Autouse fixtures check after each test that it leaked nothing: fds, tasks
left pending on the loop, process-wide asyncio state (running loop,
async-generator hooks, SIGINT handler, signal wakeup fd) and, in the debug
build (`make debug`), the core's live-object counters.
"""
import asyncio
import gc
import os
import signal
import sys
import threading
import weakref

import pytest

import loop as eloop
from loop import _epoll

KINDS = ('asyncio', 'loop')
# Weak references to the loops the `loop` fixture made: each must be gone
# once its test is over (a check that needs no debug build).
_fixture_loops = []
FACTORIES = {'asyncio': asyncio.new_event_loop,
             'loop': eloop.new_event_loop}


def pytest_configure(config):
    config.addinivalue_line(
        'markers', 'loop_bug(reason, when=True): a known bug of our loop '
        "(when `when` is true); the loop parametrization is a strict xfail, "
        "asyncio's must pass")
    config.addinivalue_line(
        'markers', 'asyncio_differs(reason, strict=True): asyncio behaves '
        'differently by design; its parametrization is an xfail')


def pytest_collection_modifyitems(config, items):
    for item in items:
        callspec = getattr(item, 'callspec', None)
        kind = callspec.params.get('loop_kind') if callspec else None
        if kind == 'loop':
            for mark in item.iter_markers('loop_bug'):
                if mark.kwargs.get('when', True):
                    item.add_marker(pytest.mark.xfail(
                        reason='BUG: ' + mark.args[0], strict=True))
        elif kind == 'asyncio':
            for mark in item.iter_markers('asyncio_differs'):
                item.add_marker(pytest.mark.xfail(
                    reason='asyncio differs: ' + mark.args[0],
                    strict=mark.kwargs.get('strict', True)))


# -- the loop under test ------------------------------------------------------

@pytest.fixture(params=KINDS)
def loop_kind(request):
    """'asyncio' or 'loop': which implementation this run tests."""
    return request.param


@pytest.fixture
def loop_factory(loop_kind):
    """The kind's new_event_loop()."""
    return FACTORIES[loop_kind]


@pytest.fixture
def loop(loop_factory):
    """A fresh loop of each kind, closed after the test.

    The test fails if it left tasks pending on the loop.  The default
    executor, when one was made, is shut down (threads joined) first.
    """
    ev = loop_factory()
    _fixture_loops.append(weakref.ref(ev))
    try:
        yield ev
    finally:
        pending = []
        if not ev.is_closed():
            pending = [t for t in asyncio.all_tasks(ev) if not t.done()]
            for t in pending:
                t.cancel()
            if pending:
                ev.run_until_complete(
                    asyncio.gather(*pending, return_exceptions=True))
            ev.run_until_complete(ev.shutdown_asyncgens())
            if ev._default_executor is not None:
                ev.run_until_complete(ev.shutdown_default_executor())
            ev.close()
        del ev
    assert not pending, f'the test left tasks pending: {pending}'


# -- leak checks --------------------------------------------------------------

def _open_fds():
    return set(os.listdir('/proc/self/fd'))


def _drop_log_records(item):
    # pytest keeps the log records of the test's phases until the teardown
    # is over; a record's exc_info holds a traceback whose frames may hold a
    # loop.  Forget them before counting live objects.
    try:
        from _pytest.logging import caplog_records_key
        phases = item.stash.get(caplog_records_key, {})
    except (ImportError, AttributeError):
        return
    for records in phases.values():
        for record in records:
            record.exc_info = None
            record.args = ()


def _leaks(fds_before, live_before):
    """What the test left behind: new fds, and core objects counted alive."""
    found = {}
    for fd in sorted(_open_fds() - fds_before, key=int):
        try:
            found[f'fd {fd}'] = os.readlink(f'/proc/self/fd/{fd}')
        except OSError:
            pass        # the fd listdir itself used
    alive = [ref() for ref in _fixture_loops if ref() is not None]
    if alive:
        found['loops made by the loop fixture'] = repr(alive)
    live = _epoll._live_objects()
    if live is not None:
        for name, count in live.items():
            if count > live_before[name]:
                found[name] = f'{live_before[name]} -> {count}'
    return found


_LEAK_BASELINE = pytest.StashKey()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item):
    item.stash[_LEAK_BASELINE] = (_open_fds(), _epoll._live_objects())
    return (yield)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item, nextitem):
    """Fail the test if it leaked fds or core objects (debug build).

    Checked once every fixture is finalized (a fixture's value is held by
    pytest until then).  The garbage collector runs only when something
    looks leaked: a clean test costs two directory listings.  (A previous
    test's uncollected garbage cannot hide a leak: the counts only grow
    when this test made something; when they look too high, collecting
    settles it.)
    """
    result = yield
    baseline = item.stash.get(_LEAK_BASELINE, None)
    if baseline is None:
        return result
    fds_before, live_before = baseline
    _drop_log_records(item)
    item.funcargs = {}
    sys.last_exc = sys.last_value = sys.last_traceback = None
    leaks = _leaks(fds_before, live_before)
    for _ in range(3):
        if not leaks:
            break
        gc.collect()
        leaks = _leaks(fds_before, live_before)
    del _fixture_loops[:]
    assert not leaks, f'the test leaked: {leaks}'
    return result


@pytest.fixture(autouse=True)
def clean_process_state():
    """Fail the test if it left asyncio or signal state behind."""
    hooks_before = sys.get_asyncgen_hooks()
    sigint_before = signal.getsignal(signal.SIGINT)
    threads_before = set(threading.enumerate())
    yield
    try:
        assert asyncio._get_running_loop() is None, 'a loop is still running'
        assert sys.get_asyncgen_hooks() == hooks_before, (
            'async generator hooks not restored')
        assert signal.getsignal(signal.SIGINT) is sigint_before, (
            'SIGINT handler not restored')
        wakeup_fd = signal.set_wakeup_fd(-1)
        assert wakeup_fd == -1, 'signal wakeup fd left set'
        for t in set(threading.enumerate()) - threads_before:
            t.join(timeout=10)
            assert not t.is_alive(), f'thread left running: {t}'
    finally:
        signal.signal(signal.SIGINT, sigint_before)
        asyncio.set_event_loop_policy(None)
