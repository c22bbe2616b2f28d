# The ready queue: handles to run, first in first out, in a C ring buffer.
# A Python list would be traversed by every garbage collection that reaches
# the loop, touching each queued handle's memory (a million handles queued
# by call_soon cost more in those traversals than in running them).  The
# handles in it are hidden from the collector anyway (gc_hide), or are
# repeating fd handles that their FdWatcher also holds.


@cython.final
cdef class ReadyQueue:

    def __cinit__(self):
        self.mask = 255
        self.items = <PyObject **>PyMem_Malloc((self.mask + 1) *
                                               sizeof(PyObject *))
        if self.items == NULL:
            raise MemoryError()

    def __dealloc__(self):
        self.clear()
        PyMem_Free(self.items)
        self.items = NULL

    def __len__(self):
        return self.size

    cdef int push(self, Handle handle) except -1:
        if self.size > self.mask:
            self._grow()
        Py_INCREF(handle)
        self.items[(self.head + self.size) & self.mask] = <PyObject *>handle
        self.size += 1
        return 0

    cdef int _grow(self) except -1:
        # Double the buffer and unwrap the queue to its start.
        cdef Py_ssize_t n = self.mask + 1, i
        cdef PyObject **grown = <PyObject **>PyMem_Malloc(
            2 * n * sizeof(PyObject *))
        if grown == NULL:
            raise MemoryError()
        for i in range(self.size):
            grown[i] = self.items[(self.head + i) & self.mask]
        PyMem_Free(self.items)
        self.items = grown
        self.head = 0
        self.mask = 2 * n - 1
        return 0

    cdef Handle pop(self):
        """Remove the first handle and return it (size must be > 0)."""
        cdef Handle handle = <Handle>self.items[self.head]
        Py_DECREF(handle)           # the queue's reference; `handle` holds one
        self.head = (self.head + 1) & self.mask
        self.size -= 1
        return handle

    cdef list drain(self):
        """Remove every handle; return them in order."""
        cdef list handles = []
        while self.size:
            handles.append(self.pop())
        return handles

    cdef void clear(self) noexcept:
        cdef PyObject *item
        while self.size:
            item = self.items[self.head]
            self.head = (self.head + 1) & self.mask
            self.size -= 1
            Py_DECREF(<object>item)
