# Stream socket transports (TCP and Unix).
#
# Users get a SocketTransport: a Python class (compiled here) deriving from
# asyncio.Transport, because libraries check isinstance(t, asyncio.Transport)
# and a cdef class cannot derive from it (BaseTransport's __slots__ conflict
# with any C layout).  Its methods are compiled and forward to a StreamCore,
# the cdef class that owns the socket, the buffers and the protocol calls.
# The poller calls the core directly when the socket is ready.
#
# Behaviour follows asyncio's selector transports step for step (messages,
# the order of protocol calls, flow control); the differences are speed:
# reads and writes are direct syscalls (on a socket.socket subclass, its
# methods, which asyncio calls and the subclass may override), and reads
# run during I/O dispatch rather than from a queued handle.

cdef enum:
    # Bytes read per readiness event: asyncio's max_size (256 KiB).
    READ_CHUNK = 256 * 1024
    # Calls to write() after the connection is lost before each warning:
    # asyncio's LOG_THRESHOLD_FOR_CONNLOST_WRITES.
    CONNLOST_WRITES_BEFORE_WARNING = 5
    # Most buffers one writev() takes (Linux's IOV_MAX).
    MAX_IOV = 1024
    # Written pieces up to this size are copied into a bytearray at the end
    # of the write queue rather than queued one object each: many small
    # writes under backpressure cost one allocation, not one per write.
    SMALL_WRITE = 4096
    # Reads expected at least this large go straight into a new bytes
    # object (recv_bytes), which saves copying them; smaller ones land in
    # recv_buffer and are copied, which costs less than allocating and
    # shrinking a large object.
    LARGE_READ = 16 * 1024
    # A transport's direct read asks for at most this much: glibc serves a
    # malloc() of 128 KiB or more with mmap() (its M_MMAP_THRESHOLD) and
    # shrinking it with mremap(), so every such read costs fresh pages.
    # perf, 100 KiB streams echo at 100 connections: 43 page faults per
    # request with 256 KiB direct reads, 3.6 with these.
    DIRECT_READ = 120 * 1024

# 3.12's writelines() is a method of its own (not write() of the joined
# pieces): its errors name it.
cdef bint WRITELINES_OF_ITS_OWN = sys.version_info >= (3, 12)
# 3.12's transports send their buffer with sendmsg() (a socket subclass's
# method is what it calls), 3.11's with send().
cdef bint FLUSH_WITH_SENDMSG = sys.version_info >= (3, 12)

# Small reads land here and are copied into a bytes object of the size
# read.  One buffer serves every loop of the process: it is only used with
# the GIL held and never across a callback.
cdef char recv_buffer[READ_CHUNK]


cdef object recv_bytes(int fd, Py_ssize_t size, bint large):
    """recv() of up to `size` bytes into a new bytes object; None, with errno
    set, when recv() fails.

    A large read goes straight into the new object, shrunk in place to what
    arrived (what socket.recv does): no copy.  A small one (size at most
    READ_CHUNK) lands in recv_buffer and is copied."""
    cdef ssize_t n
    cdef PyObject *raw
    if not large:
        n = recv(fd, recv_buffer, size, 0)
        return None if n < 0 else PyBytes_FromStringAndSize(recv_buffer, n)
    raw = new_bytes_object(NULL, size)
    n = recv(fd, PyBytes_AS_STRING(<object>raw), size, 0)
    if n < 0:
        Py_DECREF(<object>raw)     # free() keeps errno (glibc >= 2.33)
        return None
    _PyBytes_Resize(&raw, n)       # on failure raw is freed and NULL
    data = <object>raw
    Py_DECREF(data)
    return data


cdef tuple checked_write_limits(high, low):
    """(high, low) water marks from set_write_buffer_limits()'s arguments,
    with asyncio's defaults and its check."""
    if high is None:
        high = 64 * 1024 if low is None else 4 * low
    if low is None:
        low = high // 4
    if not high >= low >= 0:
        raise ValueError(
            f'high ({high!r}) must be >= low ({low!r}) must be >= 0')
    return high, low


