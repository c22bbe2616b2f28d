"""Stock asyncio programs give the same results on our loop as on asyncio.

Each program returns a trace of what happened; the expected trace is
written down once and both loops must produce it.  Orders that depend only
on asyncio's rules (FIFO callbacks, timers by deadline, futures resolved in
a known order) are deterministic on both loops; nothing here depends on how
fast the machine is.
"""
import asyncio
import contextvars
import sys

import pytest

var = contextvars.ContextVar('var', default='unset')

needs_311 = pytest.mark.skipif(sys.version_info < (3, 11),
                               reason='new in 3.11')


def run(loop, coro):
    return loop.run_until_complete(coro)


# -- tasks, gather, sleep -----------------------------------------------------

def test_gather_sleep_to_thread(loop):
    # The first light program (was tests/test_smoke.py).
    async def main():
        results = await asyncio.gather(
            *(asyncio.sleep(0.001 * (5 - i), i) for i in range(5)))
        results.append(await asyncio.to_thread(sum, [1, 2, 3]))
        return results

    assert run(loop, main()) == [0, 1, 2, 3, 4, 6]


def test_sleep_zero_interleaves_tasks(loop):
    trace = []

    async def worker(name, n):
        for i in range(n):
            trace.append(f'{name}{i}')
            await asyncio.sleep(0)

    async def main():
        await asyncio.gather(worker('a', 3), worker('b', 3), worker('c', 2))

    run(loop, main())
    assert trace == ['a0', 'b0', 'c0', 'a1', 'b1', 'c1', 'a2', 'b2']


def test_sleeps_finish_in_deadline_order(loop):
    trace = []

    async def sleeper(delay):
        await asyncio.sleep(delay)
        trace.append(delay)

    # 25 ms apart: only a stall that long between two task steps of one
    # pass could swap two deadlines.
    async def main():
        await asyncio.gather(*(sleeper(d) for d in
                               (0.1, 0.025, 0.075, 0.0, 0.05)))

    run(loop, main())
    assert trace == [0.0, 0.025, 0.05, 0.075, 0.1]


def test_gather_exceptions(loop):
    async def ok(x):
        await asyncio.sleep(0)
        return x

    async def bad(exc):
        await asyncio.sleep(0)
        raise exc

    async def main():
        r1 = await asyncio.gather(ok(1), bad(KeyError('k')), ok(3),
                                  return_exceptions=True)
        try:
            await asyncio.gather(ok(1), bad(ValueError('first')))
        except ValueError as exc:
            r2 = str(exc)
        return r1, r2

    r1, r2 = run(loop, main())
    assert r1[0] == 1 and r1[2] == 3
    assert isinstance(r1[1], KeyError)
    assert r2 == 'first'


def test_gather_cancelled_from_outside(loop):
    trace = []

    async def child(i):
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            trace.append(i)
            raise

    async def main():
        g = asyncio.gather(child(1), child(2))
        await asyncio.sleep(0)
        g.cancel()
        try:
            await g
        except asyncio.CancelledError:
            trace.append('gather cancelled')

    run(loop, main())
    assert trace == [1, 2, 'gather cancelled']


def test_task_cancellation(loop):
    trace = []

    async def victim():
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError as exc:
            trace.append(('cancelled', exc.args))
            raise
        finally:
            trace.append('finally')

    async def main():
        t = asyncio.get_running_loop().create_task(victim())
        await asyncio.sleep(0)
        t.cancel('because')
        try:
            await t
        except asyncio.CancelledError:
            trace.append('awaited')
        return t.cancelled()

    assert run(loop, main()) is True
    assert trace == [('cancelled', ('because',)), 'finally', 'awaited']


@needs_311
def test_task_uncancel(loop):
    async def main():
        t = asyncio.current_task()
        t.cancel()
        try:
            await asyncio.sleep(0)
        except asyncio.CancelledError:
            n = t.cancelling()
            t.uncancel()
            return n, t.cancelling()

    assert run(loop, main()) == (1, 0)


