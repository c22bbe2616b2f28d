cdef class Loop:
    cdef:
        # Callbacks to run; a pass runs those queued before it started.
        ReadyQueue _ready
        TimerHeap _timers
        EpollPoller _poller
        Wakeup _wakeup
        bint _polling
        bint _stopping
        # Readable as on asyncio's loops (some libraries look at it).
        readonly bint _closed
        # time() is overridden or patched: scheduling calls it (_clock).
        bint _time_replaced
        readonly bint _debug
        readonly double _clock_resolution
        public double slow_callback_duration
        # threading.get_ident() of the thread running the loop, else None.
        readonly object _thread_id
        # nest_asyncio asked for this loop to run nested (_nest_patched).
        bint _reentrant
        readonly object _current_handle
        # An empty Context lent to one-shot callbacks scheduled from an
        # empty context (see Handle._run_in_blank_context).
        object _blank_context
        public object _task_factory
        public object _exception_handler
        # fd -> the transport using it (weak), for add_reader's check.
        readonly object _transports
        int _pid
        readonly dict _counters_cache
        # Opt-in lag tracing (tracing.pyx), None when off.
        LagTracer _tracer
        # Always-on counters (see stats()).
        uint64_t _iterations
        uint64_t _callbacks_run
        uint64_t _timers_scheduled
        uint64_t _timers_cancelled
        uint64_t _timers_fired
        double _time_polling
        double _time_in_run         # wall time spent inside run_forever
        double _run_started
        public uint64_t _bytes_read
        public uint64_t _bytes_written
        public Py_ssize_t _connections

    cdef inline double _now(self) noexcept
    cdef double _clock(self) except? -1.0
    cdef inline double _monotonic(self) except? -1.0
    cdef inline int _raise_if_closed(self) except -1
    cdef int _validate_thread(self) except -1
    cdef int _validate_callback(self, object callback, str method) except -1
    cdef int _check_fork(self) except -1
    cdef void _timer_cancelled(self, TimerHandle handle) noexcept
    cdef Handle _call_soon(self, object callback, tuple args, object context)
    cdef TimerHandle _checked_call_at(self, object when, object callback,
                                      tuple args, object context)
    cdef TimerHandle _call_at(self, double when, object callback, tuple args,
                              object context)
    cdef int _run_once(self) except -1
    cdef int _dispatch_io(self, int nevents, uint64_t this_pass) except -1
    cdef int _collect_due_timers(self) except -1
    cdef int _run_ready(self, Py_ssize_t n) except -1
    cdef object _run_nested(self, object future)
    cdef int _run_handle_debug(self, Handle handle) except -1
    cdef int _add_fd_handle(self, object fileobj, Handle handle,
                            bint writer) except -1
    cdef bint _remove_fd_handle(self, object fileobj, bint writer) except -1
    cdef FdWatcher _find_watcher(self, object fileobj)
    cdef int _queue_io_handle(self, FdWatcher w, bint writer) except -1
    cdef int _queue_io_handles(self, int nevents) except -1
    cdef int _call_io(self, IOWatcher io, bint writable) except -1
    cdef int _traced_io(self, IOWatcher watcher, bint writable) except -1
    cdef int _watch(self, int fd, object fileobj, IOWatcher watcher,
                    bint write) except -1
    cdef int _set_fd_slot(self, int fd, object fileobj, Handle handle,
                          IOWatcher watcher, bint write) except -1
    cdef int _unwatch(self, int fd, IOWatcher watcher, bint write) except -1
    cdef int _check_fd_free(self, object fileno, object fd) except -1
