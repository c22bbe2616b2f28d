# Waking the loop from another thread.
#
# call_soon_threadsafe() appends to the ready list under the GIL; the only
# question is whether the loop might sleep through it.  The loop sets
# `polling` (under the GIL) right before it releases the GIL for
# epoll_wait, and clears it after taking the GIL back, so a caller that sees
# polling == False knows the loop will look at the ready list before it
# sleeps again: no write is needed.  Otherwise one write to the eventfd is
# enough until the loop drains it (`pending`).


@cython.final
cdef class Wakeup:

    def __cinit__(self):
        self.fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)
        if self.fd < 0:
            raise_os_error()

    def __dealloc__(self):
        self.close()

    cdef int notify(self) except -1:
        cdef uint64_t one = 1
        cdef ssize_t n
        if self.pending or self.fd < 0:
            return 0
        self.pending = True
        n = write(self.fd, &one, sizeof(one))
        # EAGAIN means the counter is full: the loop is certainly woken.
        if n < 0 and errno != EAGAIN:
            self.pending = False
            raise_os_error()
        return 0

    cdef void drain(self) noexcept:
        cdef uint64_t value
        self.pending = False
        read(self.fd, &value, sizeof(value))

    cdef void close(self) noexcept:
        if self.fd >= 0:
            close(self.fd)
            self.fd = -1
