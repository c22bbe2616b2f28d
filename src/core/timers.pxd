cdef struct TimerEntry:
    double when
    uint64_t seq
    PyObject *handle    # a strong reference to a TimerHandle


cdef class TimerHeap:
    """Binary min-heap of timer handles in a C array, keyed (when, seq)."""
    cdef:
        TimerEntry *entries
        Py_ssize_t size
        Py_ssize_t capacity
        uint64_t next_seq
        # Cancelled handles still in the heap (removed lazily).
        Py_ssize_t cancelled

    cdef int push(self, TimerHandle handle) except -1
    cdef TimerHandle pop(self)
    cdef inline double earliest(self)
    cdef inline void sift_down_from(self, Py_ssize_t i) noexcept
    cdef inline void refill_root(self) noexcept
    cdef bint drop_if_last(self, TimerHandle handle)
    cdef void purge_cancelled_head(self)
    cdef void compact_if_worth_it(self)
    cdef void clear(self)
