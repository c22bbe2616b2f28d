"""A watchdog that logs when the running loop lags (aiodebug's use case)."""
import asyncio
import logging
from typing import NoReturn

__all__ = ('monitor_lag',)

_logger = logging.getLogger('loop.monitor')


async def monitor_lag(threshold: float = 0.1, interval: float = 0.25, *,
                      logger: logging.Logger | None = None) -> NoReturn:
    """Warn whenever the loop wakes this task `threshold` seconds late.

    Run it as a task for the life of the application:

        asyncio.create_task(loop.monitor_lag(threshold=0.05))

    It sleeps `interval` seconds at a time; lateness beyond that is time the
    loop spent on something else (a blocking callback, a CPU-heavy step).
    On our loop with lag tracing on (`trace_lag()`), the warning names the
    slowest callbacks seen since the previous warning.  Works on any loop.
    """
    if threshold <= 0 or interval <= 0:
        raise ValueError('threshold and interval must be positive')
    log = logger or _logger
    ev = asyncio.get_running_loop()
    while True:
        start = ev.time()
        await asyncio.sleep(interval)
        lag = ev.time() - start - interval
        if lag < threshold:
            continue
        culprits = ''
        lag_stats = getattr(ev, 'lag_stats', None)
        stats = lag_stats() if lag_stats is not None else None
        if stats and stats['slowest']:
            culprits = '; slowest callbacks: ' + ', '.join(
                f"{s['callback']} ({s['duration'] * 1e3:.1f} ms)"
                for s in stats['slowest'][:3])
            # Our loop (it has lag_stats()): it has trace_lag() too.
            ev.trace_lag(  # type: ignore[attr-defined]
                True, slowest=len(stats['slowest']) or 10)
        log.warning('event loop lag %.1f ms (threshold %.1f ms)%s',
                    lag * 1e3, threshold * 1e3, culprits)
