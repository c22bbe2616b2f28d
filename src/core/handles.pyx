# Handle and TimerHandle: asyncio's public API (cancel, cancelled, when,
# get_context, reprs), stored in C fields so the loop runs them without a
# dictionary lookup or a bound-method call.

cdef inline void gc_hide(Handle handle) noexcept:
    """The loop queues `handle`: the collector need not traverse it, nor the
    context copied for it (nothing else refers to that copy yet)."""
    PyObject_GC_UnTrack(handle)
    if handle._context_copied:
        PyObject_GC_UnTrack(handle._context)


cdef inline void gc_show(Handle handle) noexcept:
    """The loop lets go of `handle`: the collector sees it again."""
    if not PyObject_GC_IsTracked(handle):
        PyObject_GC_Track(handle)
        show_context(handle)


cdef inline void show_context(Handle handle) noexcept:
    # A hidden context must be tracked again before it can be freed:
    # contextvars' deallocator unlinks it from the collector's list
    # unconditionally.
    if handle._context_copied and not PyObject_GC_IsTracked(handle._context):
        PyObject_GC_Track(handle._context)


# Queued handles are hidden from the cyclic garbage collector: a million
# handles waiting in the ready queue or the timer heap would otherwise be
# traversed by every collection, which cost a third of call_soon's time
# (callgrind); the same goes for the context copied for each of them.  A
# handle is untracked when the loop queues it and tracked again when the
# loop lets go of it (see gc_hide/gc_show): while queued it is reachable
# from the loop anyway, and once out of the queue any cycle through it is
# collected as usual.  One-shot handles also drop their callback once
# run, as nothing can call it again.
@cython.no_gc_clear
@cython.freelist(250)
cdef class Handle:
    """A callback scheduled with call_soon()/call_soon_threadsafe()."""

    def __init__(self, *args, **kwargs):
        raise TypeError(f"{type(self).__name__} objects are created by the "
                        "event loop (call_soon, call_later, call_at)")

    def __repr__(self):
        if self._repr is not None:
            return self._repr
        return '<{}>'.format(' '.join(self._repr_info()))

    def _repr_info(self):
        info = [type(self).__name__]
        if self._cancelled:
            info.append('cancelled')
        if self._callback is not None:
            info.append(format_callback_source(self._callback, self._args,
                                               self._loop._debug))
        if self._source_traceback:
            frame = self._source_traceback[-1]
            info.append(f'created at {frame[0]}:{frame[1]}')
        return info

    def get_context(self):
        if self._context is None:
            # Scheduled from an empty context, not run yet: an empty one
            # of its own from now on (the run uses it).
            self._context = PyContext_New()
        return self._context

    def cancel(self):
        if not self._cancelled:
            self._cancelled = True
            gc_show(self)       # the loop only keeps it to skip it
            if self._loop._debug:
                # Keep a representation for debugging: callback and args go.
                self._repr = repr(self)
            self._callback = None
            self._args = None

    def cancelled(self):
        return self._cancelled

    def __dealloc__(self):
        show_context(self)
        if LOOP_DEBUG:
            live_objects.handles -= 1

    cdef inline void _release(self) noexcept:
        """Drop the callback of a one-shot handle that has run."""
        if not self._repeats:
            self._callback = None
            self._args = None

    cdef inline int _run(self) except -1:
        """Run the callback in its context; report errors to the loop.

        KeyboardInterrupt and SystemExit propagate (they stop run_*);
        everything else goes to the loop's exception handler, called after
        the callback's context is left (the handler runs in its own).
        """
        if self._context is None:
            return self._run_in_blank_context()
        return self._call(self._context)

    cdef int _run_in_blank_context(self) except -1:
        # Scheduled from a context with no variable set, where asyncio
        # would have copied that context: this callback runs in an empty
        # Context, which the loop lends instead of one made and freed per
        # callback (a fifth of call_soon's instructions).  The loop takes
        # it back only if it is still blank: no variable set in it and no
        # reference kept (get_context() during the run, say).  Otherwise
        # the handle keeps it, as asyncio's keeps what its callback ran in,
        # and the loop makes itself a new one.
        cdef Loop loop = self._loop
        cdef object context = loop._blank_context
        self._context = context
        try:
            self._call(context)
        finally:
            # Three references: the loop's, the handle's and `context`.
            if (Py_REFCNT(context) == 3 and
                    PyObject_Size(<PyObject *>context) == 0):
                self._context = None
            else:
                loop._blank_context = PyContext_New()
        return 0

    cdef int _call(self, object context) except -1:
        cdef object callback = self._callback
        cdef tuple args = self._args
        cdef object error = None
        if PyContext_CheckExact(context):
            PyContext_Enter(context)
            try:
                if args is None or len(args) == 0:
                    PyObject_CallNoArgs(callback)
                else:
                    PyObject_Call(callback, args, None)
            except (KeyboardInterrupt, SystemExit):
                raise
            except BaseException as exc:
                error = exc
            finally:
                PyContext_Exit(context)
        else:
            # Not a Context: what asyncio does with it (and its error).
            try:
                context.run(callback, *(args or ()))
            except (KeyboardInterrupt, SystemExit):
                raise
            except BaseException as exc:
                error = exc
        if error is not None:
            report_callback_error(self, error)
        return 0


