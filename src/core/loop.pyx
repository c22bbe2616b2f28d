# The event loop core: scheduling, the heartbeat and fd interest.  Only
# _run_ready() and the I/O dispatch run callbacks; everything else only
# queues them.

# The keywords asyncio's create_task() takes (context= since 3.11).
cdef frozenset CREATE_TASK_KEYWORDS = frozenset(
    ('name', 'context') if sys.version_info >= (3, 11) else ('name',))


cdef inline int millis_until(double delay) noexcept:
    """epoll_wait's timeout for a timer due in `delay` seconds.

    Rounded up, as asyncio's selector does, so the loop never wakes just
    before a timer is due and spins once more for nothing.
    """
    if delay <= 0:
        return 0
    if delay > MAXIMUM_SELECT_TIMEOUT:
        return MAXIMUM_SELECT_TIMEOUT * 1000
    return <int>ceil(delay * 1000.0)


cdef inline int fileobj_to_fd(object fileobj) except -1:
    """The fd of an int or of an object with fileno(), as selectors does.

    Beyond the C int range: ValueError when negative (like any negative
    fd), OverflowError when positive (no such fd can exist).
    """
    cdef object fd
    if isinstance(fileobj, int):
        fd = fileobj
    else:
        try:
            fd = int(fileobj.fileno())
        except (AttributeError, TypeError, ValueError):
            raise ValueError(f"Invalid file object: {fileobj!r}") from None
    if fd < 0:
        raise ValueError(f"Invalid file descriptor: {fd}")
    return fd


cdef dict _time_module_dict = time.__dict__
cdef object _real_monotonic = time.monotonic


cdef inline bint monotonic_patched() noexcept:
    # asyncio's loop.time() is time.monotonic(): a test that replaces that
    # (freezegun, mock.patch('time.monotonic')) moves asyncio's clock, and
    # so ours.  One dict lookup per clock read (+2% on call_later churn,
    # docs/architecture.md "The clock"); the C clock otherwise.
    cdef PyObject *current = PyDict_GetItem(_time_module_dict, 'monotonic')
    return current != NULL and current != <PyObject *>_real_monotonic


