# The timer heap: entries live in one C array, ordered by (deadline, sequence
# number) so that timers with equal deadlines fire in the order they were
# scheduled, as in asyncio.  Cancelled timers are not searched for: they stay
# until they reach the top or until more than half the heap is cancelled,
# when the heap is rebuilt (asyncio's policy, with the same thresholds).


cdef inline bint entry_before(TimerEntry *a, TimerEntry *b) noexcept nogil:
    return a.when < b.when or (a.when == b.when and a.seq < b.seq)


@cython.final
cdef class TimerHeap:

    def __cinit__(self):
        self.capacity = 64
        self.entries = <TimerEntry *>PyMem_Malloc(
            self.capacity * sizeof(TimerEntry))
        if self.entries == NULL:
            raise MemoryError()

    def __dealloc__(self):
        self.clear()
        PyMem_Free(self.entries)
        self.entries = NULL

    cdef int push(self, TimerHandle handle) except -1:
        cdef TimerEntry *grown
        cdef Py_ssize_t i, parent
        cdef TimerEntry entry
        if self.size == self.capacity:
            grown = <TimerEntry *>PyMem_Realloc(
                self.entries, 2 * self.capacity * sizeof(TimerEntry))
            if grown == NULL:
                raise MemoryError()
            self.entries = grown
            self.capacity *= 2
        entry.when = handle._deadline
        entry.seq = self.next_seq
        entry.handle = <PyObject *>handle
        self.next_seq += 1
        Py_INCREF(handle)
        gc_hide(handle)
        handle._scheduled = True
        # Sift up.
        i = self.size
        self.size += 1
        while i > 0:
            parent = (i - 1) >> 1
            if not entry_before(&entry, &self.entries[parent]):
                break
            self.entries[i] = self.entries[parent]
            i = parent
        self.entries[i] = entry
        return 0

    cdef inline double earliest(self):
        """Deadline of the top entry (call only when size > 0)."""
        return self.entries[0].when

    cdef TimerHandle pop(self):
        """Remove the top entry and return its handle (size must be > 0)."""
        cdef TimerHandle handle = <TimerHandle>self.entries[0].handle
        Py_DECREF(handle)           # the heap's reference; `handle` holds one
        handle._scheduled = False
        self.size -= 1
        if self.size > 0:
            self.refill_root()
        return handle

    cdef inline void refill_root(self) noexcept:
        """Fill the hole left at the root by the last entry.

        The textbook way sifts the last entry down from the root, two
        comparisons per level.  The last entry came from the bottom and
        usually belongs near it, so instead the hole walks down through the
        smaller child to a leaf (one comparison per level) and the entry
        then climbs from there, rarely more than a level or two (Floyd's
        bottom-up variant; a pop costs 40% fewer instructions with 100k
        timers, callgrind).
        """
        cdef TimerEntry *entries = self.entries
        cdef TimerEntry last = entries[self.size]
        cdef Py_ssize_t i = 0, child, parent, n = self.size
        while True:
            child = 2 * i + 1
            if child >= n:
                break
            if child + 1 < n and entry_before(&entries[child + 1],
                                              &entries[child]):
                child += 1
            entries[i] = entries[child]
            i = child
        while i > 0:
            parent = (i - 1) >> 1
            if not entry_before(&last, &entries[parent]):
                break
            entries[i] = entries[parent]
            i = parent
        entries[i] = last

    cdef bint drop_if_last(self, TimerHandle handle):
        """Remove `handle` at once when it is the heap's last array slot.

        Removing the last slot keeps the heap valid at no cost, and it is
        where a long timer scheduled and cancelled right away usually sits
        (a timeout guarding a fast operation), so the heap stays small
        instead of filling with cancelled timers.
        """
        if self.size and self.entries[self.size - 1].handle == <PyObject *>handle:
            self.size -= 1
            handle._scheduled = False
            gc_show(handle)
            Py_DECREF(handle)
            return True
        return False

    cdef void purge_cancelled_head(self):
        cdef TimerHandle handle
        while self.size and (<TimerHandle>self.entries[0].handle)._cancelled:
            self.cancelled -= 1
            handle = self.pop()
            gc_show(handle)

    cdef void compact_if_worth_it(self):
        """Rebuild without cancelled entries when they are over half."""
        cdef Py_ssize_t i, kept = 0
        cdef TimerHandle handle
        if (self.size <= MIN_SCHEDULED_TIMERS_FOR_COMPACTION or
                self.cancelled * 2 <= self.size):
            self.purge_cancelled_head()
            return
        for i in range(self.size):
            handle = <TimerHandle>self.entries[i].handle
            if handle._cancelled:
                handle._scheduled = False
                gc_show(handle)
                Py_DECREF(handle)
            else:
                self.entries[kept] = self.entries[i]
                kept += 1
        self.size = kept
        self.cancelled = 0
        # Floyd's heapify: sift down every internal node, last first.
        i = kept // 2 - 1
        while i >= 0:
            self.sift_down_from(i)
            i -= 1

    cdef inline void sift_down_from(self, Py_ssize_t i) noexcept:
        cdef TimerEntry entry = self.entries[i]
        cdef Py_ssize_t child, n = self.size
        while True:
            child = 2 * i + 1
            if child >= n:
                break
            if (child + 1 < n and
                    entry_before(&self.entries[child + 1],
                                 &self.entries[child])):
                child += 1
            if not entry_before(&self.entries[child], &entry):
                break
            self.entries[i] = self.entries[child]
            i = child
        self.entries[i] = entry

    cdef void clear(self):
        cdef Py_ssize_t i
        cdef TimerHandle handle
        cdef Py_ssize_t n = self.size
        self.size = 0
        self.cancelled = 0
        for i in range(n):
            handle = <TimerHandle>self.entries[i].handle
            handle._scheduled = False
            handle._release()
            gc_show(handle)
            Py_DECREF(handle)
