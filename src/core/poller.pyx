# The epoll poller.
#
# Facts about epoll this file depends on (see epoll(7)):
#
# * The interest set is keyed by the pair (fd number, open file description),
#   not by the fd number alone.  A registration is removed automatically only
#   when *every* fd referring to the open file description is closed.  If the
#   user closes a registered fd while a dup() of it (or a forked child's copy)
#   keeps the description open, the registration stays and keeps reporting
#   events under the old epoll_data, and EPOLL_CTL_DEL can no longer name it:
#   the fd number is gone (EBADF) or now refers to another file (ENOENT).
# * A closed fd number is reused by the next open(); an fd we believe is
#   registered may be a new file the kernel has never seen (MOD -> ENOENT).
# * Level-triggered mode (our choice, like asyncio's selector) reports a
#   readable fd on every wait until it is drained: a registration nobody
#   serves spins the CPU.  EPOLLHUP and EPOLLERR are reported even when not
#   asked for.
# * Regular files cannot be registered (EPERM).
# * epoll_wait is never restarted after a signal handler: it fails with
#   EINTR, which is how Ctrl-C reaches a blocked loop.
#
# The choices made here:
#
# * One FdWatcher per fd, indexed by fd number in a list (libuv's layout).
#   The interest we want is derived from the reader/writer handles; the
#   interest the kernel holds is remembered.  A new registration is made at
#   once, so add_reader() raises for a bad fd as asyncio's does; every other
#   change is batched and applied before the next epoll_wait, so a
#   remove/add pair within one iteration costs no syscall.
# * epoll_data carries (generation << 32 | fd).  An event whose fd has no
#   watcher, or a watcher of another generation, comes from a registration
#   we no longer own.  We try EPOLL_CTL_DEL; if the kernel cannot find it
#   that way, the whole epoll set is rebuilt from the watcher table before
#   the next wait.  That bounds the damage of an fd closed behind our back to
#   one iteration: no CPU spin, no event delivered to the wrong watcher.


cdef class IOWatcher:

    cdef int on_readable(self) except -1:
        return 0

    cdef int on_writable(self) except -1:
        return 0


@cython.final
cdef class FdWatcher:

    cdef inline uint32_t wanted(self) noexcept:
        cdef uint32_t events = 0
        if self.reader is not None or self.io_reader is not None:
            events |= EPOLLIN
        if self.writer is not None or self.io_writer is not None:
            events |= EPOLLOUT
        return events


cdef int drop_handles(FdWatcher w) except -1:
    """Cancel and drop the reader and writer handles of `w`."""
    cdef object reader = w.reader, writer = w.writer
    w.reader = w.writer = None
    for handle in (reader, writer):
        if handle is not None:
            handle.cancel()
    return 0


cdef inline uint64_t event_tag(FdWatcher w) noexcept:
    return (<uint64_t>w.generation << 32) | <uint32_t>w.fd


