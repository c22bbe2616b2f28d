"""call_soon, call_later, call_at, handles, contexts, futures and tasks."""
import asyncio
import contextvars
import gc
import re
import socket
import sys
import threading
import weakref

import pytest

from support import run_briefly

var = contextvars.ContextVar('var', default='default')


def stopper(loop, out):
    """A callback that records 'stop' and stops the loop."""
    def stop():
        out.append('stop')
        loop.stop()
    return stop


# -- call_soon ----------------------------------------------------------------

def test_call_soon_fifo_with_args(loop):
    out = []
    for i in range(100):
        loop.call_soon(out.append, i)
    loop.call_soon(loop.stop)
    loop.run_forever()
    assert out == list(range(100))


def test_call_soon_positional_args(loop):
    out = []
    loop.call_soon(lambda *a: out.append(a), 1, 'two', None)
    run_briefly(loop)
    assert out == [(1, 'two', None)]


def test_call_soon_keyword_args_refused(loop):
    # Only context= is a keyword; functools.partial is the way to pass others.
    with pytest.raises(TypeError):
        loop.call_soon(print, end='')


def test_callback_scheduled_during_a_pass_runs_in_the_next(loop):
    out = []

    def first():
        out.append('first')
        loop.call_soon(out.append, 'scheduled by first')

    loop.call_soon(first)
    loop.call_soon(out.append, 'second')
    loop.call_soon(stopper(loop, out))
    loop.run_forever()
    assert out == ['first', 'second', 'stop']
    loop.call_soon(loop.stop)
    loop.run_forever()
    assert out == ['first', 'second', 'stop', 'scheduled by first']


def test_ready_callbacks_run_before_due_timers(loop):
    out = []
    loop.call_later(0, out.append, 'timer 0')
    loop.call_later(-1, out.append, 'timer -1')
    loop.call_soon(out.append, 'soon')
    loop.call_at(loop.time() - 10, out.append, 'at -10')
    run_briefly(loop)
    # The ready callback first, then the due timers by deadline.
    assert out == ['soon', 'at -10', 'timer -1', 'timer 0']


def test_timer_scheduled_by_a_callback_waits_for_a_later_pass(loop):
    out = []

    def first():
        out.append('first')
        loop.call_later(0, out.append, 'timer')

    loop.call_soon(first)
    loop.call_soon(stopper(loop, out))
    loop.run_forever()
    assert out == ['first', 'stop']
    run_briefly(loop)
    assert out == ['first', 'stop', 'timer']


# -- timers -------------------------------------------------------------------

@pytest.mark.asyncio_differs(
    "asyncio's timer heap (heapq of TimerHandles compared by `when` only) "
    'is not stable: equal deadlines run in an arbitrary order.  Ours '
    'orders by (deadline, sequence number), so they run FIFO.')
def test_equal_deadlines_run_in_scheduling_order(loop):
    out = []
    when = loop.time() + 0.01
    for i in range(50):
        loop.call_at(when, out.append, i)
    loop.call_at(when, loop.stop)
    loop.run_forever()
    assert out == list(range(50))


def test_timers_run_in_deadline_order(loop):
    out = []
    base = loop.time()
    # Scheduled out of order; deadlines 5 ms apart (order does not depend
    # on how fast the machine is: every timer is due by the last one).
    for k in [7, 3, 9, 0, 5, 1, 8, 2, 6, 4]:
        loop.call_at(base + k * 0.005, out.append, k)
    loop.call_at(base + 10 * 0.005, loop.stop)
    loop.run_forever()
    assert out == list(range(10))


def test_negative_and_zero_delays_run_at_once(loop):
    out = []
    loop.call_later(-100, out.append, 'a')
    loop.call_later(0, out.append, 'b')
    loop.call_later(-0.5, out.append, 'c')
    run_briefly(loop, 1)
    assert out == ['a', 'c', 'b']


def test_timer_never_fires_early(loop):
    fired = []
    handle = loop.call_later(0.02, lambda: fired.append(loop.time()))
    loop.run_until_complete(asyncio.sleep(0.05))
    assert len(fired) == 1
    assert fired[0] >= handle.when() - loop._clock_resolution


def test_far_timer_does_not_block_stop(loop):
    handle = loop.call_later(3600, print)
    loop.call_soon(loop.stop)
    loop.run_forever()
    handle.cancel()


