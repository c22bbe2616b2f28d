"""call_soon_threadsafe and friends: calls from other threads."""
import asyncio
import concurrent.futures
import contextvars
import threading
import time

from support import run_briefly

# How long a test waits for something that should take milliseconds before
# declaring it lost (a lost wakeup would otherwise hang the suite).
PATIENCE = 20.0


def guard(loop, fut, what):
    """Fail `fut` if it is not done after PATIENCE seconds."""
    def expire():
        if not fut.done():
            fut.set_exception(AssertionError(f'{what}: lost'))
    return loop.call_later(PATIENCE, expire)


def test_many_threads_nothing_lost(loop):
    n_threads, per_thread = 16, 500
    total = n_threads * per_thread
    received = []
    done = loop.create_future()
    start = threading.Barrier(n_threads)

    def receive(item):
        received.append(item)
        if len(received) == total:
            done.set_result(None)

    def producer(tid):
        start.wait()
        for i in range(per_thread):
            loop.call_soon_threadsafe(receive, (tid, i))
            if i % 50 == 0:
                time.sleep(0)

    threads = [threading.Thread(target=producer, args=(tid,))
               for tid in range(n_threads)]
    timeout = guard(loop, done, 'threadsafe calls')
    for t in threads:
        t.start()
    try:
        loop.run_until_complete(done)
    finally:
        for t in threads:
            t.join()
        timeout.cancel()
    assert len(received) == total
    # Each thread's calls run in the order it made them.
    for tid in range(n_threads):
        assert [i for t, i in received if t == tid] == list(range(per_thread))


def test_wakes_a_loop_blocked_in_poll(loop):
    # No timers and no fds: without the wakeup the loop would sleep forever
    # (until the guard timer, which fails the test).
    fut = loop.create_future()
    woken_at = []

    def from_thread():
        time.sleep(0.05)          # let the loop block in its poll
        loop.call_soon_threadsafe(
            lambda: (woken_at.append(loop.time()), fut.set_result('woken')))

    timeout = guard(loop, fut, 'wakeup')
    t = threading.Thread(target=from_thread)
    t.start()
    try:
        assert loop.run_until_complete(fut) == 'woken'
    finally:
        t.join()
        timeout.cancel()


def test_repeated_wakeups_of_a_blocked_loop(loop):
    # Many rounds of: the loop blocks; a thread wakes it.  Catches a lost
    # wakeup in the race between "about to poll" and "a call arrives".
    rounds = 200
    got = []

    def worker(queue):
        for i in range(rounds):
            item = queue.get()
            loop.call_soon_threadsafe(item.set_result, i)

    import queue as queue_mod
    q = queue_mod.Queue()
    t = threading.Thread(target=worker, args=(q,))
    t.start()

    async def main():
        for _ in range(rounds):
            fut = loop.create_future()
            q.put(fut)
            got.append(await asyncio.wait_for(fut, PATIENCE))

    try:
        loop.run_until_complete(main())
    finally:
        while t.is_alive():
            q.put(loop.create_future())     # unblock a worker left waiting
            t.join(0.1)
    assert got == list(range(rounds))


def test_threads_racing_a_blocked_loop(loop):
    # Threads calling while the loop goes to sleep and wakes up again.
    n_threads, per_thread = 8, 200
    total = n_threads * per_thread
    count = [0]
    done = loop.create_future()

    def bump():
        count[0] += 1
        if count[0] == total:
            done.set_result(None)

    def producer():
        for i in range(per_thread):
            loop.call_soon_threadsafe(bump)
            if i % 10 == 0:
                time.sleep(0.0005)

    threads = [threading.Thread(target=producer) for _ in range(n_threads)]
    timeout = guard(loop, done, 'threadsafe calls')
    for t in threads:
        t.start()
    try:
        loop.run_until_complete(done)
    finally:
        for t in threads:
            t.join()
        timeout.cancel()
    assert count[0] == total


def test_threadsafe_handle_can_be_cancelled(loop):
    out = []
    h = loop.call_soon_threadsafe(out.append, 1)
    h.cancel()
    assert h.cancelled()
    run_briefly(loop)
    assert out == []