cdef int tell_protocol_flow(Loop loop, transport, protocol,
                            bint pause) except -1:
    """protocol.pause_writing() or resume_writing(); its failure goes to
    the loop's exception handler."""
    try:
        if pause:
            protocol.pause_writing()
        else:
            protocol.resume_writing()
    except (SystemExit, KeyboardInterrupt):
        raise
    except BaseException as exc:
        name = 'pause_writing' if pause else 'resume_writing'
        loop.call_exception_handler({
            'message': f'protocol.{name}() failed',
            'exception': exc,
            'transport': transport,
            'protocol': protocol,
        })
    return 0


cdef class StreamCore(IOWatcher):

    def __cinit__(self):
        self.write_queue = []
        self.high_water = 64 * 1024
        self.low_water = 16 * 1024
        if LOOP_DEBUG:
            live_objects.transports += 1

    def __dealloc__(self):
        if LOOP_DEBUG:
            live_objects.transports -= 1

    # -- reading -----------------------------------------------------------

    cdef int start_reading(self) except -1:
        # Protocol calls from reads run where asyncio's _add_reader() would
        # have run them: in a copy of the context current now.
        self.read_context = PyContext_CopyCurrent()
        self.loop._watch(self.fd, self.sock, self, False)
        return 0

    cdef int stop_reading(self) except -1:
        self.loop._unwatch(self.fd, self, False)
        return 0

    cdef int start_writing(self) except -1:
        # The buffer was empty: resume_writing() and the rest of the writing
        # run in a copy of this write's context (asyncio's _add_writer()).
        self.write_context = PyContext_CopyCurrent()
        self.loop._watch(self.fd, self.sock, self, True)
        return 0

    cdef int on_readable(self) except -1:
        if self.conn_lost:
            return 0
        if self.buffered:
            return self.read_into_buffer()
        return self.read_data()

    cdef object call_socket(self, object method, object arg):
        """method(arg), a method of a socket.socket subclass: what it
        returns, None if it would block, or the exception it raised."""
        try:
            return method(arg)
        except (BlockingIOError, InterruptedError):
            return None
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:
            return exc

    cdef int read_data(self) except -1:
        cdef Py_ssize_t n
        if self.sock_methods:
            data = self.call_socket(self.sock.recv, READ_CHUNK)
            if data is None:
                return 0
            if isinstance(data, BaseException):
                self.fatal_error(data, 'Fatal read error on socket transport')
                return 0
        else:
            if self.large_reads:
                data = recv_bytes(self.fd, DIRECT_READ, True)
            else:
                data = recv_bytes(self.fd, READ_CHUNK, False)
            if data is None:
                if errno == EAGAIN or errno == EINTR:
                    return 0
                self.fatal_error(os_error(errno),
                                 'Fatal read error on socket transport')
                return 0
        n = len(data)
        if n == 0:
            return self.on_eof()
        # The next read will likely be as large as this one.
        self.large_reads = n >= LARGE_READ
        self.loop._bytes_read += n
        try:
            self.protocol.data_received(data)
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:
            self.fatal_error(
                exc, 'Fatal error: protocol.data_received() call failed.')
        return 0

    cdef int read_into_buffer(self) except -1:
        cdef Py_buffer view
        cdef ssize_t n
        cdef int err
        try:
            buf = self.protocol.get_buffer(-1)
            if not len(buf):
                raise RuntimeError('get_buffer() returned an empty buffer')
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:
            self.fatal_error(
                exc, 'Fatal error: protocol.get_buffer() call failed.')
            return 0
        if self.sock_methods:
            result = self.call_socket(self.sock.recv_into, buf)
            if result is None:
                return 0
            if isinstance(result, BaseException):
                self.fatal_error(result,
                                 'Fatal read error on socket transport')
                return 0
            n = result
        else:
            try:
                PyObject_GetBuffer(buf, &view, PyBUF_WRITABLE)
            except BaseException:
                # The error asyncio's sock.recv_into(buf) gives.
                exc = TypeError(f'recv_into() argument 1 must be read-write '
                                f'bytes-like object, not {type(buf).__name__}')
                self.fatal_error(exc, 'Fatal read error on socket transport')
                return 0
            n = recv(self.fd, view.buf, view.len, 0)
            err = errno
            PyBuffer_Release(&view)
            if n < 0:
                if err == EAGAIN or err == EINTR:
                    return 0
                self.fatal_error(os_error(err),
                                 'Fatal read error on socket transport')
                return 0
        if n == 0:
            return self.on_eof()
        self.loop._bytes_read += n
        try:
            self.protocol.buffer_updated(n)
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:
            self.fatal_error(
                exc, 'Fatal error: protocol.buffer_updated() call failed.')
        return 0

    cdef int on_eof(self) except -1:
        if self.loop._debug:
            base_events.logger.debug("%r received EOF", self.transport)
        try:
            keep_open = self.protocol.eof_received()
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:
            self.fatal_error(
                exc, 'Fatal error: protocol.eof_received() call failed.')
            return 0
        if keep_open:
            # The protocol may still write, but nothing more can be read.
            self.stop_reading()
        else:
            self.close()
        return 0

    # -- writing -----------------------------------------------------------

    cdef int write(self, object data) except -1:
        cdef Py_buffer view
        cdef Py_ssize_t n, size
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise TypeError(f'data argument must be a bytes-like object, '
                            f'not {type(data).__name__!r}')
        if self.eof_written:
            raise RuntimeError('Cannot call write() after write_eof()')
        if self.empty_waiter is not None:
            raise RuntimeError('unable to write; sendfile is in progress')
        if not data:
            return 0
        if self.conn_lost:
            if self.conn_lost >= CONNLOST_WRITES_BEFORE_WARNING:
                base_events.logger.warning('socket.send() raised exception.')
            self.conn_lost += 1
            return 0
        try:
            PyObject_GetBuffer(data, &view, PyBUF_SIMPLE)
        except BufferError as exc:
            # Not contiguous: asyncio's sock.send(data) fails so too.
            self.fatal_error(exc, 'Fatal write error on socket transport')
            return 0
        if self.write_size:
            PyBuffer_Release(&view)
            self.queue_write(data, 0)
            return self.maybe_pause_protocol()
        # Nothing queued: send at once, queue only what the kernel does not
        # take.
        size = view.len
        if self.sock_methods:
            PyBuffer_Release(&view)
            result = self.call_socket(self.sock.send, data)
            if isinstance(result, BaseException):
                self.fatal_error(result,
                                 'Fatal write error on socket transport')
                return 0
            n = 0 if result is None else result
            self.loop._bytes_written += n
        else:
            try:
                n = self.send_now(<char *>view.buf, size)
            finally:
                PyBuffer_Release(&view)
            if n < 0:
                return 0
        if n == size:
            return 0
        return self.buffer_remaining(data, n)

    cdef Py_ssize_t send_now(self, const char *data,
                             Py_ssize_t size) except -2:
        """send(): the bytes the kernel took (0 when it would block), or -1
        once a failure has been reported (fatal_error)."""
        cdef ssize_t n = send(self.fd, data, size, 0)
        cdef int err
        if n >= 0:
            self.loop._bytes_written += n
            return n
        err = errno
        if err == EAGAIN or err == EINTR:
            return 0
        self.fatal_error(os_error(err), 'Fatal write error on socket transport')
        return -1

    cdef int write_from(self, const char *data, Py_ssize_t size) except -1:
        """write() of the size bytes at data, memory the caller reuses once
        this returns (TLS's outgoing ciphertext): sent from there when
        nothing is queued, and only what the kernel does not take is
        copied."""
        cdef Py_ssize_t n
        if (self.write_size or self.sock_methods or self.conn_lost or
                self.eof_written or self.empty_waiter is not None):
            return self.write(PyBytes_FromStringAndSize(data, size))
        if size <= 0:
            return 0
        n = self.send_now(data, size)
        if n < 0 or n == size:
            return 0
        return self.buffer_remaining(
            PyBytes_FromStringAndSize(data + n, size - n), 0)

    cdef int writelines(self, object list_of_data) except -1:
        # One syscall for all the pieces: sendmsg() gathers them when the
        # queue is empty; otherwise they join the queue.
        cdef list pieces = list(list_of_data)
        if WRITELINES_OF_ITS_OWN:
            if self.eof_written:
                raise RuntimeError('Cannot call writelines() after '
                                   'write_eof()')
            if self.empty_waiter is not None:
                raise RuntimeError(
                    'unable to writelines; sendfile is in progress')
        for data in pieces:
            if not isinstance(data, (bytes, bytearray, memoryview)):
                # Another buffer type goes through the join; anything else
                # fails with asyncio's error: memoryview()'s on 3.12+, the
                # join's before.
                if WRITELINES_OF_ITS_OWN:
                    memoryview(data)
                return self.write(b''.join(pieces))
        if (self.write_size or self.conn_lost or self.eof_written or
                self.empty_waiter is not None or len(pieces) > MAX_IOV or
                len(pieces) < 2 or
                # 3.11's writelines() is write() of the joined pieces: a
                # socket subclass sees send(), not sendmsg().
                (self.sock_methods and not WRITELINES_OF_ITS_OWN)):
            return self.write(b''.join(pieces))
        try:
            n = self.sock.sendmsg(pieces)
        except (BlockingIOError, InterruptedError):
            n = 0
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:
            self.fatal_error(exc, 'Fatal write error on socket transport')
            return 0
        self.loop._bytes_written += n
        data = b''.join(pieces)
        if n == len(data):
            return 0
        return self.buffer_remaining(data, n)

    cdef int buffer_remaining(self, object data, Py_ssize_t sent) except -1:
        """Queue what the first send of data (the queue was empty) left:
        data[sent:], not empty (`sent` counts bytes, not items)."""
        self.queue_write(data, sent)
        self.start_writing()
        return self.maybe_pause_protocol()

    cdef int queue_write(self, object data, Py_ssize_t start) except -1:
        """Queue data[start:] for when the socket is writable.

        A bytes object is kept as it is, since it cannot change (asyncio
        3.12 and uvloop keep every buffer so; 3.11 copies them all).  Other
        buffers are copied: the caller may change or resize its bytearray
        once write() returns, and a memoryview held here would make resizing
        it fail.  Small pieces are copied too, into a bytearray at the end
        of the queue that later small pieces extend."""
        cdef Py_buffer view
        cdef Py_ssize_t size
        cdef object last
        cdef list queue = self.write_queue
        PyObject_GetBuffer(data, &view, PyBUF_SIMPLE)
        try:
            size = view.len - start
            if size <= 0:
                return 0
            if type(data) is bytes and size > SMALL_WRITE:
                if not queue:
                    self.write_start = start
                queue.append(data)
            else:
                last = queue[-1] if queue else None
                if type(last) is not bytearray or size > SMALL_WRITE:
                    last = bytearray()
                    if not queue:
                        self.write_start = 0
                    queue.append(last)
                last.extend((<char *>view.buf)[start:view.len])
            self.write_size += size
        finally:
            PyBuffer_Release(&view)
        return 0

    cdef int clear_write_queue(self) except -1:
        del self.write_queue[:]
        self.write_start = 0
        self.write_size = 0
        return 0

    cdef int on_writable(self) except -1:
        cdef iovec iov[MAX_IOV]
        cdef list queue = self.write_queue
        cdef Py_ssize_t count, i
        cdef ssize_t n
        cdef object piece
        if self.conn_lost or self.write_size == 0:
            return 0
        if self.sock_methods:
            result = self.send_queue_by_method()
            if result is None:
                return 0
            n = -1 if isinstance(result, BaseException) else result
        else:
            count = min(len(queue), MAX_IOV)
            for i in range(count):
                piece = queue[i]
                if type(piece) is bytes:
                    iov[i].iov_base = PyBytes_AS_STRING(piece)
                else:
                    iov[i].iov_base = PyByteArray_AS_STRING(piece)
                iov[i].iov_len = len(piece)
            iov[0].iov_base = <char *>iov[0].iov_base + self.write_start
            iov[0].iov_len -= self.write_start
            n = writev(self.fd, iov, count)
            if n < 0:
                if errno == EAGAIN or errno == EINTR:
                    return 0
                result = os_error(errno)
        if n < 0:
            exc = result
            self.loop._unwatch(self.fd, self, True)
            self.clear_write_queue()
            self.fatal_error(exc, 'Fatal write error on socket transport')
            if self.empty_waiter is not None:
                self.empty_waiter.set_exception(exc)
            return 0
        if n:
            self.loop._bytes_written += n
            self.consume_written(n)
        self.maybe_resume_protocol()        # may write more
        if self.write_size == 0:
            self.loop._unwatch(self.fd, self, True)
            if self.empty_waiter is not None:
                self.empty_waiter.set_result(None)
            if self.closing:
                # Counted as lost, so that a later abort() is a no-op
                # (asyncio's raises AttributeError there).
                self.conn_lost += 1
                self.call_connection_lost(None)
            elif self.eof_written:
                self.sock.shutdown(socket_SHUT_WR)
        return 0

    cdef object send_queue_by_method(self):
        """Send from the write queue with the socket's method (a subclass),
        as call_socket() reports it: what asyncio's transport calls,
        sendmsg() of the queue (3.12+) or send() (of its first piece here:
        the next readiness event sends the next)."""
        cdef list queue = self.write_queue
        pieces = queue[:MAX_IOV] if FLUSH_WITH_SENDMSG else queue[:1]
        if self.write_start:
            pieces[0] = memoryview(pieces[0])[self.write_start:]
        if FLUSH_WITH_SENDMSG:
            return self.call_socket(self.sock.sendmsg, pieces)
        # (The memoryview goes with this frame: no export is left on a
        # bytearray that queue_write may grow.)
        return self.call_socket(self.sock.send, pieces[0])

    cdef int consume_written(self, Py_ssize_t n) except -1:
        """Drop the n bytes the kernel took from the front of the queue."""
        cdef list queue = self.write_queue
        cdef Py_ssize_t done = 0, size
        self.write_size -= n
        if self.write_size == 0:
            return self.clear_write_queue()
        n += self.write_start
        while True:
            size = len(queue[done])
            if n < size:
                break
            n -= size
            done += 1
        del queue[:done]
        self.write_start = n
        return 0

    cdef int maybe_pause_protocol(self) except -1:
        if self.write_size <= self.high_water or self.writing_paused:
            return 0
        self.writing_paused = True
        return tell_protocol_flow(self.loop, self.transport, self.protocol,
                                  True)

    cdef int maybe_resume_protocol(self) except -1:
        if not self.writing_paused or self.write_size > self.low_water:
            return 0
        self.writing_paused = False
        return tell_protocol_flow(self.loop, self.transport, self.protocol,
                                  False)

    # -- closing -----------------------------------------------------------

    cdef int fatal_error(self, object exc, str message) except -1:
        # OSErrors are the peer's doing: logged in debug mode only.
        if isinstance(exc, OSError):
            if self.loop._debug:
                base_events.logger.debug("%r: %s", self.transport, message,
                                         exc_info=True)
        else:
            self.loop.call_exception_handler({
                'message': message,
                'exception': exc,
                'transport': self.transport,
                'protocol': self.protocol,
            })
        return self.force_close(exc)

    cdef int force_close(self, object exc) except -1:
        if self.conn_lost:
            return 0
        if self.write_size:
            self.clear_write_queue()
            self.loop._unwatch(self.fd, self, True)
        if not self.closing:
            self.closing = True
            self.stop_reading()
        self.conn_lost += 1
        self.loop.call_soon(self.call_connection_lost, exc)
        return 0

    cdef int close(self) except -1:
        if self.closing:
            return 0
        self.closing = True
        self.stop_reading()
        if self.write_size == 0:
            self.conn_lost += 1
            self.loop._unwatch(self.fd, self, True)
            self.loop.call_soon(self.call_connection_lost, None)
        return 0

    def call_connection_lost(self, exc):
        transport = self.transport
        try:
            if self.protocol_connected:
                self.protocol.connection_lost(exc)
        finally:
            # The fd leaves the poller before it is closed, so its number
            # can be reused at once without inheriting our registration.
            self.loop._poller.forget_fd(self.fd)
            self.sock.close()
            self.loop._connections -= 1
            self.sock = None
            self.protocol = None
            self.transport = None
            if (self.empty_waiter is not None and
                    not self.empty_waiter.done()):
                # A sendfile() waiting for the buffer to drain (asyncio's
                # message).
                self.empty_waiter.set_exception(
                    ConnectionError('Connection is closed by peer'))
            server = self.server
            if server is not None:
                self.server = None
                server_detach(server, transport)

    def begin_reading(self):
        if not self.closing and not self.paused:
            self.start_reading()


