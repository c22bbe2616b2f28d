"""run_forever / run_until_complete / stop / close and the loop's state."""
import asyncio
import sys
import time

import pytest

from support import run_briefly


async def _answer(value=42):
    await asyncio.sleep(0)
    return value


class Awaitable:
    """Neither a coroutine nor a future: only __await__."""

    def __await__(self):
        yield from asyncio.sleep(0).__await__()
        return 'awaited'


# -- run_until_complete -------------------------------------------------------

def test_run_until_complete_coroutine(loop):
    assert loop.run_until_complete(_answer()) == 42


def test_run_until_complete_future(loop):
    fut = loop.create_future()
    loop.call_soon(fut.set_result, 'value')
    assert loop.run_until_complete(fut) == 'value'


def test_run_until_complete_task(loop):
    task = loop.create_task(_answer(7))
    assert loop.run_until_complete(task) == 7


def test_run_until_complete_awaitable(loop):
    assert loop.run_until_complete(Awaitable()) == 'awaited'


def test_run_until_complete_rejects_non_awaitable(loop):
    with pytest.raises(TypeError, match='awaitable is required'):
        loop.run_until_complete(42)


def test_run_until_complete_raises_the_exception(loop):
    async def fail():
        await asyncio.sleep(0)
        raise ValueError('boom')

    with pytest.raises(ValueError, match='boom'):
        loop.run_until_complete(fail())
    # The loop is usable afterwards.
    assert loop.run_until_complete(_answer()) == 42


def test_run_until_complete_future_of_another_loop(loop, loop_factory):
    other = loop_factory()
    try:
        fut = other.create_future()
        with pytest.raises(ValueError, match='different loop'):
            loop.run_until_complete(fut)
    finally:
        other.close()


def test_run_until_complete_stopped_before_done(loop):
    fut = loop.create_future()
    loop.call_soon(loop.stop)
    with pytest.raises(RuntimeError,
                       match='Event loop stopped before Future completed'):
        loop.run_until_complete(fut)
    assert not loop.is_running()


def test_run_until_complete_cancelled_future(loop):
    fut = loop.create_future()
    loop.call_soon(fut.cancel)
    with pytest.raises(asyncio.CancelledError):
        loop.run_until_complete(fut)


# -- run_forever and stop -----------------------------------------------------

def test_stop_before_run_runs_one_pass(loop):
    # stop() before run_forever(): the loop runs the callbacks that are ready
    # once, then returns.
    out = []
    loop.stop()
    loop.call_soon(out.append, 1)
    loop.call_soon(lambda: loop.call_soon(out.append, 'next pass'))
    loop.run_forever()
    assert out == [1]
    # The callback scheduled during that pass waits for the next run.
    loop.call_soon(loop.stop)
    loop.run_forever()
    assert out == [1, 'next pass']


def test_stop_finishes_the_current_pass(loop):
    out = []
    loop.call_soon(out.append, 'a')
    loop.call_soon(loop.stop)
    loop.call_soon(out.append, 'b')       # same pass: still runs
    loop.run_forever()
    assert out == ['a', 'b']


def test_stop_twice_is_one_stop(loop):
    out = []
    loop.call_soon(loop.stop)
    loop.call_soon(loop.stop)
    loop.run_forever()
    loop.call_soon(out.append, 1)
    loop.call_soon(loop.stop)
    loop.run_forever()
    assert out == [1]


def test_run_forever_many_times(loop):
    for i in range(5):
        loop.call_soon(loop.stop)
        loop.run_forever()
        assert loop.run_until_complete(_answer(i)) == i


def test_is_running(loop):
    seen = []
    assert not loop.is_running()
    loop.call_soon(lambda: seen.append(loop.is_running()))
    loop.call_soon(loop.stop)
    loop.run_forever()
    assert seen == [True]
    assert not loop.is_running()


def test_nested_run_is_refused(loop):
    errors = []

    async def nested():
        coro = _answer()
        try:
            loop.run_until_complete(coro)
        except RuntimeError as exc:
            errors.append(str(exc))
        finally:
            coro.close()
        try:
            loop.run_forever()
        except RuntimeError as exc:
            errors.append(str(exc))

    loop.run_until_complete(nested())
    assert errors == ['This event loop is already running'] * 2


def test_running_two_loops_in_one_thread_is_refused(loop, loop_factory):
    other = loop_factory()
    errors = []

    async def main():
        coro = _answer()
        try:
            other.run_until_complete(coro)
        except RuntimeError as exc:
            errors.append(str(exc))
        finally:
            coro.close()

    try:
        loop.run_until_complete(main())
    finally:
        other.close()
    assert errors == [
        'Cannot run the event loop while another loop is running']


# -- close --------------------------------------------------------------------

def test_close(loop):
    assert not loop.is_closed()
    loop.close()
    assert loop.is_closed()
    loop.close()                 # idempotent
    assert loop.is_closed()