def test_threadsafe_from_thread_before_run(loop):
    # Calls made while the loop is not running wait for the next run.
    out = []
    t = threading.Thread(
        target=lambda: loop.call_soon_threadsafe(out.append, 'queued'))
    t.start()
    t.join()
    run_briefly(loop)
    assert out == ['queued']


def test_threadsafe_runs_in_callers_context(loop):
    var = contextvars.ContextVar('var', default='default')
    seen = []

    def from_thread():
        var.set('thread value')
        loop.call_soon_threadsafe(lambda: seen.append(var.get()))

    t = threading.Thread(target=from_thread)
    t.start()
    t.join()
    run_briefly(loop)
    assert seen == ['thread value']


def test_threadsafe_on_closed_loop(loop):
    loop.close()
    errors = []

    def from_thread():
        try:
            loop.call_soon_threadsafe(print)
        except RuntimeError as exc:
            errors.append(str(exc))

    t = threading.Thread(target=from_thread)
    t.start()
    t.join()
    assert errors == ['Event loop is closed']


def test_run_coroutine_threadsafe_from_many_threads(loop):
    async def double(x):
        await asyncio.sleep(0)
        return 2 * x

    results = {}

    def client(i):
        cf = asyncio.run_coroutine_threadsafe(double(i), loop)
        results[i] = cf.result(timeout=PATIENCE)

    async def main():
        threads = [threading.Thread(target=client, args=(i,))
                   for i in range(16)]
        for t in threads:
            t.start()
        while any(t.is_alive() for t in threads):
            await asyncio.sleep(0.005)
        for t in threads:
            t.join()

    loop.run_until_complete(asyncio.wait_for(main(), PATIENCE))
    assert results == {i: 2 * i for i in range(16)}


def test_run_coroutine_threadsafe_exception_and_cancel(loop):
    async def fail():
        raise ValueError('in loop')

    async def forever():
        await asyncio.sleep(3600)

    outcome = {}

    def client():
        cf = asyncio.run_coroutine_threadsafe(fail(), loop)
        try:
            cf.result(timeout=PATIENCE)
        except ValueError as exc:
            outcome['error'] = str(exc)
        cf2 = asyncio.run_coroutine_threadsafe(forever(), loop)
        time.sleep(0.01)
        cf2.cancel()
        try:
            cf2.result(timeout=PATIENCE)
        except concurrent.futures.CancelledError:
            outcome['cancelled'] = True

    async def main():
        t = threading.Thread(target=client)
        t.start()
        while t.is_alive():
            await asyncio.sleep(0.005)
        t.join()
        # Let the cancellation of forever() finish.
        for _ in range(3):
            await asyncio.sleep(0)

    loop.run_until_complete(asyncio.wait_for(main(), PATIENCE))
    assert outcome == {'error': 'in loop', 'cancelled': True}


def test_loop_running_in_another_thread(loop_factory):
    # The loop runs in a worker thread; the main thread drives it.
    ev = loop_factory()
    ready = threading.Event()

    def run():
        asyncio.set_event_loop(ev)
        ev.call_soon(ready.set)
        ev.run_forever()

    t = threading.Thread(target=run)
    t.start()
    try:
        assert ready.wait(PATIENCE)
        assert ev.is_running()
        fut = asyncio.run_coroutine_threadsafe(asyncio.sleep(0.001, 'ok'), ev)
        assert fut.result(PATIENCE) == 'ok'
    finally:
        ev.call_soon_threadsafe(ev.stop)
        t.join()
        ev.close()
    assert not ev.is_running()


def test_many_loops_in_many_threads(loop_factory):
    n_threads = 16
    # One loop per thread, each running its own program.
    results = {}

    def run(i):
        ev = loop_factory()
        try:
            async def work():
                await asyncio.sleep(0.001)
                return i * i
            results[i] = ev.run_until_complete(work())
        finally:
            ev.close()

    threads = [threading.Thread(target=run, args=(i,))
               for i in range(n_threads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == {i: i * i for i in range(n_threads)}