def test_infinite_delay(loop):
    h = loop.call_later(float('inf'), print)
    loop.call_soon(loop.stop)
    loop.run_forever()
    assert h.when() == float('inf')
    h.cancel()


def test_call_later_requires_delay(loop):
    with pytest.raises(TypeError):
        loop.call_later(None, print)


@pytest.mark.skipif(sys.version_info < (3, 11),
                    reason='3.10 asyncio does not check: None reaches heapq')
def test_call_at_requires_when(loop):
    with pytest.raises(TypeError, match='when cannot be None'):
        loop.call_at(None, print)


@pytest.mark.parametrize('keep_one_in', [1, 3, 50],
                         ids=['cancel-third', 'cancel-two-thirds',
                              'cancel-almost-all'])
def test_many_timers_and_cancels(loop, keep_one_in):
    # Over half the heap cancelled makes both loops compact their heaps.
    out = []
    base = loop.time()
    # Distinct deadlines (a permutation of 10 us steps): asyncio's order of
    # equal deadlines is arbitrary.
    slot = {i: (i * 7919) % 1000 for i in range(1000)}
    handles = [loop.call_at(base + slot[i] * 1e-5, out.append, i)
               for i in range(1000)]
    if keep_one_in == 1:
        cancelled = set(range(0, 1000, 3))
    else:
        cancelled = {i for i in range(1000) if i % keep_one_in}
    for i in sorted(cancelled, key=lambda i: -i):     # newest first
        handles[i].cancel()
    loop.call_at(base + 0.011, loop.stop)
    loop.run_forever()
    assert out == sorted(set(range(1000)) - cancelled, key=slot.get)


def test_cancel_timer_from_an_earlier_callback_of_the_same_pass(loop):
    out = []
    when = loop.time()
    victim = loop.call_at(when + 0.001, out.append, 'victim')
    loop.call_at(when, victim.cancel)
    loop.call_at(when + 0.002, stopper(loop, out))
    loop.run_forever()
    assert out == ['stop']


def test_cancel_ready_handle_from_an_earlier_callback(loop):
    out = []
    handles = []
    loop.call_soon(lambda: handles[0].cancel())
    handles.append(loop.call_soon(out.append, 'victim'))
    loop.call_soon(out.append, 'survivor')
    run_briefly(loop)
    assert out == ['survivor']


# -- Handle and TimerHandle ---------------------------------------------------

def callback(*args):
    pass


CB_SOURCE = r'callback\(\) at .*test_scheduling\.py:\d+'


def test_handle_cancel(loop):
    out = []
    h = loop.call_soon(out.append, 1)
    assert not h.cancelled()
    h.cancel()
    assert h.cancelled()
    h.cancel()
    assert h.cancelled()
    run_briefly(loop)
    assert out == []


def test_cancel_after_run_is_harmless(loop):
    out = []
    h = loop.call_soon(out.append, 1)
    t = loop.call_later(0, out.append, 2)
    run_briefly(loop)
    h.cancel()
    t.cancel()
    assert h.cancelled() and t.cancelled()
    run_briefly(loop)
    assert out == [1, 2]


def test_timer_handle_when(loop):
    when = loop.time() + 12.5
    h = loop.call_at(when, callback)
    assert h.when() == when
    h2 = loop.call_later(10, callback)
    assert loop.time() + 9 < h2.when() <= loop.time() + 10
    h.cancel()
    h2.cancel()
    assert h.when() == when       # still known after cancel


def test_timer_handle_ordering(loop):
    base = loop.time()
    a = loop.call_at(base + 1, callback)
    b = loop.call_at(base + 2, callback)
    assert a < b and a <= b and b > a and b >= a
    assert a != b
    assert sorted([b, a]) == [a, b]
    a.cancel()
    b.cancel()


def test_handle_repr(loop):
    h = loop.call_soon(callback)
    assert re.fullmatch(f'<Handle {CB_SOURCE}>', repr(h)), repr(h)
    h.cancel()
    assert repr(h) == '<Handle cancelled>'


# From 3.13 on, arguments are shown only in debug mode (they may be secrets
# or huge).
ARGS_SHOWN = sys.version_info < (3, 13)