def test_wait_modes(loop):
    async def main():
        lp = asyncio.get_running_loop()
        futs = [lp.create_future() for _ in range(3)]
        lp.call_soon(futs[1].set_result, 'one')
        done, pending = await asyncio.wait(
            futs, return_when=asyncio.FIRST_COMPLETED)
        r1 = ([f.result() for f in done], len(pending))
        lp.call_soon(futs[2].set_exception, ValueError('two'))
        done, pending = await asyncio.wait(
            futs, return_when=asyncio.FIRST_EXCEPTION)
        r2 = (len(done), len(pending))
        lp.call_soon(futs[0].set_result, 'zero')
        done, pending = await asyncio.wait(futs)
        futs[2].exception()
        r3 = (len(done), len(pending))
        done, pending = await asyncio.wait([lp.create_future()],
                                           timeout=0.01)
        for f in pending:
            f.cancel()
        r4 = (len(done), len(pending))
        return r1, r2, r3, r4

    assert run(loop, main()) == ((['one'], 2), (2, 1), (3, 0), (0, 1))


def test_as_completed(loop):
    async def main():
        lp = asyncio.get_running_loop()
        futs = [lp.create_future() for _ in range(4)]
        # Resolved in this order, by timers 5 ms apart.
        order = [2, 0, 3, 1]
        for delay, i in enumerate(order):
            lp.call_soon(
                lambda i=i, n=delay: lp.call_later(
                    n * 0.005, futs[i].set_result, i))
        return [await f for f in asyncio.as_completed(futs)]

    assert run(loop, main()) == [2, 0, 3, 1]


def test_shield(loop):
    trace = []

    async def precious():
        await asyncio.sleep(0.01)
        trace.append('precious done')
        return 'kept'

    async def main():
        inner = asyncio.ensure_future(precious())
        outer = asyncio.ensure_future(asyncio.shield(inner))
        await asyncio.sleep(0)
        outer.cancel()
        try:
            await outer
        except asyncio.CancelledError:
            trace.append('outer cancelled')
        return await inner

    assert run(loop, main()) == 'kept'
    assert trace == ['outer cancelled', 'precious done']


def test_future_callbacks_order(loop):
    trace = []

    async def main():
        fut = asyncio.get_running_loop().create_future()
        for i in range(5):
            fut.add_done_callback(lambda f, i=i: trace.append(i))
        fut.set_result(None)
        trace.append('set')
        await asyncio.sleep(0)

    run(loop, main())
    assert trace == ['set', 0, 1, 2, 3, 4]


def test_many_tasks(loop):
    async def leaf(i):
        await asyncio.sleep(0)
        return i

    async def main():
        return sum(await asyncio.gather(*(leaf(i) for i in range(2000))))

    assert run(loop, main()) == sum(range(2000))


def test_deep_await_chain(loop):
    async def chain(n):
        if n == 0:
            await asyncio.sleep(0)
            return 0
        return 1 + await chain(n - 1)

    assert run(loop, chain(200)) == 200


def test_async_generators_and_comprehensions(loop):
    async def ticker(n):
        for i in range(n):
            await asyncio.sleep(0)
            yield i

    async def main():
        squares = [i * i async for i in ticker(5)]
        evens = {i async for i in ticker(6) if i % 2 == 0}
        return squares, evens

    assert run(loop, main()) == ([0, 1, 4, 9, 16], {0, 2, 4})


# -- TaskGroup and timeouts ---------------------------------------------------

@needs_311
def test_task_group(loop):
    async def job(i):
        await asyncio.sleep(0.001 * i)
        return i * 10

    async def main():
        async with asyncio.TaskGroup() as tg:
            tasks = [tg.create_task(job(i)) for i in range(5)]
        return [t.result() for t in tasks]

    assert run(loop, main()) == [0, 10, 20, 30, 40]


@needs_311
def test_task_group_failure_cancels_siblings(loop):
    trace = []

    async def sibling():
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            trace.append('sibling cancelled')
            raise

    async def failing():
        await asyncio.sleep(0)
        raise ValueError('failed')

    async def main():
        try:
            async with asyncio.TaskGroup() as tg:
                tg.create_task(sibling())
                tg.create_task(failing())
        # Not except*: Python 3.10 parses this file too.
        except ExceptionGroup as eg:  # noqa: F821 (a 3.11+ builtin)
            trace.append([str(e) for e in eg.exceptions])

    run(loop, main())
    assert trace == ['sibling cancelled', ['failed']]


