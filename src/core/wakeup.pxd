@cython.final
cdef class Wakeup:
    """An eventfd that wakes the loop from epoll_wait (thread-safe calls)."""
    cdef:
        int fd
        # A write is in flight and not yet drained: further ones are useless.
        bint pending

    cdef int notify(self) except -1
    cdef void drain(self) noexcept
    cdef void close(self) noexcept