@pytest.mark.parametrize('debug', [False, True])
def test_handle_repr_args(loop, debug):
    loop.set_debug(debug)
    h = loop.call_soon(print, 1, 'x')
    args = "(1, 'x')" if debug or ARGS_SHOWN else '()'
    assert repr(h).startswith(f'<Handle print{args}')
    h.cancel()


def test_timer_handle_repr(loop):
    when = loop.time() + 100.5
    h = loop.call_at(when, callback)
    assert re.fullmatch(f'<TimerHandle when={when!r} {CB_SOURCE}>',
                        repr(h)), repr(h)
    h.cancel()
    assert repr(h) == f'<TimerHandle cancelled when={when!r}>'


def test_handle_repr_debug(loop):
    loop.set_debug(True)
    h = loop.call_soon(callback)
    line = sys._getframe().f_lineno - 1
    created = rf'created at .*test_scheduling\.py:{line}'
    assert re.fullmatch(f'<Handle {CB_SOURCE} {created}>', repr(h)), repr(h)
    h.cancel()
    # Debug mode keeps the callback in the repr of a cancelled handle.
    assert re.fullmatch(f'<Handle cancelled {CB_SOURCE} {created}>',
                        repr(h)), repr(h)


def test_timer_handle_repr_debug(loop):
    loop.set_debug(True)
    when = loop.time() + 100.5
    h = loop.call_at(when, callback)
    line = sys._getframe().f_lineno - 1
    created = rf'created at .*test_scheduling\.py:{line}'
    assert re.fullmatch(f'<TimerHandle when={when!r} {CB_SOURCE} {created}>',
                        repr(h)), repr(h)
    h.cancel()
    assert re.fullmatch(
        f'<TimerHandle cancelled when={when!r} {CB_SOURCE} {created}>',
        repr(h)), repr(h)


def test_handle_repr_partial(loop):
    import functools
    h = loop.call_soon(functools.partial(print, 1), 2)
    if ARGS_SHOWN:
        assert repr(h) == '<Handle print(1)(2)>'
    else:
        assert repr(h) == '<Handle print()()>'
    h.cancel()


# -- handles and the cyclic garbage collector --------------------------------

class Ticker:
    """Keeps its own timer: a reference cycle through the handle."""

    def __init__(self, loop):
        self.handle = loop.call_later(3600, self.tick)

    def tick(self):
        pass


def test_cycle_through_a_timer_handle_is_collected(loop_factory):
    # handle -> bound method -> object -> handle: collected once the closed
    # loop no longer holds the handle.
    ev = loop_factory()
    ticker = Ticker(ev)
    ref = weakref.ref(ticker)
    ev.close()
    del ticker
    gc.collect()
    assert ref() is None


def _loop_with_stored_error_context(loop_factory):
    ev = loop_factory()
    contexts = []
    ev.set_exception_handler(lambda lp, ctx: contexts.append(ctx))
    ev.call_soon(lambda: 1 / 0)
    run_briefly(ev)
    assert len(contexts) == 1
    ev.close()
    return weakref.ref(ev)


def test_cycle_through_an_exception_context_is_collected(loop_factory):
    # loop -> handler -> list -> context -> handle -> loop: an exception
    # handler keeping the contexts it gets, common in test suites.
    ref = _loop_with_stored_error_context(loop_factory)
    gc.collect()
    assert ref() is None


class Holder:
    pass


def _handle_in_its_own_context(loop, cancel):
    holder = Holder()
    ctx = contextvars.copy_context()
    ctx.run(var.set, holder)
    # handle -> context -> holder -> handle
    holder.handle = loop.call_soon(callback, context=ctx)
    if cancel:
        holder.handle.cancel()
    return weakref.ref(holder)


@pytest.mark.parametrize('cancel', [False, True], ids=['ran', 'cancelled'])
def test_cycle_through_a_handle_context_is_collected(loop, cancel):
    ref = _handle_in_its_own_context(loop, cancel)
    run_briefly(loop)
    gc.collect()
    assert ref() is None


# -- contexts -----------------------------------------------------------------

def test_callback_runs_in_a_copy_of_the_current_context(loop):
    seen = []
    token = var.set('at schedule time')
    try:
        loop.call_soon(lambda: seen.append(var.get()))
        loop.call_later(0, lambda: seen.append(var.get()))
        loop.call_at(loop.time(), lambda: seen.append(var.get()))
        var.set('changed later')
    finally:
        var.reset(token)
    run_briefly(loop)
    assert seen == ['at schedule time'] * 3