cdef class Loop:

    def __cinit__(self, *args, **kwargs):
        cdef timespec res
        self._ready = ReadyQueue()
        self._timers = TimerHeap()
        self._poller = EpollPoller()
        self._wakeup = Wakeup()
        self._poller.set_internal_fd(self._wakeup.fd)
        clock_getres(CLOCK_MONOTONIC, &res)
        self._clock_resolution = res.tv_sec + res.tv_nsec * 1e-9
        self.slow_callback_duration = 0.1
        self._debug = is_debug_mode()
        self._pid = getpid()
        self._transports = WeakValueDictionary()
        self._blank_context = PyContext_New()
        trace = os.environ.get('LOOP_TRACE_LAG')
        if trace:
            self._tracer = LagTracer(self, int(trace) if trace.isdigit()
                                     and trace != '1' else 10)
        if LOOP_DEBUG:
            live_objects.loops += 1

    def __dealloc__(self):
        if LOOP_DEBUG:
            live_objects.loops -= 1

    # -- state -------------------------------------------------------------

    def is_running(self):
        return self._thread_id is not None

    def is_closed(self):
        return self._closed

    def time(self):
        return self._monotonic()

    cdef double _clock(self) except? -1.0:
        """The time scheduling goes by: time() when a subclass or a patch
        replaced it (asyncio schedules by self.time(); virtual clocks in
        tests rely on it), else Loop.time()."""
        if self._time_replaced:
            return self.time()
        return self._monotonic()

    cdef inline double _monotonic(self) except? -1.0:
        """Loop.time(): time.monotonic() when that is patched, else the
        monotonic clock, without a call."""
        if monotonic_patched():
            return time.monotonic()
        return self._now()

    def _notice_time_source(self):
        """Look again whether time() is replaced (EventLoop calls it when
        the attribute `time` is set or deleted on the instance)."""
        self._time_replaced = (type(self).time is not Loop.time or
                               'time' in getattr(self, '__dict__', ()))

    cdef inline double _now(self) noexcept:
        cdef timespec ts
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return ts.tv_sec + ts.tv_nsec * 1e-9

    def get_debug(self):
        return self._debug

    def set_debug(self, enabled):
        self._debug = enabled
        if self.is_running():
            self.call_soon_threadsafe(self._set_coroutine_origin_tracking,
                                      enabled)

    cdef inline int _raise_if_closed(self) except -1:
        if self._closed:
            raise RuntimeError('Event loop is closed')
        return 0

    def _check_closed(self):
        self._raise_if_closed()

    cdef int _validate_thread(self) except -1:
        # Only in debug mode, as asyncio: the check costs a thread lookup.
        if self._thread_id is None:
            return 0
        if PyThread_get_thread_ident() != self._thread_id:
            raise RuntimeError(
                "Non-thread-safe operation invoked on an event loop other "
                "than the current one")
        return 0

    cdef int _validate_callback(self, object callback, str method) except -1:
        if (coroutines.iscoroutine(callback) or
                iscoroutinefunction(callback)):
            raise TypeError(f"coroutines cannot be used with {method}()")
        if not callable(callback):
            raise TypeError(f'a callable object was expected by {method}(), '
                            f'got {callback!r}')
        return 0

    cdef int _check_fork(self) except -1:
        if self._pid != getpid():
            raise RuntimeError(
                'this event loop was created in the parent process and '
                'cannot be used after fork(); create a new one in the child')
        return 0

    def _check_running(self):
        if self.is_running():
            if (self._reentrant and
                    self._thread_id == PyThread_get_thread_ident()):
                return      # to run nested (_nest_patched)
            raise RuntimeError('This event loop is already running')
        if events._get_running_loop() is not None:
            raise RuntimeError(
                'Cannot run the event loop while another loop is running')

    # -- scheduling --------------------------------------------------------

    def call_soon(self, callback, *args, context=None):
        self._raise_if_closed()
        if self._debug:
            self._validate_thread()
            self._validate_callback(callback, 'call_soon')
        return self._call_soon(callback, args, context)

    def call_soon_threadsafe(self, callback, *args, context=None):
        self._raise_if_closed()
        if self._debug:
            self._validate_callback(callback, 'call_soon_threadsafe')
        handle = self._call_soon(callback, args, context)
        if self._polling:
            self._wakeup.notify()
        return handle

    def call_later(self, delay, callback, *args, context=None):
        if delay is None:
            raise TypeError('delay must not be None')
        # asyncio's call_later calls call_at(): the same checks and errors,
        # without a second Python-level call.
        return self._checked_call_at(self._clock() + delay, callback, args,
                                     context)

    def call_at(self, when, callback, *args, context=None):
        if when is None:
            raise TypeError("when cannot be None")
        return self._checked_call_at(when, callback, args, context)

    cdef TimerHandle _checked_call_at(self, object when, object callback,
                                      tuple args, object context):
        cdef TimerHandle handle
        self._raise_if_closed()
        if self._debug:
            self._validate_thread()
            self._validate_callback(callback, 'call_at')
        handle = self._call_at(when, callback, args, context)
        handle._when_is_int = type(when) is int
        return handle

    cdef Handle _call_soon(self, object callback, tuple args, object context):
        cdef Handle handle = new_handle(self, callback, args, context)
        if self._tracer is not None:
            handle._queued_at = self._now()
        gc_hide(handle)
        self._ready.push(handle)
        return handle

    cdef TimerHandle _call_at(self, double when, object callback, tuple args,
                              object context):
        cdef TimerHandle handle = new_timer_handle(self, when, callback, args,
                                                   context)
        self._timers.push(handle)
        self._timers_scheduled += 1
        return handle

    cdef void _timer_cancelled(self, TimerHandle handle) noexcept:
        if handle._scheduled:
            self._timers_cancelled += 1
            if not self._timers.drop_if_last(handle):
                self._timers.cancelled += 1

    def _make_handle(self, callback, args):
        """A Handle for `callback(*args)` that is not queued (signals)."""
        cdef Handle handle = new_repeating_handle(self, callback, tuple(args))
        return handle

    def _add_callback_signalsafe(self, handle):
        """Queue an existing handle from a signal handler and wake the loop."""
        cdef Handle h = <Handle?>handle
        if self._tracer is not None:
            h._queued_at = self._now()
        self._ready.push(h)
        if self._polling:
            self._wakeup.notify()

    # -- futures and tasks -------------------------------------------------

    def create_future(self):
        return Future(loop=self)

    def create_task(self, coro, **kwargs):
        self._raise_if_closed()
        if self._task_factory is not None:
            # Task factories get the interpreter's exact calling convention.
            return stdlib_create_task(self, coro, **kwargs)
        for key in kwargs:
            # Task() takes more (eager_start on 3.12+); create_task() not.
            if key not in CREATE_TASK_KEYWORDS:
                raise TypeError(f'BaseEventLoop.create_task() got an '
                                f'unexpected keyword argument {key!r}')
        # (asyncio trims its own frame off a debug task's traceback; this
        # Cython method has none, so the traceback already ends right.)
        return Task(coro, loop=self, **kwargs)

    # -- running -----------------------------------------------------------

    def run_forever(self):
        self._raise_if_closed()
        self._check_running()
        if self._thread_id is not None:
            self._run_nested(None)
            return
        self._check_fork()
        self._set_coroutine_origin_tracking(self._debug)
        old_agen_hooks = sys.get_asyncgen_hooks()
        try:
            self._thread_id = PyThread_get_thread_ident()
            sys.set_asyncgen_hooks(firstiter=self._asyncgen_firstiter_hook,
                                   finalizer=self._asyncgen_finalizer_hook)
            events._set_running_loop(self)
            self._run_started = self._now()
            # The first pass of a run always polls (see _run_once).
            self._poller.nevents = 0
            try:
                while True:
                    self._run_once()
                    if self._stopping:
                        break
            finally:
                self._time_in_run += self._now() - self._run_started
        finally:
            self._stopping = False
            self._thread_id = None
            events._set_running_loop(None)
            self._set_coroutine_origin_tracking(False)
            sys.set_asyncgen_hooks(*old_agen_hooks)

    def run_until_complete(self, future):
        self._raise_if_closed()
        self._check_running()
        new_task = not futures.isfuture(future)
        future = tasks.ensure_future(future, loop=self)
        if new_task:
            # The caller sees the exception if it does not complete.
            future._log_destroy_pending = False
        if self._thread_id is not None:
            return self._run_nested(future)
        future.add_done_callback(base_events._run_until_complete_cb)
        try:
            self.run_forever()
        except BaseException:
            if new_task and future.done() and not future.cancelled():
                # Mark the exception retrieved: the caller has no task
                # object to retrieve it from.
                future.exception()
            raise
        finally:
            future.remove_done_callback(base_events._run_until_complete_cb)
        if not future.done():
            raise RuntimeError('Event loop stopped before Future completed.')
        return future.result()

    def stop(self):
        self._stopping = True

    # -- running nested: nest_asyncio --------------------------------------

    @property
    def _nest_patched(self):
        # nest_asyncio.apply(loop) makes a loop re-entrant by replacing its
        # class's run methods with code that drives asyncio's internals
        # (_ready, _selector...), and refuses a loop that is no
        # BaseEventLoop, unless the loop has this attribute: then it
        # leaves the loop alone.  Asking for it is taken as that request:
        # from then on, run_until_complete() and run_forever() called by a
        # callback of this loop run it nested, as nest_asyncio's loops do,
        # instead of raising RuntimeError.
        self._reentrant = True
        return True

    cdef object _run_nested(self, object future):
        """run_until_complete(future), or run_forever() when future is
        None, called by a callback of the running loop: passes run here
        until the future is done or stop() is called (nest_asyncio's
        rules: only run_forever() consumes the stop).  The task running
        the callback stops being the current task meanwhile, for the tasks
        stepped here to enter and leave; the blank context the loop lends
        (Handle._run_in_blank_context) may be the one entered by the
        callback: the nested passes get one of their own."""
        outer_task = tasks._current_tasks.pop(self, None)
        outer_blank_context = self._blank_context
        self._blank_context = PyContext_New()
        try:
            while future is None or not future.done():
                self._run_once()
                if self._stopping:
                    break
        finally:
            self._blank_context = outer_blank_context
            if outer_task is not None:
                tasks._current_tasks[self] = outer_task
            if future is None:
                self._stopping = False
        if future is None:
            return None
        if not future.done():
            raise RuntimeError('Event loop stopped before Future completed.')
        return future.result()

    def close(self):
        """Close the loop: drop queued callbacks and timers, release fds."""
        if self.is_running():
            raise RuntimeError("Cannot close a running event loop")
        if self._closed:
            return
        if self._debug:
            base_events.logger.debug("Close %r", self)
        self._closed = True
        for handle in self._ready.drain():
            (<Handle>handle)._release()
            gc_show(<Handle>handle)
        self._timers.clear()
        self._poller.close()
        self._wakeup.close()

    # -- the heartbeat -----------------------------------------------------

    cdef int _run_once(self) except -1:
        cdef int timeout_ms = -1
        cdef double t0
        cdef Py_ssize_t ready_before, timers_due
        cdef uint64_t this_pass
        self._iterations += 1
        this_pass = self._iterations
        self._timers.compact_if_worth_it()
        if self._ready.size or self._stopping:
            timeout_ms = 0
        elif self._timers.size:
            timeout_ms = millis_until(self._timers.earliest() - self._clock())
        if timeout_ms == 0 and self._poller.nevents:
            # The last pass's poll reported events (the array still holds
            # them) and ran their I/O callbacks; what they scheduled is
            # ready now: run it before polling again (one poll per round of
            # I/O, as libuv's loop does).  Whatever became ready meanwhile
            # is seen by the next pass's poll, which this rule never skips.
            self._poller.nevents = 0
        elif timeout_ms:
            # Time spent blocked, for stats(): only waits that may block.
            t0 = self._now()
            self._poller.wait(timeout_ms, &self._polling)
            self._time_polling += self._now() - t0
        else:
            self._poller.wait(0, &self._polling)
        # One pass in asyncio's order: the callbacks that were ready, then
        # the I/O callbacks of this poll, then the due timers.  add_reader
        # handles are queued as asyncio queues them; internal watchers are
        # called between the ready callbacks and the timers: what they
        # schedule runs in the next pass, as if they had been queued.
        self._queue_io_handles(self._poller.nevents)
        ready_before = self._ready.size
        if self._timers.size:
            self._collect_due_timers()
        timers_due = self._ready.size - ready_before
        self._run_ready(ready_before)
        self._dispatch_io(self._poller.nevents, this_pass)
        self._run_ready(timers_due)
        return 0

    cdef int _queue_io_handles(self, int nevents) except -1:
        """Queue the add_reader/add_writer handles of this poll's events;
        leave in the event array only what internal watchers must see."""
        cdef int i
        cdef uint32_t events
        cdef FdWatcher w
        for i in range(nevents):
            if self._poller.is_internal(i):
                self._wakeup.drain()
                self._poller.events[i].events = 0
                continue
            w = self._poller.watcher_of_event(i)
            if w is None:
                self._poller.events[i].events = 0
                continue
            events = self._poller.events[i].events
            if (events & (EPOLLIN | EPOLLHUP | EPOLLERR) and
                    w.io_reader is None and w.reader is not None):
                self._queue_io_handle(w, False)
            if (events & (EPOLLOUT | EPOLLHUP | EPOLLERR) and
                    w.io_writer is None and w.writer is not None):
                self._queue_io_handle(w, True)
        return 0

    cdef int _dispatch_io(self, int nevents, uint64_t this_pass) except -1:
        """Call the internal watchers of this poll's events (after the
        callbacks that were ready, which may have changed them)."""
        cdef int i
        cdef uint32_t events
        cdef FdWatcher w
        cdef IOWatcher io
        for i in range(nevents):
            # A callback that ran the loop nested (_run_nested) leaves the
            # array to the polls of its passes, which handled what was
            # ready; what this poll saw and they did not, epoll
            # (level-triggered) reports again.
            if self._iterations != this_pass:
                break
            events = self._poller.events[i].events
            if not events:
                continue
            # The registration polled, if still there: a callback may have
            # closed the fd meanwhile (no stranger: nothing to drop).
            w = self._poller.still_watched(i)
            if w is None:
                continue
            # Mask by the *current* interest (pause_reading() in a callback
            # of this pass stops its read, as it cancels asyncio's handle).
            # Watchers are held in locals while they run: a watcher may
            # unregister itself, dropping the poller's reference.
            if events & (EPOLLIN | EPOLLHUP | EPOLLERR):
                io = w.io_reader
                if io is not None:
                    self._call_io(io, False)
                    if self._iterations != this_pass:
                        break       # (ran nested: see above)
            # Look again: on_readable() may have changed the interest.
            if events & (EPOLLOUT | EPOLLHUP | EPOLLERR):
                io = w.io_writer
                if io is not None:
                    self._call_io(io, True)
        return 0

    cdef int _call_io(self, IOWatcher io, bint writable) except -1:
        # An error escaping an internal watcher (an accept that fails with
        # an unexpected errno) goes to the exception handler, as it does
        # from asyncio's handle-based callbacks: the loop keeps running.
        cdef object context = io.write_context if writable else io.read_context
        try:
            if context is not None:
                PyContext_Enter(context)
            try:
                if self._tracer is not None:
                    self._traced_io(io, writable)
                elif writable:
                    io.on_writable()
                else:
                    io.on_readable()
            finally:
                if context is not None:
                    PyContext_Exit(context)
        except (KeyboardInterrupt, SystemExit):
            raise
        except BaseException as exc:
            self.call_exception_handler({
                'message': f'Exception in I/O callback of {io!r}',
                'exception': exc,
            })
        return 0

    cdef int _traced_io(self, IOWatcher watcher, bint writable) except -1:
        # Protocol callbacks called from dispatch (data_received...) are
        # timed like queued callbacks; their lag is not known.
        cdef LagTracer tracer = self._tracer   # may be switched off meanwhile
        cdef double t0 = self._now()
        if writable:
            watcher.on_writable()
        else:
            watcher.on_readable()
        tracer.record_duration(t0, self._now() - t0, watcher)
        return 0

    cdef int _queue_io_handle(self, FdWatcher w, bint writer) except -1:
        cdef Handle handle = w.writer if writer else w.reader
        if handle._cancelled:
            self._remove_fd_handle(w.fd, writer)
        else:
            if self._tracer is not None:
                handle._queued_at = self._now()
            self._ready.push(handle)
        return 0

    cdef int _collect_due_timers(self) except -1:
        # A timer is due when its deadline is before now plus the clock's
        # resolution (asyncio's rule); timers scheduled by the callbacks
        # below wait for the next pass.
        cdef double end = self._clock() + self._clock_resolution
        cdef TimerHandle handle
        while self._timers.size and self._timers.earliest() < end:
            handle = self._timers.pop()
            if handle._cancelled:
                self._timers.cancelled -= 1
                gc_show(handle)
                continue
            self._timers_fired += 1
            # A timer's lag runs from its deadline.
            handle._queued_at = handle._deadline
            self._ready.push(handle)
        return 0

    cdef int _run_ready(self, Py_ssize_t n) except -1:
        """Run the first n callbacks of the ready queue."""
        # Callbacks queued meanwhile wait for the next pass.  If one raises
        # KeyboardInterrupt or SystemExit, those that did not run stay at
        # the front of the queue, ahead of the ones queued since, as in
        # asyncio.
        cdef Handle handle
        cdef LagTracer tracer
        cdef double traced_until = 0
        while n and self._ready.size:   # (a nested run may have run some)
            n -= 1
            handle = self._ready.pop()
            if handle._cancelled:
                gc_show(handle)
                continue
            self._callbacks_run += 1
            if self._tracer is not None:
                # A local reference: the callback may switch tracing off.
                tracer = self._tracer
                if traced_until == 0:
                    traced_until = self._now()
                traced_until = tracer.run(handle, traced_until)
            elif self._debug:
                self._run_handle_debug(handle)
            else:
                handle._run()
            # Held elsewhere too (a repeating fd handle, a caller keeping
            # it): release and show it.  Otherwise it is freed as it is
            # when `handle` moves on.
            if Py_REFCNT(handle) > 1:
                handle._release()
                gc_show(handle)
        return 0

    cdef int _run_handle_debug(self, Handle handle) except -1:
        cdef double t0, dt
        cdef object outer = self._current_handle    # (when run nested)
        self._current_handle = handle
        try:
            t0 = self._now()
            handle._run()
            dt = self._now() - t0
            if dt >= self.slow_callback_duration:
                base_events.logger.warning(
                    'Executing %s took %.3f seconds',
                    base_events._format_handle(handle), dt)
        finally:
            self._current_handle = outer
        return 0

    # -- fd interest -------------------------------------------------------

    def add_reader(self, fd, callback, *args):
        self._ensure_fd_no_transport(fd)
        self._add_reader(fd, callback, *args)

    def add_writer(self, fd, callback, *args):
        self._ensure_fd_no_transport(fd)
        self._add_writer(fd, callback, *args)

    def remove_reader(self, fd):
        self._ensure_fd_no_transport(fd)
        return self._remove_fd_handle(fd, False)

    def remove_writer(self, fd):
        self._ensure_fd_no_transport(fd)
        return self._remove_fd_handle(fd, True)

    # The underscore variants are for transports: no ownership check, and
    # add returns the handle, as asyncio's selector loop does.

    def _add_reader(self, fd, callback, *args):
        self._raise_if_closed()
        cdef Handle handle = new_repeating_handle(self, callback, args)
        self._add_fd_handle(fd, handle, False)
        return handle

    def _add_writer(self, fd, callback, *args):
        self._raise_if_closed()
        cdef Handle handle = new_repeating_handle(self, callback, args)
        self._add_fd_handle(fd, handle, True)
        return handle

    def _remove_reader(self, fd):
        return self._remove_fd_handle(fd, False)

    def _remove_writer(self, fd):
        return self._remove_fd_handle(fd, True)

    def _ensure_fd_no_transport(self, fd):
        """Refuse add/remove_reader/writer on an fd a transport owns."""
        fileno = fd
        if not isinstance(fileno, int):
            try:
                fileno = int(fileno.fileno())
            except (AttributeError, TypeError, ValueError):
                raise ValueError(f"Invalid file object: {fd!r}") from None
        self._check_fd_free(fileno, fd)

    cdef int _check_fd_free(self, object fileno, object fd) except -1:
        # The WeakValueDictionary's own dict answers the common "no" in C.
        if fileno not in self._transports.data:
            return 0
        transport = self._transports.get(fileno)
        if transport is not None and not transport.is_closing():
            raise RuntimeError(
                f'File descriptor {fd!r} is used by transport {transport!r}')
        return 0

    cdef int _add_fd_handle(self, object fileobj, Handle handle,
                            bint writer) except -1:
        """Queue `handle` whenever the fd is ready (add_reader/writer)."""
        return self._set_fd_slot(fileobj_to_fd(fileobj), fileobj, handle,
                                 None, writer)

    cdef int _watch(self, int fd, object fileobj, IOWatcher watcher,
                    bint write) except -1:
        """Call watcher.on_readable/on_writable when fd is ready."""
        return self._set_fd_slot(fd, fileobj, None, watcher, write)

    cdef int _set_fd_slot(self, int fd, object fileobj, Handle handle,
                          IOWatcher watcher, bint write) except -1:
        """Make `handle` or `watcher` (one is None) the fd's reader or
        writer; on failure nothing changes, on success the handle it
        replaces is cancelled."""
        cdef FdWatcher w = self._poller.watcher_for(fd, fileobj)
        cdef Handle old
        cdef IOWatcher old_io
        if write:
            old, old_io = w.writer, w.io_writer
            w.writer, w.io_writer = handle, watcher
        else:
            old, old_io = w.reader, w.io_reader
            w.reader, w.io_reader = handle, watcher
        try:
            self._poller.interest_changed(w)
        except BaseException:
            if write:
                w.writer, w.io_writer = old, old_io
            else:
                w.reader, w.io_reader = old, old_io
            if w.kernel_events == 0 and w.wanted() == 0:
                self._poller.forget(w)
            raise
        if old is not None:
            old.cancel()
        return 0

    cdef int _unwatch(self, int fd, IOWatcher watcher, bint write) except -1:
        """Stop calling `watcher` for fd (a no-op if it was replaced)."""
        cdef FdWatcher w = self._poller.lookup(fd)
        if w is None or self._closed:
            return 0
        if write:
            if w.io_writer is not watcher:
                return 0
            w.io_writer = None
        else:
            if w.io_reader is not watcher:
                return 0
            w.io_reader = None
        self._poller.interest_changed(w)
        return 0

    cdef bint _remove_fd_handle(self, object fileobj, bint writer) except -1:
        cdef FdWatcher w
        cdef Handle old
        if self._closed:
            return False
        w = self._find_watcher(fileobj)
        if w is None:
            return False
        if writer:
            old, w.writer = w.writer, None
        else:
            old, w.reader = w.reader, None
        if old is None:
            return False
        try:
            self._poller.interest_changed(w)
        except OSError:
            # The fd was closed behind our back: selectors forgets it
            # entirely (and cancels nothing), so do we.
            self._poller.forget_fd(w.fd)
            raise
        old.cancel()
        return True

    cdef FdWatcher _find_watcher(self, object fileobj):
        cdef FdWatcher w
        try:
            return self._poller.lookup(fileobj_to_fd(fileobj))
        except OverflowError:
            return None         # no fd that large is registered
        except ValueError:
            # A closed socket's fileno() is -1: find it by identity, as
            # selectors does, and fail as it does when it is not there.  A
            # watcher with nothing left to watch (waiting for the next poll
            # to be forgotten) is not there: selectors unregistered it.
            for w in self._poller.watchers:
                if w is not None and w.fileobj is fileobj and w.wanted():
                    return w
            raise

    # -- introspection -----------------------------------------------------

    def stats(self):
        """A snapshot of the loop's counters (always on, cheap to keep).

        Times are in seconds.  `time_polling` is time blocked in epoll_wait;
        `time_running` is the rest of the time spent in run_forever()
        (callbacks and the loop's own work).
        """
        cdef FdWatcher w
        cdef Py_ssize_t readers = 0, writers = 0
        cdef double in_run = self._time_in_run
        if self._thread_id is not None:
            in_run += self._now() - self._run_started
        for w in self._poller.watchers:
            if w is not None:
                readers += w.reader is not None or w.io_reader is not None
                writers += w.writer is not None or w.io_writer is not None
        return {
            'iterations': self._iterations,
            'callbacks_run': self._callbacks_run,
            'ready': self._ready.size,
            'timers_scheduled': self._timers_scheduled,
            'timers_cancelled': self._timers_cancelled,
            'timers_fired': self._timers_fired,
            'timers_pending': self._timers.size - self._timers.cancelled,
            'readers': readers,
            'writers': writers,
            'epoll_waits': self._poller.waits,
            'time_polling': self._time_polling,
            'time_running': in_run - self._time_polling,
            'bytes_read': self._bytes_read,
            'bytes_written': self._bytes_written,
            'connections': self._connections,
        }

    def trace_lag(self, enabled=True, *, slowest=10):
        """Turn lag tracing on (fresh figures) or off; safe while running."""
        if enabled:
            if slowest < 0:
                raise ValueError(f'slowest must be >= 0, got {slowest!r}')
            self._tracer = LagTracer(self, slowest)
        else:
            self._tracer = None

    def lag_stats(self):
        """Lag percentiles, histogram and slowest callbacks; None when off."""
        if self._tracer is None:
            return None
        return self._tracer.snapshot()
