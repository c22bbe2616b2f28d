cdef enum:
    # Lag histogram buckets: bucket 0 counts lags under 1 us, bucket i
    # lags in [2**(i-1), 2**i) us; the last one also takes everything
    # longer (2**38 us is three days).
    LAG_BUCKETS = 40


@cython.final
cdef class LagTracer:
    """Scheduling lag histogram and the slowest callbacks (opt-in)."""
    cdef:
        Loop loop
        uint64_t buckets[LAG_BUCKETS]
        uint64_t count
        double max_lag
        int keep                # how many slowest callbacks to keep
        list slowest            # [(duration, wall time, repr)], longest first
        # A duration must beat this to enter `slowest` (-1: not full yet).
        double entry_bar

    cdef int record_lag(self, double lag) noexcept
    cdef double run(self, Handle handle, double started) except -1.0
    cdef int record_duration(self, double started, double duration,
                             object what) except -1