def test_callback_changes_stay_in_its_context(loop):
    seen = []

    def setter():
        var.set('set by callback')
        seen.append(var.get())

    loop.call_soon(setter)
    loop.call_soon(lambda: seen.append(var.get()))
    run_briefly(loop)
    assert seen == ['set by callback', 'default']
    assert var.get() == 'default'


@pytest.mark.parametrize('method', ['call_soon', 'call_later', 'call_at',
                                    'call_soon_threadsafe'])
def test_context_argument(loop, method):
    ctx = contextvars.copy_context()
    ctx.run(var.set, 'in ctx')
    seen = []

    def record():
        seen.append(var.get())
        var.set('changed in ctx')

    args = {'call_soon': (), 'call_soon_threadsafe': (),
            'call_later': (0,), 'call_at': (loop.time(),)}[method]
    h = getattr(loop, method)(*args, record, context=ctx)
    run_briefly(loop)
    assert seen == ['in ctx']
    assert ctx[var] == 'changed in ctx'
    assert var.get() == 'default'
    if sys.version_info >= (3, 12):
        assert h.get_context() is ctx


@pytest.mark.skipif(sys.version_info < (3, 12),
                    reason='Handle.get_context() is new in 3.12')
def test_get_context_default(loop):
    token = var.set('current')
    try:
        h = loop.call_soon(callback)
    finally:
        var.reset(token)
    ctx = h.get_context()
    assert isinstance(ctx, contextvars.Context)
    assert ctx[var] == 'current'
    h.cancel()


def test_same_context_for_many_callbacks(loop):
    # Callbacks sharing one context see each other's changes, in order.
    ctx = contextvars.Context()
    seen = []

    def bump():
        var.set(var.get() + '+')
        seen.append(var.get())

    for _ in range(3):
        loop.call_soon(bump, context=ctx)
    run_briefly(loop)
    assert seen == ['default+', 'default++', 'default+++']


def test_context_entered_by_a_running_callback_is_refused(loop):
    # A context can be entered only once at a time: scheduling a callback in
    # the context that is running it raises inside that callback.
    ctx = contextvars.Context()
    errors = []

    def outer():
        loop.call_soon(inner, context=ctx)

    def inner():
        try:
            ctx.run(print)
        except RuntimeError as exc:
            errors.append(type(exc))

    loop.call_soon(outer, context=ctx)
    run_briefly(loop)
    assert errors == [RuntimeError]



# Callbacks scheduled from an empty context: asyncio copies that empty
# context for each; ours lends them one blank context in turn (see
# Handle._run_in_blank_context), which must look the same.

def test_callbacks_from_an_empty_context_see_nothing_of_each_other(loop):
    seen = []

    def setter(value):
        seen.append(var.get())
        var.set(value)

    def schedule():
        for value in ('a', 'b'):
            loop.call_soon(setter, value)
            loop.call_later(0, setter, value + ' later')
        loop.call_soon(lambda: seen.append(var.get()))

    contextvars.Context().run(schedule)
    run_briefly(loop)
    assert seen == ['default'] * 5
    assert var.get() == 'default'


def test_threadsafe_callbacks_from_an_empty_context(loop):
    seen = []

    def setter():
        seen.append(var.get())
        var.set('set')

    def produce():
        for _ in range(3):
            loop.call_soon_threadsafe(setter)
        loop.call_soon_threadsafe(loop.stop)

    thread = threading.Thread(target=produce)
    thread.start()
    loop.run_forever()
    thread.join()
    assert seen == ['default'] * 3


def test_a_reader_keeps_what_its_runs_set_in_its_context(loop):
    # A repeating handle runs every time in the one context copied when it
    # was added, empty or not.
    a, b = socket.socketpair()
    seen = []

    def readable():
        a.recv(1)
        seen.append(var.get())
        var.set(var.get() + '+')
        if len(seen) == 3:
            loop.remove_reader(a)
            loop.stop()
        else:
            b.send(b'x')

    try:
        contextvars.Context().run(loop.add_reader, a, readable)
        b.send(b'x')
        loop.run_forever()
    finally:
        a.close()
        b.close()
    assert seen == ['default', 'default+', 'default++']


@pytest.mark.skipif(sys.version_info < (3, 12),
                    reason='Handle.get_context() is new in 3.12')
