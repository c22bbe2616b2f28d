cdef class Handle:
    cdef:
        Loop _loop
        readonly object _callback
        readonly tuple _args
        # None: the context it was scheduled from was empty, and it runs
        # in the loop's blank one (see _run_in_blank_context).
        object _context
        readonly bint _cancelled
        # Two flags in bytes beside _cancelled: 8 bytes less per handle,
        # which puts it in pymalloc's 112-byte size class, not 128.
        # Run again and again (fd readiness, signals): keeps its callback.
        unsigned char _repeats
        # _context is a copy made for this handle alone (hidden from the
        # collector with the handle while queued).
        unsigned char _context_copied
        readonly object _source_traceback
        object _repr
        object __weakref__
        # When it was queued (loop time), for lag tracing; 0 when unknown.
        double _queued_at

    cdef inline void _release(self) noexcept
    cdef inline int _run(self) except -1
    cdef int _call(self, object context) except -1
    cdef int _run_in_blank_context(self) except -1


cdef class TimerHandle(Handle):
    cdef:
        # The deadline; `_when`/when() give it back as an int when call_at
        # was given one (asyncio keeps the object it was given).
        double _deadline
        bint _when_is_int
        # True while the handle sits in the loop's timer heap.
        readonly bint _scheduled


cdef Handle new_handle(Loop loop, object callback, tuple args, object context)
cdef Handle new_repeating_handle(Loop loop, object callback, tuple args)
cdef TimerHandle new_timer_handle(Loop loop, double when, object callback,
                                  tuple args, object context)