@needs_311
def test_timeout_context_manager(loop):
    async def main():
        trace = []
        try:
            async with asyncio.timeout(0.01) as cm:
                await asyncio.sleep(3600)
        except TimeoutError:
            trace.append(('timed out', cm.expired()))
        async with asyncio.timeout(None) as cm:
            cm.reschedule(asyncio.get_running_loop().time() + 3600)
            await asyncio.sleep(0)
            trace.append(('not expired', cm.expired()))
        async with asyncio.timeout_at(
                asyncio.get_running_loop().time() + 3600):
            trace.append(await asyncio.sleep(0, 'fast'))
        return trace

    assert run(loop, main()) == [('timed out', True), ('not expired', False),
                                 'fast']


def test_wait_for(loop):
    async def main():
        trace = [await asyncio.wait_for(asyncio.sleep(0, 'in time'), 10)]
        try:
            await asyncio.wait_for(asyncio.sleep(3600), 0.01)
        except asyncio.TimeoutError:
            trace.append('timeout')
        trace.append(await asyncio.wait_for(asyncio.sleep(0, 'none'), None))
        return trace

    assert run(loop, main()) == ['in time', 'timeout', 'none']


def test_wait_for_cancels_inner(loop):
    trace = []

    async def inner():
        try:
            await asyncio.sleep(3600)
        finally:
            trace.append('inner cleaned up')

    async def main():
        try:
            await asyncio.wait_for(inner(), 0.01)
        except asyncio.TimeoutError:
            trace.append('timeout')

    run(loop, main())
    assert trace == ['inner cleaned up', 'timeout']


# -- queues -------------------------------------------------------------------

def test_queue_producer_consumer(loop):
    async def main():
        q = asyncio.Queue(maxsize=2)
        got = []

        async def producer():
            for i in range(10):
                await q.put(i)
            await q.put(None)

        async def consumer():
            while (item := await q.get()) is not None:
                got.append(item)
                q.task_done()
            q.task_done()

        await asyncio.gather(producer(), consumer())
        await q.join()
        return got

    assert run(loop, main()) == list(range(10))


def test_queue_kinds(loop):
    async def main():
        pq, lq = asyncio.PriorityQueue(), asyncio.LifoQueue()
        for x in [3, 1, 2]:
            await pq.put(x)
            lq.put_nowait(x)
        p = [await pq.get() for _ in range(3)]
        lifo = [lq.get_nowait() for _ in range(3)]
        try:
            lq.get_nowait()
        except asyncio.QueueEmpty:
            empty = True
        return p, lifo, empty

    assert run(loop, main()) == ([1, 2, 3], [2, 1, 3], True)


def test_queue_get_waits_and_many_consumers(loop):
    async def main():
        q = asyncio.Queue()
        results = []

        async def consumer(name):
            item = await q.get()
            results.append((name, item))

        consumers = [asyncio.ensure_future(consumer(n)) for n in 'abc']
        await asyncio.sleep(0)
        for item in range(3):
            q.put_nowait(item)
        await asyncio.gather(*consumers)
        return results

    # Waiting getters are served in the order they started waiting.
    assert run(loop, main()) == [('a', 0), ('b', 1), ('c', 2)]


# -- locks and friends --------------------------------------------------------

def test_lock_fifo_and_exclusion(loop):
    async def main():
        lock = asyncio.Lock()
        trace = []
        inside = [0]

        async def worker(i):
            async with lock:
                inside[0] += 1
                assert inside[0] == 1
                trace.append(i)
                await asyncio.sleep(0)
                inside[0] -= 1

        await asyncio.gather(*(worker(i) for i in range(6)))
        return trace, lock.locked()

    assert run(loop, main()) == ([0, 1, 2, 3, 4, 5], False)


def test_semaphore_limits_concurrency(loop):
    async def main():
        sem = asyncio.Semaphore(3)
        active, peak = [0], [0]

        async def worker():
            async with sem:
                active[0] += 1
                peak[0] = max(peak[0], active[0])
                await asyncio.sleep(0.001)
                active[0] -= 1

        await asyncio.gather(*(worker() for _ in range(12)))
        return peak[0]

    assert run(loop, main()) == 3