def test_get_context_of_a_callback_from_an_empty_context(loop):
    kept = {}

    def first():
        var.set('first')
        kept['during'] = handles[0].get_context()

    def second():
        var.set('second')

    def schedule():
        return [loop.call_soon(first), loop.call_soon(second),
                loop.call_soon(callback)]

    handles = contextvars.Context().run(schedule)
    before = handles[2].get_context()       # taken before it runs
    before.run(var.set, 'given before the run')
    seen = []
    loop.call_soon(lambda: seen.append(var.get()), context=before)
    run_briefly(loop)
    # The context a callback ran in, with what it set, and only that.
    assert kept['during'] is handles[0].get_context()
    assert kept['during'][var] == 'first'
    assert handles[1].get_context()[var] == 'second'
    assert handles[2].get_context() is before
    assert seen == ['given before the run']
    assert len({id(h.get_context()) for h in handles}) == 3


def _blank_context_handle_in_a_cycle(loop):
    holder = Holder()

    def keep():
        # handle -> context it ran in -> holder -> handle
        var.set(holder)

    holder.handle = contextvars.Context().run(loop.call_soon, keep)
    return weakref.ref(holder)


def test_cycle_through_the_context_a_callback_ran_in_is_collected(loop):
    ref = _blank_context_handle_in_a_cycle(loop)
    run_briefly(loop)
    gc.collect()
    assert ref() is None


# -- futures and tasks --------------------------------------------------------

async def _coro(value=None):
    await asyncio.sleep(0)
    return value


def test_create_future(loop):
    fut = loop.create_future()
    assert isinstance(fut, asyncio.Future)
    assert fut.get_loop() is loop
    loop.call_soon(fut.set_result, 5)
    assert loop.run_until_complete(fut) == 5


def test_create_task(loop):
    task = loop.create_task(_coro('done'))
    assert isinstance(task, asyncio.Task)
    assert task.get_loop() is loop
    assert re.fullmatch(r'Task-\d+', task.get_name())
    assert loop.run_until_complete(task) == 'done'


def test_create_task_name(loop):
    task = loop.create_task(_coro(), name='my task')
    assert task.get_name() == 'my task'
    assert 'my task' in repr(task)
    loop.run_until_complete(task)


def test_create_task_rejects_non_coroutine(loop):
    with pytest.raises(TypeError):
        loop.create_task(42)


@pytest.mark.skipif(sys.version_info < (3, 11),
                    reason='create_task(context=) is new in 3.11')
def test_create_task_context(loop):
    ctx = contextvars.copy_context()
    ctx.run(var.set, 'task context')

    async def main():
        value = var.get()
        var.set('changed by task')
        return value

    task = loop.create_task(main(), context=ctx)
    assert loop.run_until_complete(task) == 'task context'
    assert ctx[var] == 'changed by task'
    assert var.get() == 'default'


def test_task_inherits_context_at_creation(loop):
    async def child():
        return var.get()

    async def parent():
        var.set('parent value')
        task = asyncio.get_running_loop().create_task(child())
        var.set('changed after')
        return await task

    assert loop.run_until_complete(parent()) == 'parent value'


def test_task_factory(loop):
    calls = []

    def factory(lp, coro, **kwargs):
        calls.append(lp)
        return asyncio.Task(coro, loop=lp, **kwargs)

    assert loop.get_task_factory() is None
    loop.set_task_factory(factory)
    assert loop.get_task_factory() is factory
    task = loop.create_task(_coro(3), name='named')
    assert loop.run_until_complete(task) == 3
    assert calls == [loop]
    assert task.get_name() == 'named'
    # Tasks made by asyncio itself go through the factory too.
    async def main():
        return await asyncio.gather(_coro(1))

    assert loop.run_until_complete(main()) == [1]
    assert calls == [loop] * 3       # main() and the gathered _coro(1)
    loop.set_task_factory(None)
    assert loop.get_task_factory() is None


def test_task_factory_must_be_callable(loop):
    with pytest.raises(TypeError, match='task factory must be a callable'):
        loop.set_task_factory(42)


@pytest.mark.skipif(sys.version_info < (3, 11),
                    reason='context= is passed to task factories from 3.11')
