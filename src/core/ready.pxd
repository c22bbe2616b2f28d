cdef class ReadyQueue:
    """FIFO of handles in a C ring buffer (capacity mask + 1, a power of 2)."""
    cdef:
        PyObject **items
        Py_ssize_t head
        Py_ssize_t size
        Py_ssize_t mask

    cdef int push(self, Handle handle) except -1
    cdef int _grow(self) except -1
    cdef Handle pop(self)
    cdef list drain(self)
    cdef void clear(self) noexcept