def test_bounded_semaphore_over_release(loop):
    async def main():
        sem = asyncio.BoundedSemaphore(1)
        await sem.acquire()
        sem.release()
        try:
            sem.release()
        except ValueError as exc:
            return str(exc)

    assert 'released too many times' in run(loop, main())


def test_event(loop):
    async def main():
        ev = asyncio.Event()
        trace = []

        async def waiter(i):
            await ev.wait()
            trace.append(i)

        tasks = [asyncio.ensure_future(waiter(i)) for i in range(3)]
        await asyncio.sleep(0)
        trace.append('set')
        ev.set()
        await asyncio.gather(*tasks)
        ev.clear()
        try:
            await asyncio.wait_for(ev.wait(), 0.01)
        except asyncio.TimeoutError:
            trace.append('cleared')
        return trace

    assert run(loop, main()) == ['set', 0, 1, 2, 'cleared']


def test_condition(loop):
    async def main():
        cond = asyncio.Condition()
        trace = []
        state = {'ready': 0}

        async def waiter(i):
            async with cond:
                await cond.wait_for(lambda: state['ready'] > i)
                trace.append(i)

        tasks = [asyncio.ensure_future(waiter(i)) for i in range(3)]
        await asyncio.sleep(0)
        for step in range(1, 4):
            async with cond:
                state['ready'] = step
                cond.notify_all()
            await asyncio.sleep(0)
        await asyncio.gather(*tasks)
        async with cond:
            cond.notify(1)          # nobody waits: harmless
        return trace

    assert run(loop, main()) == [0, 1, 2]


@needs_311
def test_barrier(loop):
    async def main():
        barrier = asyncio.Barrier(3)
        trace = []

        async def party(i):
            trace.append(('arrive', i))
            await barrier.wait()
            trace.append(('leave', i))

        await asyncio.gather(*(party(i) for i in range(3)))
        return trace

    trace = run(loop, main())
    assert trace[:3] == [('arrive', 0), ('arrive', 1), ('arrive', 2)]
    assert sorted(trace[3:]) == [('leave', 0), ('leave', 1), ('leave', 2)]


# -- contextvars --------------------------------------------------------------

def test_contextvars_in_tasks(loop):
    async def child(value):
        before = var.get()
        var.set(value)
        await asyncio.sleep(0)
        return before, var.get()

    async def main():
        var.set('parent')
        results = await asyncio.gather(child('c1'), child('c2'))
        return results, var.get()

    assert run(loop, main()) == ([('parent', 'c1'), ('parent', 'c2')],
                                 'parent')
    assert var.get() == 'unset'


def test_contextvars_across_callbacks_and_executor(loop):
    async def main():
        lp = asyncio.get_running_loop()
        var.set('main')
        fut = lp.create_future()
        lp.call_soon(lambda: fut.set_result(var.get()))
        in_thread = await lp.run_in_executor(None, var.get)
        in_to_thread = await asyncio.to_thread(var.get)
        return await fut, in_thread, in_to_thread

    # run_in_executor does not copy the context; to_thread does.
    assert run(loop, main()) == ('main', 'unset', 'main')


# -- executors, signals and DNS in one program --------------------------------

def test_mixed_program(loop):
    import os
    import signal
    import socket

    async def main():
        lp = asyncio.get_running_loop()
        got_signal = lp.create_future()
        lp.add_signal_handler(signal.SIGUSR1, got_signal.set_result, 'usr1')
        try:
            infos, total, _ = await asyncio.gather(
                lp.getaddrinfo('127.0.0.1', 80, type=socket.SOCK_STREAM),
                lp.run_in_executor(None, sum, range(10)),
                asyncio.sleep(0.001))
            os.kill(os.getpid(), signal.SIGUSR1)
            sig = await asyncio.wait_for(got_signal, 10)
        finally:
            lp.remove_signal_handler(signal.SIGUSR1)
        return infos[0][4], total, sig

    assert run(loop, main()) == (('127.0.0.1', 80), 45, 'usr1')