@cython.final
cdef class EpollPoller:

    def __cinit__(self):
        self.epfd = epoll_create1(EPOLL_CLOEXEC)
        if self.epfd < 0:
            raise_os_error()
        self.watchers = []
        self.dirty = []
        self.internal_fd = -1
        if LOOP_DEBUG:
            live_objects.pollers += 1

    def __dealloc__(self):
        if self.epfd >= 0:
            close(self.epfd)
        if LOOP_DEBUG:
            live_objects.pollers -= 1

    cdef void close(self):
        """Close the epoll fd and let go of every watcher and handle, so
        objects they kept alive (transports) can be collected."""
        cdef FdWatcher w
        if self.epfd >= 0:
            close(self.epfd)
            self.epfd = -1
        for w in self.watchers:
            if w is not None:
                for handle in (w.reader, w.writer):
                    if handle is not None:
                        (<Handle>handle)._repeats = False
                        (<Handle>handle)._release()
                w.reader = w.writer = None
                w.io_reader = w.io_writer = None
        self.watchers = []
        self.dirty = []

    cdef int set_internal_fd(self, int fd) except -1:
        cdef epoll_event ev
        ev.events = EPOLLIN
        ev.data.u64 = <uint32_t>fd     # generation 0: never a watcher's
        if epoll_ctl(self.epfd, EPOLL_CTL_ADD, fd, &ev) < 0:
            raise_os_error()
        self.internal_fd = fd
        return 0

    cdef inline bint is_internal(self, int i) noexcept:
        return (self.internal_fd >= 0 and
                self.events[i].data.u64 == <uint32_t>self.internal_fd)

    cdef inline void set_kernel_events(self, FdWatcher w,
                                       uint32_t events) noexcept:
        # Keeps `registered`, the number of fds in the kernel's epoll set.
        self.registered += (events != 0) - (w.kernel_events != 0)
        w.kernel_events = events

    cdef FdWatcher lookup(self, int fd):
        if 0 <= fd < len(self.watchers):
            return <FdWatcher>self.watchers[fd]
        return None

    cdef FdWatcher watcher_for(self, int fd, object fileobj):
        """The watcher of `fd`, created when there is none."""
        cdef FdWatcher w = self.lookup(fd)
        cdef epoll_event ev
        if w is None:
            w = FdWatcher.__new__(FdWatcher)
            w.fd = fd
            self.next_generation += 1
            w.generation = self.next_generation
            if fd >= len(self.watchers):
                self.watchers.extend([None] * (fd + 1 - len(self.watchers)))
            self.watchers[fd] = w
        elif w.kernel_events and (fileobj is not w.fileobj or
                                  isinstance(fileobj, int)):
            # A new owner, or an fd number we cannot tell from a reused
            # one: the fd may have been closed and its number given to
            # another file since it was registered.  MOD finds the
            # registration only if it is of the file the number names now;
            # otherwise start afresh under a new generation, so events of
            # the old file (kept open by a dup) are recognised as strangers.
            ev.events = w.kernel_events
            ev.data.u64 = event_tag(w)
            if epoll_ctl(self.epfd, EPOLL_CTL_MOD, fd, &ev) < 0:
                self.set_kernel_events(w, 0)
                self.next_generation += 1
                w.generation = self.next_generation
                # The callbacks registered for the old file must not serve
                # the new one.
                drop_handles(w)
        w.fileobj = fileobj
        return w

    cdef void forget_fd(self, int fd):
        """The fd is about to be closed by its owner: drop it now."""
        cdef FdWatcher w = self.lookup(fd)
        cdef epoll_event ev
        if w is None:
            return
        if w.kernel_events:
            epoll_ctl(self.epfd, EPOLL_CTL_DEL, fd, &ev)
            self.set_kernel_events(w, 0)
        w.reader = w.writer = None
        w.io_reader = w.io_writer = None
        self.watchers[fd] = None

    cdef int interest_changed(self, FdWatcher w) except -1:
        """Record that w.wanted() changed; register a new fd at once."""
        cdef epoll_event ev
        cdef uint32_t wanted = w.wanted()
        if w.kernel_events == 0 and wanted != 0:
            ev.events = wanted
            ev.data.u64 = event_tag(w)
            if epoll_ctl(self.epfd, EPOLL_CTL_ADD, w.fd, &ev) < 0:
                if errno != EEXIST:
                    raise_os_error()
                # Registered under a previous watcher we lost track of.
                if epoll_ctl(self.epfd, EPOLL_CTL_MOD, w.fd, &ev) < 0:
                    raise_os_error()
            self.set_kernel_events(w, wanted)
        elif not w.dirty:
            w.dirty = True
            self.dirty.append(w)
        return 0

    cdef int flush(self) except -1:
        """Apply batched interest changes (before epoll_wait)."""
        cdef FdWatcher w
        cdef epoll_event ev
        cdef uint32_t wanted
        cdef int op
        if self.rebuild_needed:
            self.rebuild()
        if not self.dirty:
            return 0
        for w in self.dirty:
            w.dirty = False
            wanted = w.wanted()
            if wanted == w.kernel_events:
                pass
            elif wanted == 0:
                # EBADF/ENOENT: the fd was closed (and maybe reused); the
                # kernel dropped the registration or will report it as a
                # stranger, which rebuild() handles.
                epoll_ctl(self.epfd, EPOLL_CTL_DEL, w.fd, &ev)
                self.set_kernel_events(w, 0)
            else:
                ev.events = wanted
                ev.data.u64 = event_tag(w)
                op = EPOLL_CTL_MOD if w.kernel_events else EPOLL_CTL_ADD
                if epoll_ctl(self.epfd, op, w.fd, &ev) < 0 and (
                        errno != EEXIST or
                        epoll_ctl(self.epfd, EPOLL_CTL_MOD, w.fd, &ev) < 0):
                    # EBADF/ENOENT: the file was closed behind our back (its
                    # number maybe given to a new file).  Nothing to wait
                    # for, as with asyncio's selector, and the callbacks
                    # registered for that file must not serve a new one.
                    wanted = 0
                    drop_handles(w)
                self.set_kernel_events(w, wanted)
            if w.kernel_events == 0 and w.wanted() == 0:
                self.forget(w)
        del self.dirty[:]
        return 0

    cdef void forget(self, FdWatcher w):
        if self.lookup(w.fd) is w:
            self.watchers[w.fd] = None

    cdef int rebuild(self) except -1:
        """Replace the epoll set by a fresh one holding our watchers only."""
        cdef int new_epfd = epoll_create1(EPOLL_CLOEXEC)
        cdef epoll_event ev
        cdef FdWatcher w
        if new_epfd < 0:
            raise_os_error()
        if self.internal_fd >= 0:
            ev.events = EPOLLIN
            ev.data.u64 = <uint32_t>self.internal_fd
            epoll_ctl(new_epfd, EPOLL_CTL_ADD, self.internal_fd, &ev)
        for w in self.watchers:
            if w is None or w.kernel_events == 0:
                continue
            ev.events = w.kernel_events
            ev.data.u64 = event_tag(w)
            if epoll_ctl(new_epfd, EPOLL_CTL_ADD, w.fd, &ev) < 0:
                self.set_kernel_events(w, 0)
        close(self.epfd)
        self.epfd = new_epfd
        self.rebuild_needed = False
        return 0

    cdef int wait(self, int timeout_ms, bint *polling) except -1:
        """epoll_wait; the events are left in self.events[:self.nevents].

        A signal (EINTR) ends the wait with no events after running the
        Python-level signal handlers, which may raise KeyboardInterrupt.
        """
        cdef int n
        self.flush()
        if timeout_ms == 0 and self.registered == 0 and not self.rebuild_needed:
            # No fd to poll and no time to wait: the syscall would only say
            # so.  (The wakeup eventfd needs no draining: with callbacks
            # ready, nobody waits for it.)
            self.nevents = 0
            return 0
        self.waits += 1
        polling[0] = True
        with nogil:
            n = epoll_wait(self.epfd, self.events, MAX_EVENTS, timeout_ms)
        polling[0] = False
        if n < 0:
            self.nevents = 0
            if errno != EINTR:
                raise_os_error()
            PyErr_CheckSignals()
            return 0
        self.nevents = n
        return n

    cdef FdWatcher still_watched(self, int i):
        """The watcher of event i if its registration is still the one
        polled, else None (closed, or its fd number reused, since)."""
        cdef uint64_t tag = self.events[i].data.u64
        cdef FdWatcher w = self.lookup(<int>(tag & 0xffffffffu))
        if w is not None and w.generation == <uint32_t>(tag >> 32):
            return w
        return None

    cdef FdWatcher watcher_of_event(self, int i):
        """The watcher that owns event i, or None for a stranger's event."""
        cdef uint64_t tag = self.events[i].data.u64
        cdef int fd = <int>(tag & 0xffffffffu)
        cdef FdWatcher w = self.lookup(fd)
        cdef epoll_event ev
        if w is not None and w.generation == <uint32_t>(tag >> 32):
            return w
        # Not ours (any more).  If DEL finds it, it is gone; otherwise the
        # fd number no longer names it and only a rebuild drops it.
        if (w is not None and w.kernel_events) or epoll_ctl(
                self.epfd, EPOLL_CTL_DEL, fd, &ev) < 0:
            self.rebuild_needed = True
        return None
