# Lag tracing: off by default, switched on per loop (loop.trace_lag()) or by
# the environment (LOOP_TRACE_LAG=1, or =N to keep the N slowest callbacks).
#
# The lag of a callback is how long it waited to run: from call_soon (or its
# timer's deadline, or its fd becoming ready) to the start of its run.  Lags
# go to a log2 histogram (p50/p99 are read off it, so they are upper bounds
# within a factor of 2); durations feed a short list of the slowest
# callbacks with their repr (a task step shows the task and its coroutine).
# Tracing costs two clock reads per callback; with it off, the loop pays one
# test of `_tracer is None` per callback and per call_soon.

from libc.math cimport log2


@cython.final
cdef class LagTracer:

    def __cinit__(self, Loop loop, int keep):
        self.loop = loop
        self.keep = keep
        self.slowest = []
        self.entry_bar = -1.0 if keep else float('inf')

    cdef int record_lag(self, double lag) noexcept:
        cdef double us = lag * 1e6
        cdef int bucket = 0
        if us >= 1.0:
            bucket = <int>log2(us) + 1
            if bucket >= LAG_BUCKETS:
                bucket = LAG_BUCKETS - 1
        self.buckets[bucket] += 1
        self.count += 1
        if lag > self.max_lag:
            self.max_lag = lag
        return 0

    cdef double run(self, Handle handle, double started) except -1.0:
        """Run `handle`, which starts now, at `started`; return the time
        it ended, which is when the next callback of the batch starts (one
        clock read per callback instead of two)."""
        cdef Loop loop = self.loop
        cdef double ended
        if handle._queued_at > 0:
            self.record_lag(started - handle._queued_at)
        if loop._debug:
            loop._run_handle_debug(handle)
        else:
            handle._run()
        ended = loop._now()
        self.record_duration(started, ended - started, handle)
        return ended

    cdef int record_duration(self, double started, double duration,
                             object what) except -1:
        if duration <= self.entry_bar:
            return 0
        if isinstance(what, Handle):
            description = base_events._format_handle(what)
        else:
            description = repr(what)
        wall = time.time() - (self.loop._now() - started)
        self.slowest.append((duration, wall, description))
        self.slowest.sort(key=lambda entry: entry[0], reverse=True)
        del self.slowest[self.keep:]
        if len(self.slowest) == self.keep:
            self.entry_bar = self.slowest[-1][0]
        return 0

    def percentile(self, double fraction):
        """Upper bound (seconds) of the lag below which `fraction` fall."""
        cdef uint64_t seen = 0, target
        cdef int i
        if self.count == 0:
            return 0.0
        target = <uint64_t>(fraction * self.count)
        if target == 0:
            target = 1
        for i in range(LAG_BUCKETS):
            seen += self.buckets[i]
            if seen >= target:
                return min((1 << i) * 1e-6, self.max_lag)
        return self.max_lag

    def snapshot(self):
        return {
            'count': self.count,
            'p50': self.percentile(0.50),
            'p99': self.percentile(0.99),
            'max': self.max_lag,
            'histogram': {
                (f'<{1 << i}us' if i < LAG_BUCKETS - 1 else
                 f'>={1 << (i - 1)}us'): self.buckets[i]
                for i in range(LAG_BUCKETS) if self.buckets[i]},
            'slowest': [
                {'duration': d, 'at': wall, 'callback': text}
                for d, wall, text in self.slowest],
        }
