"""Observability: stats() counters, lag tracing, the lag monitor.

These are our loop's own APIs (asyncio has none), so they run on our loop
only; the monitor, which works on any loop, runs on both.
"""
import asyncio
import logging
import socket
import time
import weakref

import pytest

import loop as eloop
from conftest import _fixture_loops


@pytest.fixture
def loop_kind():
    """Only our loop: asyncio has no stats(), trace_lag() or lag_stats()."""
    return 'loop'


@pytest.fixture
def ev(loop_factory):
    """Our loop, registered with conftest's leak checks."""
    lp = loop_factory()
    _fixture_loops.append(weakref.ref(lp))
    try:
        yield lp
    finally:
        lp.close()


def test_callbacks_scheduled_are_counted_run(ev):
    before = ev.stats()['callbacks_run']
    for _ in range(100):
        ev.call_soon(lambda: None)
    ev.call_soon(ev.stop)
    ev.run_forever()
    assert ev.stats()['callbacks_run'] - before == 101


def test_failing_callbacks_are_counted_too(ev):
    ev.set_exception_handler(lambda lp, ctx: None)
    ev.call_soon(lambda: 1 / 0)
    ev.call_soon(ev.stop)
    ev.run_forever()
    assert ev.stats()['callbacks_run'] == 2


def test_timer_counters(ev):
    handles = [ev.call_later(0.001 * i, lambda: None) for i in range(10)]
    for h in handles[:4]:
        h.cancel()
        h.cancel()                      # counted once
    assert ev.stats()['timers_scheduled'] == 10
    assert ev.stats()['timers_cancelled'] == 4
    assert ev.stats()['timers_pending'] == 6
    ev.run_until_complete(asyncio.sleep(0.05))
    stats = ev.stats()
    assert stats['timers_fired'] == 7      # 6 + the sleep's own timer
    assert stats['timers_pending'] == 0


def test_fd_counters(ev):
    a, b = socket.socketpair()
    try:
        ev.add_reader(a, lambda: None)
        ev.add_writer(a, lambda: None)
        ev.add_reader(b, lambda: None)
        assert (ev.stats()['readers'], ev.stats()['writers']) == (2, 1)
        ev.remove_writer(a)
        ev.remove_reader(b)
        assert (ev.stats()['readers'], ev.stats()['writers']) == (1, 0)
        ev.remove_reader(a)
        assert (ev.stats()['readers'], ev.stats()['writers']) == (0, 0)
    finally:
        a.close()
        b.close()


def test_transport_counters(ev):
    async def main():
        async def echo(reader, writer):
            writer.write(await reader.read(100))
            await writer.drain()
            writer.close()

        server = await asyncio.start_server(echo, '127.0.0.1', 0)
        port = server.sockets[0].getsockname()[1]
        reader, writer = await asyncio.open_connection('127.0.0.1', port)
        assert ev.stats()['connections'] == 2
        writer.write(b'x' * 10)
        assert await reader.read() == b'x' * 10
        writer.close()
        await writer.wait_closed()
        server.close()
        await server.wait_closed()

    ev.run_until_complete(main())
    stats = ev.stats()
    assert stats['bytes_written'] == 20 and stats['bytes_read'] == 20
    assert stats['connections'] == 0


def test_time_polling_and_running(ev):
    ev.run_until_complete(asyncio.sleep(0.05))
    ev.call_soon(time.sleep, 0.05)
    ev.call_soon(ev.stop)
    ev.run_forever()
    stats = ev.stats()
    assert stats['time_polling'] >= 0.04
    assert stats['time_running'] >= 0.04
    assert stats['epoll_waits'] >= 1


def test_lag_tracing_is_off_by_default(ev):
    assert ev.lag_stats() is None


def test_lag_tracing_names_a_blocking_callback(ev):
    ev.trace_lag(True, slowest=3)

    def block_for_50ms():
        time.sleep(0.05)

    async def main():
        ev.call_soon(block_for_50ms)
        for _ in range(20):
            await asyncio.sleep(0)

    ev.run_until_complete(main())
    stats = ev.lag_stats()
    slowest = stats['slowest'][0]
    assert 'block_for_50ms' in slowest['callback']
    assert slowest['duration'] >= 0.045
    assert stats['count'] > 20
    # The callbacks queued behind the blocking one waited for it.
    assert stats['max'] >= 0.045
    assert 0 < stats['p50'] <= stats['p99'] <= stats['max']


def test_lag_tracing_names_a_task_by_its_coroutine(ev):
    ev.trace_lag(True, slowest=1)

    async def hog():
        time.sleep(0.03)     # noqa: ASYNC251 (the blocking is the test)

    ev.run_until_complete(ev.create_task(hog(), name='the-hog'))
    assert "the-hog" in ev.lag_stats()['slowest'][0]['callback']
    assert 'hog()' in ev.lag_stats()['slowest'][0]['callback']


def test_toggling_tracing_while_running_is_safe(ev):
    async def main():
        for i in range(200):
            ev.trace_lag(i % 2 == 0)
            await asyncio.sleep(0)
        ev.trace_lag(True)
        await asyncio.sleep(0)
        return ev.lag_stats()

    assert ev.run_until_complete(main())['count'] >= 1
    ev.trace_lag(False)
    assert ev.lag_stats() is None


def test_trace_lag_from_the_environment(monkeypatch):
    monkeypatch.setenv('LOOP_TRACE_LAG', '5')
    lp = eloop.new_event_loop()
    try:
        assert lp.lag_stats()['count'] == 0
    finally:
        lp.close()


def test_trace_lag_rejects_a_negative_count(ev):
    with pytest.raises(ValueError):
        ev.trace_lag(True, slowest=-1)


@pytest.mark.parametrize('factory', [asyncio.new_event_loop,
                                     eloop.new_event_loop],
                         ids=['asyncio', 'loop'])
def test_monitor_warns_about_a_blocked_loop(factory, caplog):
    lp = factory()

    async def main():
        monitor = asyncio.ensure_future(
            eloop.monitor_lag(threshold=0.03, interval=0.01))
        await asyncio.sleep(0.02)
        time.sleep(0.1)     # noqa: ASYNC251 (block the loop on purpose)
        await asyncio.sleep(0.05)
        monitor.cancel()
        with pytest.raises(asyncio.CancelledError):
            await monitor

    try:
        with caplog.at_level(logging.WARNING, logger='loop.monitor'):
            lp.run_until_complete(main())
    finally:
        lp.close()
    assert any('event loop lag' in r.getMessage() for r in caplog.records)