def test_close_running_loop_is_refused(loop):
    errors = []

    def try_close():
        try:
            loop.close()
        except RuntimeError as exc:
            errors.append(str(exc))
        loop.stop()

    loop.call_soon(try_close)
    loop.run_forever()
    assert errors == ['Cannot close a running event loop']
    assert not loop.is_closed()


def test_close_drops_pending_callbacks(loop):
    out = []
    loop.call_soon(out.append, 1)
    loop.call_later(0.001, out.append, 2)
    loop.close()
    assert out == []


@pytest.mark.parametrize('method', [
    'run_forever', 'run_until_complete', 'call_soon', 'call_soon_threadsafe',
    'call_later', 'call_at', 'create_task', 'run_in_executor'])
def test_closed_loop_refuses(loop, method):
    loop.close()
    coro = _answer()
    calls = {
        'run_forever': lambda: loop.run_forever(),
        'run_until_complete': lambda: loop.run_until_complete(coro),
        'call_soon': lambda: loop.call_soon(print),
        'call_soon_threadsafe': lambda: loop.call_soon_threadsafe(print),
        'call_later': lambda: loop.call_later(1, print),
        'call_at': lambda: loop.call_at(loop.time() + 1, print),
        'create_task': lambda: loop.create_task(coro),
        'run_in_executor': lambda: loop.run_in_executor(None, print),
    }
    try:
        with pytest.raises(RuntimeError, match='^Event loop is closed$'):
            calls[method]()
    finally:
        coro.close()


def test_closed_loop_still_makes_futures(loop):
    # asyncio does not check: a future of a closed loop can still be made
    # (and resolved, though its callbacks can no longer be scheduled).
    loop.close()
    fut = loop.create_future()
    assert not fut.done()


# -- the running loop ---------------------------------------------------------

def test_get_running_loop(loop):
    async def main():
        assert asyncio.get_running_loop() is loop
        assert asyncio.get_event_loop() is loop
        assert asyncio._get_running_loop() is loop
        return True

    assert loop.run_until_complete(main())
    with pytest.raises(RuntimeError, match='no running event loop'):
        asyncio.get_running_loop()


def test_get_running_loop_in_callback(loop):
    seen = []
    loop.call_soon(lambda: seen.append(asyncio.get_running_loop()))
    run_briefly(loop)
    assert seen == [loop]


def test_running_loop_reset_after_exception(loop):
    def boom():
        raise KeyboardInterrupt

    loop.call_soon(boom)
    with pytest.raises(KeyboardInterrupt):
        loop.run_forever()
    assert asyncio._get_running_loop() is None
    assert not loop.is_running()


# -- time ---------------------------------------------------------------------

def test_time_is_monotonic_clock(loop):
    # Both use CLOCK_MONOTONIC: time.monotonic() brackets loop.time().
    # (Allow a rounding ulp: the two convert nanoseconds to float apart.)
    for _ in range(100):
        before = time.monotonic()
        now = loop.time()
        after = time.monotonic()
        assert before - 1e-6 <= now <= after + 1e-6


def test_time_advances_across_sleep(loop):
    t0 = loop.time()
    loop.run_until_complete(asyncio.sleep(0.01))
    # A timer never fires early (asyncio's rule: not before `when` minus
    # the clock resolution).
    assert loop.time() - t0 >= 0.01 - loop._clock_resolution


# -- async generators ---------------------------------------------------------

def test_asyncgen_hooks_installed_while_running(loop):
    outside = sys.get_asyncgen_hooks()
    inside = []

    async def main():
        inside.append(sys.get_asyncgen_hooks())

    loop.run_until_complete(main())
    firstiter, finalizer = inside[0]
    assert firstiter is not None and finalizer is not None
    assert firstiter.__self__ is loop and finalizer.__self__ is loop
    assert sys.get_asyncgen_hooks() == outside


def test_shutdown_asyncgens_closes_suspended_generators(loop):
    events = []

    async def agen():
        try:
            yield 1
            yield 2
        finally:
            await asyncio.sleep(0)
            events.append('finally')

    gens = []

    async def main():
        g = agen()
        gens.append(g)
        assert await g.__anext__() == 1

    loop.run_until_complete(main())
    assert events == []
    loop.run_until_complete(loop.shutdown_asyncgens())
    assert events == ['finally']
    # A generator first iterated after the shutdown gets a warning.
    g2 = agen()

    async def late():
        with pytest.warns(ResourceWarning,
                          match='after loop.shutdown_asyncgens'):
            await g2.__anext__()
        await g2.aclose()

    loop.run_until_complete(late())


def test_asyncgen_finalized_by_the_loop(loop):
    # An abandoned async generator is finalized by the loop's hook: its
    # aclose() runs as a task on the loop.
    events = []

    async def agen():
        try:
            yield 1
            yield 2
        finally:
            events.append(asyncio.get_running_loop())

    async def main():
        g = agen()
        await g.__anext__()
        del g
        for _ in range(5):
            await asyncio.sleep(0)

    loop.run_until_complete(main())
    assert events == [loop]