def test_task_factory_gets_context(loop):
    got = []

    def factory(lp, coro, **kwargs):
        got.append(kwargs.get('context'))
        return asyncio.Task(coro, loop=lp, **kwargs)

    loop.set_task_factory(factory)
    ctx = contextvars.copy_context()
    loop.run_until_complete(loop.create_task(_coro(), context=ctx))
    assert got == [ctx]


@pytest.mark.skipif(sys.version_info < (3, 12),
                    reason='eager tasks are new in 3.12')
def test_eager_task_factory(loop):
    out = []

    async def eager(tag):
        out.append(f'{tag} started')
        await asyncio.sleep(0)
        out.append(f'{tag} resumed')
        return tag

    async def finishes_at_once():
        return 'immediate'

    loop.set_task_factory(asyncio.eager_task_factory)

    async def main():
        t = asyncio.get_running_loop().create_task(eager('a'))
        # The task ran up to its first await inside create_task().
        out.append('after create_task')
        t2 = asyncio.get_running_loop().create_task(finishes_at_once())
        assert t2.done() and t2.result() == 'immediate'
        return await t

    assert loop.run_until_complete(main()) == 'a'
    assert out == ['a started', 'after create_task', 'a resumed']


def test_current_task_and_all_tasks(loop):
    async def main():
        me = asyncio.current_task()
        other = asyncio.get_running_loop().create_task(_coro())
        tasks = asyncio.all_tasks()
        await other
        return me, other, tasks

    task = loop.create_task(main())
    me, other, tasks = loop.run_until_complete(task)
    assert me is task
    assert tasks == {task, other}
    assert asyncio.all_tasks(loop) == set()


# -- a replaced time(): asyncio schedules by self.time() ----------------------

def test_timers_follow_a_subclass_time(loop_factory):
    # Virtual clocks of test frameworks subclass the loop (or patch time):
    # deadlines and due timers go by it.
    sample = loop_factory()
    sample.close()

    class Ahead(type(sample)):
        def time(self):
            return super().time() + 1000.0

    lp = Ahead()
    try:
        fired = []
        handle = lp.call_later(5, fired.append, 'later')
        assert handle.when() - lp.time() == pytest.approx(5, abs=1)
        lp.call_at(lp.time() - 1, fired.append, 'due by the virtual clock')
        run_briefly(lp)
        assert fired == ['due by the virtual clock']
        handle.cancel()
    finally:
        lp.close()


@pytest.mark.parametrize('patched', ['loop.time', 'time.monotonic'])
def test_timers_follow_a_patched_time(loop, patched):
    # A test's clock: loop.time() patched on the instance, or the
    # time.monotonic() that asyncio's time() calls (as freezegun does).
    # Deadlines and due timers go by it; tests fire timers by moving it.
    import unittest.mock
    now = loop.time()
    fired = []

    async def main():
        if patched == 'loop.time':
            patch = unittest.mock.patch.object(loop, 'time')
        else:
            patch = unittest.mock.patch('time.monotonic')
        with patch as clock:
            clock.return_value = now + 1000.0
            assert loop.time() == now + 1000.0
            later = loop.call_later(5, fired.append, 'later')
            assert later.when() == now + 1005.0
            loop.call_at(now + 999.0, fired.append, 'due')
            for _ in range(3):
                await asyncio.sleep(0)
            assert fired == ['due']
            clock.return_value = now + 1006.0    # the loop is not waiting
            for _ in range(3):
                await asyncio.sleep(0)
            assert fired == ['due', 'later']
        # Unpatched: back to the real clock.
        assert abs(loop.time() - now) < 100
        early = loop.call_later(0, fired.append, 'after the patch')
        assert early.when() - now < 100
        await asyncio.sleep(0)
        await asyncio.sleep(0)

    loop.run_until_complete(main())
    assert fired == ['due', 'later', 'after the patch']


def test_call_at_keeps_an_int_deadline(loop):
    # asyncio keeps the object call_at() was given (aiohttp rounds its
    # timeouts up to whole seconds and relies on it).
    when = int(loop.time()) + 100
    handle = loop.call_at(when, lambda: None)
    assert handle.when() == when and type(handle.when()) is int
    assert handle._when == when and type(handle._when) is int
    assert f'when={when}' in repr(handle)
    later = loop.call_later(100, lambda: None)
    assert type(later.when()) is float
    handle.cancel()
    later.cancel()