# No free list of its own: Cython keeps free lists on base classes only.
@cython.no_gc_clear
cdef class TimerHandle(Handle):
    """A callback scheduled with call_later()/call_at()."""

    def _repr_info(self):
        info = Handle._repr_info(self)
        info.insert(2 if self._cancelled else 1, f'when={self._when}')
        return info

    def when(self):
        return self._when

    @property
    def _when(self):
        if self._when_is_int:
            return int(self._deadline)
        return self._deadline

    def cancel(self):
        if not self._cancelled:
            self._loop._timer_cancelled(self)
        Handle.cancel(self)

    def __hash__(self):
        return hash(self._deadline)

    def __richcmp__(TimerHandle self, other, int op):
        if not isinstance(other, TimerHandle):
            return NotImplemented
        cdef TimerHandle o = <TimerHandle>other
        if op == 2 or op == 3:      # == and !=
            same = (self._deadline == o._deadline and
                    self._callback == o._callback and
                    self._args == o._args and
                    self._cancelled == o._cancelled)
            return same if op == 2 else not same
        if op == 0:
            return self._deadline < o._deadline
        if op == 1:
            return self._deadline < o._deadline or self == o
        if op == 4:
            return self._deadline > o._deadline
        return self._deadline > o._deadline or self == o


cdef Handle new_handle(Loop loop, object callback, tuple args, object context):
    return init_handle(Handle.__new__(Handle), loop, callback, args, context)


cdef TimerHandle new_timer_handle(Loop loop, double when, object callback,
                                  tuple args, object context):
    cdef TimerHandle h = TimerHandle.__new__(TimerHandle)
    h._deadline = when
    init_handle(h, loop, callback, args, context)
    return h


cdef Handle new_repeating_handle(Loop loop, object callback, tuple args):
    """A handle run again and again (fd readiness, signals): each run sees
    what the previous ones set in its context, so it gets a copy of its own
    even of an empty context."""
    cdef Handle h = init_handle(Handle.__new__(Handle), loop, callback, args,
                                PyContext_CopyCurrent())
    h._context_copied = True
    h._repeats = True
    return h


cdef inline bint current_context_is_empty() noexcept:
    cdef PyObject *context = current_thread_state().context
    return context == NULL or PyObject_Size(context) == 0


cdef inline Handle init_handle(Handle h, Loop loop, object callback,
                               tuple args, object context):
    h._loop = loop
    h._callback = callback
    h._args = args
    # No context given: a copy of the current one, as asyncio's Handle;
    # none yet if the current one is empty (see _run_in_blank_context).
    if context is None:
        if not current_context_is_empty():
            h._context = PyContext_CopyCurrent()
            h._context_copied = True
    else:
        h._context = context
    if loop._debug:
        h._source_traceback = extract_stack()
    if LOOP_DEBUG:
        live_objects.handles += 1
    return h


cdef extract_stack():
    # Cython functions push no frames, so the top Python frame is the caller
    # of call_soon()/call_later(): exactly where asyncio's trimmed
    # traceback ends.
    return format_helpers.extract_stack(sys._getframe())


cdef format_callback_source(callback, args, bint debug):
    if FORMAT_CALLBACK_TAKES_DEBUG:
        return format_helpers._format_callback_source(callback, args,
                                                      debug=debug)
    return format_helpers._format_callback_source(callback, args)


cdef report_callback_error(Handle handle, exc):
    cb = format_callback_source(handle._callback, handle._args,
                                handle._loop._debug)
    context = {
        'message': f'Exception in callback {cb}',
        'exception': exc,
        'handle': handle,
    }
    if handle._source_traceback:
        context['source_traceback'] = handle._source_traceback
    handle._loop.call_exception_handler(context)