cdef add_socket_extra(dict extra, sock):
    """The extra info every socket transport has: socket, sockname and
    peername (None when the socket cannot tell)."""
    extra['socket'] = trsock.TransportSocket(sock)
    try:
        extra['sockname'] = sock.getsockname()
    except OSError:
        extra['sockname'] = None
    if 'peername' not in extra:
        try:
            extra['peername'] = sock.getpeername()
        except OSError:
            extra['peername'] = None


class SocketTransport(transports._FlowControlMixin):
    """A stream socket transport (TCP or Unix) of loop.EventLoop.

    A _FlowControlMixin (an asyncio.Transport) as asyncio's own: its
    sendfile fallback requires one.  The mixin's slots stay unused: the
    state is the core's, and the properties below shadow them.
    """

    # __dict__: asyncio's transports take attributes (mock.patch.object on
    # a transport's method is common in tests); made only when used.
    __slots__ = ('_core', '__dict__', '__weakref__')

    # What asyncio's loop methods check before using a transport.
    _start_tls_compatible = True
    _sendfile_compatible = constants._SendfileMode.TRY_NATIVE

    def __init__(self, Loop loop not None, sock, protocol, waiter=None,
                 extra=None, server=None):
        cdef StreamCore core = StreamCore.__new__(StreamCore)
        asyncio.Transport.__init__(self, extra)
        self._core = core
        core.loop = loop
        core.sock = sock
        core.sock_methods = type(sock) is not socket_class
        core.fd = sock.fileno()
        core.transport = self
        core.extra = self._extra
        add_socket_extra(core.extra, sock)
        self.set_protocol(protocol)
        core.server = server
        if server is not None:
            server_attach(server, self)
        loop._transports[core.fd] = self
        loop._connections += 1
        base_events._set_nodelay(sock)
        # As asyncio: the protocol's own method is the handle (an error in it
        # is reported under its name), then reading starts.
        loop.call_soon(protocol.connection_made, self)
        loop.call_soon(core.begin_reading)
        if waiter is not None:
            loop.call_soon(futures._set_result_unless_cancelled, waiter, None)

    def __repr__(self):
        cdef StreamCore core = self._core
        cdef FdWatcher w
        info = [type(self).__name__]
        if core.sock is None:
            info.append('closed')
        elif core.closing:
            info.append('closing')
        info.append(f'fd={core.fd}')
        if not core.loop._closed and core.sock is not None:
            w = core.loop._poller.lookup(core.fd)
            reading = w is not None and w.io_reader is core
            writing = w is not None and w.io_writer is core
            info.append('read=polling' if reading else 'read=idle')
            info.append(f'write=<{"polling" if writing else "idle"}, '
                        f'bufsize={core.write_size}>')
        return '<{}>'.format(' '.join(info))

    def __del__(self, _warn=warnings.warn):
        cdef StreamCore core = self._core
        if core.sock is not None:
            _warn(f"unclosed transport {self!r}", ResourceWarning,
                  source=self)
            core.loop._poller.forget_fd(core.fd)
            core.sock.close()
            core.sock = None

    # -- BaseTransport -----------------------------------------------------
    # get_extra_info() is BaseTransport's, as on asyncio's transports: tests
    # patch it there (websockets' do).

    def is_closing(self):
        return (<StreamCore>self._core).closing

    def close(self):
        (<StreamCore>self._core).close()

    def set_protocol(self, protocol):
        cdef StreamCore core = self._core
        core.buffered = isinstance(protocol, asyncio.BufferedProtocol)
        core.protocol = protocol
        core.protocol_connected = True

    def get_protocol(self):
        return (<StreamCore>self._core).protocol

    # -- ReadTransport -----------------------------------------------------

    def is_reading(self):
        cdef StreamCore core = self._core
        return not core.closing and not core.paused

    def pause_reading(self):
        cdef StreamCore core = self._core
        if core.closing or core.paused:
            return
        core.paused = True
        core.stop_reading()
        if core.loop._debug:
            base_events.logger.debug("%r pauses reading", self)

    def resume_reading(self):
        cdef StreamCore core = self._core
        if core.closing or not core.paused:
            return
        core.paused = False
        core.start_reading()
        if core.loop._debug:
            base_events.logger.debug("%r resumes reading", self)

    # -- WriteTransport ----------------------------------------------------

    def write(self, data):
        (<StreamCore>self._core).write(data)

    def writelines(self, list_of_data):
        (<StreamCore>self._core).writelines(list_of_data)

    def write_eof(self):
        cdef StreamCore core = self._core
        if core.closing or core.eof_written:
            return
        core.eof_written = True
        if core.write_size == 0:
            core.sock.shutdown(socket_SHUT_WR)

    def can_write_eof(self):
        return True

    def abort(self):
        (<StreamCore>self._core).force_close(None)

    def get_write_buffer_size(self):
        return (<StreamCore>self._core).write_size

    def get_write_buffer_limits(self):
        cdef StreamCore core = self._core
        return (core.low_water, core.high_water)

    def set_write_buffer_limits(self, high=None, low=None):
        cdef StreamCore core = self._core
        core.high_water, core.low_water = checked_write_limits(high, low)
        core.maybe_pause_protocol()

    # -- what asyncio's loop-level helpers expect of a socket transport ---

    @property
    def _sock(self):
        return (<StreamCore>self._core).sock

    @property
    def _sock_fd(self):
        return (<StreamCore>self._core).fd

    @property
    def _loop(self):
        return (<StreamCore>self._core).loop

    @property
    def _protocol(self):
        return (<StreamCore>self._core).protocol

    @property
    def _closing(self):
        return (<StreamCore>self._core).closing

    # 3.10's sslproto reads these two of its raw transport.

    @property
    def _protocol_paused(self):
        return (<StreamCore>self._core).writing_paused

    @property
    def _paused(self):
        return (<StreamCore>self._core).paused

    def _make_empty_waiter(self):
        cdef StreamCore core = self._core
        if core.empty_waiter is not None:
            raise RuntimeError("Empty waiter is already set")
        core.empty_waiter = core.loop.create_future()
        if core.write_size == 0:
            core.empty_waiter.set_result(None)
        return core.empty_waiter

    def _reset_empty_waiter(self):
        (<StreamCore>self._core).empty_waiter = None

    def _force_close(self, exc):
        (<StreamCore>self._core).force_close(exc)
