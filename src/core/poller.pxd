cdef class IOWatcher:
    """Base of what the poller calls directly on readiness (transports,
    sock_* waiters): no Handle, no trip through the ready queue."""
    cdef:
        # The contextvars.Context on_readable/on_writable run in: asyncio
        # runs a reader or writer callback in a copy of the context current
        # at its add_reader/add_writer call.  None: the loop's own (watchers
        # that run no user code).
        object read_context
        object write_context

    cdef int on_readable(self) except -1
    cdef int on_writable(self) except -1


@cython.final
cdef class FdWatcher:
    cdef:
        int fd
        # Tag stored in the kernel's epoll_data with the fd, so an event
        # from a registration we no longer own is recognised (see poller.pyx).
        uint32_t generation
        # Interest the kernel holds for this fd (0: not in the epoll set).
        uint32_t kernel_events
        bint dirty
        # Either a user callback (queued like asyncio's) or an internal
        # watcher (called during dispatch), never both for one direction.
        Handle reader
        Handle writer
        IOWatcher io_reader
        IOWatcher io_writer
        # What add_reader/add_writer was given, to find the watcher again
        # when that object's fileno() no longer works (closed sockets).
        object fileobj

    cdef inline uint32_t wanted(self) noexcept


@cython.final
cdef class EpollPoller:
    cdef:
        int epfd
        list watchers           # watchers[fd] -> FdWatcher or None
        list dirty              # watchers whose interest changed
        uint32_t next_generation
        # An event came from a registration that cannot be removed with
        # EPOLL_CTL_DEL (its fd was closed while another fd kept the file
        # open): the epoll set is rebuilt before the next wait.
        bint rebuild_needed
        int nevents
        # fds in the kernel's epoll set, not counting the internal one.
        Py_ssize_t registered
        uint64_t waits          # epoll_wait calls made
        # The loop's own wakeup fd, registered under generation 0.
        int internal_fd
        epoll_event events[MAX_EVENTS]

    cdef int set_internal_fd(self, int fd) except -1
    cdef inline bint is_internal(self, int i) noexcept
    cdef inline void set_kernel_events(self, FdWatcher w,
                                       uint32_t events) noexcept
    cdef FdWatcher lookup(self, int fd)
    cdef FdWatcher watcher_for(self, int fd, object fileobj)
    cdef void forget_fd(self, int fd)
    cdef int interest_changed(self, FdWatcher w) except -1
    cdef int flush(self) except -1
    cdef int wait(self, int timeout_ms, bint *polling) except -1
    cdef FdWatcher watcher_of_event(self, int i)
    cdef FdWatcher still_watched(self, int i)
    cdef void forget(self, FdWatcher w)
    cdef int rebuild(self) except -1
    cdef void close(self)
