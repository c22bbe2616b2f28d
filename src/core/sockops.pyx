# The sock_* coroutines, and the accept loop of servers.
#
# Each operation first tries the socket's method, which is what asyncio
# calls (on a plain socket, recv() and sock_sendall's send() are the
# syscalls themselves); only on EAGAIN does it create a future and a
# waiter that the poller calls directly when the socket is ready (no
# Handle, no queued callback).  The waiter leaves the poller when the
# operation completes, and the coroutine's `finally` makes sure it also
# leaves when the awaiting task is cancelled, before the caller can close
# or reuse the socket.  They are module-level functions taking the loop as
# `self`; loop.EventLoop binds them as methods.


cdef int check_socket(Loop loop, object sock) except -1:
    # (The type test first: isinstance() of a plain socket looks up its
    # __class__ attribute before it can say no.)
    if (type(sock) is not socket_class and ssl_SSLSocket is not None and
            isinstance(sock, ssl_SSLSocket)):
        raise TypeError("Socket cannot be of type SSLSocket")
    if loop._debug and sock.gettimeout() != 0:
        raise ValueError("the socket must be non-blocking")
    return 0


cdef class SockWaiter(IOWatcher):
    """One pending sock_* operation on one socket."""
    cdef:
        Loop loop
        object sock
        int fd
        object fut
        bint write

    cdef int wait_for(self, Loop loop, object sock, bint write) except -1:
        self.loop = loop
        self.sock = sock
        self.fd = sock.fileno()
        self.write = write
        self.fut = loop.create_future()
        loop._check_fd_free(self.fd, self.fd)
        loop._watch(self.fd, sock, self, write)
        return 0

    cdef int done(self) except -1:
        self.loop._unwatch(self.fd, self, self.write)
        return 0

    cdef int on_readable(self) except -1:
        return self.on_ready()

    cdef int on_writable(self) except -1:
        return self.on_ready()

    cdef int on_ready(self) except -1:
        if self.fut.done():
            return self.done()
        try:
            self.attempt()
        except (BlockingIOError, InterruptedError):
            return 0
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:
            self.done()
            self.fut.set_exception(exc)
        return 0

    cdef attempt(self):
        raise NotImplementedError


cdef class RecvWaiter(SockWaiter):
    cdef Py_ssize_t nbytes

    cdef attempt(self):
        if type(self.sock) is socket_class:
            data = sock_recv_now(self.fd, self.nbytes)
        else:
            data = self.sock.recv(self.nbytes)
        if data is not None:
            self.done()
            self.fut.set_result(data)


cdef class RecvIntoWaiter(SockWaiter):
    cdef object buf

    cdef attempt(self):
        n = self.sock.recv_into(self.buf)
        self.done()
        self.fut.set_result(n)


cdef class RecvFromWaiter(SockWaiter):
    cdef object bufsize

    cdef attempt(self):
        result = self.sock.recvfrom(self.bufsize)
        self.done()
        self.fut.set_result(result)


cdef class RecvFromIntoWaiter(SockWaiter):
    cdef object buf
    cdef object nbytes

    cdef attempt(self):
        result = self.sock.recvfrom_into(self.buf, self.nbytes)
        self.done()
        self.fut.set_result(result)


cdef class SendAllWaiter(SockWaiter):
    cdef object view
    cdef Py_ssize_t sent

    cdef attempt(self):
        self.sent += self.sock.send(self.view[self.sent:])
        if self.sent == len(self.view):
            self.done()
            self.fut.set_result(None)


cdef class SendToWaiter(SockWaiter):
    cdef object data
    cdef object address

    cdef attempt(self):
        n = self.sock.sendto(self.data, self.address)
        self.done()
        self.fut.set_result(n)


cdef class ConnectWaiter(SockWaiter):
    cdef object address

    cdef attempt(self):
        err = self.sock.getsockopt(SOL_SOCKET, SO_ERROR)
        self.done()
        if err != 0:
            raise OSError(err, f'Connect call failed {self.address}')
        self.fut.set_result(None)


cdef class AcceptWaiter(SockWaiter):

    cdef attempt(self):
        conn, address = self.sock.accept()
        self.done()
        conn.setblocking(False)
        self.fut.set_result((conn, address))


cdef Py_ssize_t sock_send_now(int fd, object data,
                              Py_ssize_t *size) except -1:
    """One send() of `data` (a bytes-like object, as socket.send takes);
    the bytes sent, 0 when it would block.  Sets *size to data's size."""
    cdef Py_buffer view
    cdef ssize_t n
    cdef int err
    PyObject_GetBuffer(data, &view, PyBUF_SIMPLE)
    size[0] = view.len
    n = send(fd, view.buf, view.len, 0)
    err = errno
    PyBuffer_Release(&view)
    if n >= 0:
        return n
    if err == EAGAIN or err == EINTR:
        return 0
    raise os_error(err)


cdef object sock_recv_now(int fd, Py_ssize_t nbytes):
    """recv() into a new bytes object; None when it would block."""
    if nbytes < 0:
        raise ValueError("negative buffersize in recv")
    if nbytes == 0:
        return b''      # socket.recv(0) does not wait either (recv() would)
    data = recv_bytes(fd, nbytes, nbytes >= LARGE_READ)
    if data is not None:
        return data
    if errno == EAGAIN or errno == EINTR:
        return None
    raise os_error(errno)


async def _wait(SockWaiter waiter):
    try:
        return await waiter.fut
    finally:
        if not waiter.fut.done() or waiter.fut.cancelled():
            waiter.done()


async def sock_recv(Loop self, sock, n):
    check_socket(self, sock)
    cdef Py_ssize_t nbytes = n
    if type(sock) is socket_class:
        data = sock_recv_now(sock.fileno(), nbytes)
        if data is not None:
            return data
    else:
        # A subclass may override recv(), which asyncio calls: so do we.
        try:
            return sock.recv(n)
        except (BlockingIOError, InterruptedError):
            pass
    cdef RecvWaiter waiter = RecvWaiter.__new__(RecvWaiter)
    waiter.nbytes = nbytes
    waiter.wait_for(self, sock, False)
    return await _wait(waiter)


async def sock_recv_into(Loop self, sock, buf):
    check_socket(self, sock)
    try:
        return sock.recv_into(buf)
    except (BlockingIOError, InterruptedError):
        pass
    cdef RecvIntoWaiter waiter = RecvIntoWaiter.__new__(RecvIntoWaiter)
    waiter.buf = buf
    waiter.wait_for(self, sock, False)
    return await _wait(waiter)


async def sock_recvfrom(Loop self, sock, bufsize):
    check_socket(self, sock)
    try:
        return sock.recvfrom(bufsize)
    except (BlockingIOError, InterruptedError):
        pass
    cdef RecvFromWaiter waiter = RecvFromWaiter.__new__(RecvFromWaiter)
    waiter.bufsize = bufsize
    waiter.wait_for(self, sock, False)
    return await _wait(waiter)


async def sock_recvfrom_into(Loop self, sock, buf, nbytes=0):
    check_socket(self, sock)
    if not nbytes:
        nbytes = len(buf)
    try:
        return sock.recvfrom_into(buf, nbytes)
    except (BlockingIOError, InterruptedError):
        pass
    cdef RecvFromIntoWaiter waiter = RecvFromIntoWaiter.__new__(
        RecvFromIntoWaiter)
    waiter.buf = buf
    waiter.nbytes = nbytes
    waiter.wait_for(self, sock, False)
    return await _wait(waiter)


async def sock_sendall(Loop self, sock, data):
    check_socket(self, sock)
    cdef Py_ssize_t n, size = -1
    if type(sock) is socket_class:
        n = sock_send_now(sock.fileno(), data, &size)
        if n == size:
            return
    else:
        # A subclass may override send(), which asyncio calls: so do we.
        try:
            n = sock.send(data)
        except (BlockingIOError, InterruptedError):
            n = 0
    view = memoryview(data)
    if n == view.nbytes:
        return
    cdef SendAllWaiter waiter = SendAllWaiter.__new__(SendAllWaiter)
    waiter.view = view.cast('B')
    waiter.sent = n
    waiter.wait_for(self, sock, True)
    return await _wait(waiter)


async def sock_sendto(Loop self, sock, data, address):
    check_socket(self, sock)
    try:
        return sock.sendto(data, address)
    except (BlockingIOError, InterruptedError):
        pass
    cdef SendToWaiter waiter = SendToWaiter.__new__(SendToWaiter)
    waiter.data = data
    waiter.address = address
    waiter.wait_for(self, sock, True)
    return await _wait(waiter)


async def sock_connect(Loop self, sock, address):
    check_socket(self, sock)
    if sock.family == AF_INET or (HAS_IPV6 and sock.family == AF_INET6):
        resolved = await self._ensure_resolved(
            address, family=sock.family, type=sock.type, proto=sock.proto,
            loop=self)
        _, _, _, _, address = resolved[0]
    try:
        sock.connect(address)
        return
    except (BlockingIOError, InterruptedError):
        pass
    cdef ConnectWaiter waiter = ConnectWaiter.__new__(ConnectWaiter)
    waiter.address = address
    waiter.wait_for(self, sock, True)
    return await _wait(waiter)


async def sock_accept(Loop self, sock):
    check_socket(self, sock)
    try:
        conn, address = sock.accept()
        conn.setblocking(False)
        return conn, address
    except (BlockingIOError, InterruptedError):
        pass
    cdef AcceptWaiter waiter = AcceptWaiter.__new__(AcceptWaiter)
    waiter.wait_for(self, sock, False)
    return await _wait(waiter)


# -- servers ----------------------------------------------------------------

cdef class Listener(IOWatcher):
    """Accepts connections on a server socket and makes their transports."""
    cdef:
        Loop loop
        object sock
        int fd
        object protocol_factory
        object sslcontext
        object server
        int backlog
        object ssl_handshake_timeout
        object ssl_shutdown_timeout

    cdef int on_readable(self) except -1:
        cdef int _
        loop = self.loop
        # Several connections may be waiting: accept up to `backlog` of them
        # per readiness event, as asyncio does (bpo-27906).
        for _ in range(self.backlog):
            try:
                conn, addr = self.sock.accept()
                if loop._debug:
                    base_events.logger.debug(
                        "%r got a new connection from %r: %r",
                        self.server, addr, conn)
                conn.setblocking(False)
            except (BlockingIOError, InterruptedError, ConnectionAbortedError):
                return 0
            except OSError as exc:
                if exc.errno in (errno_EMFILE, errno_ENFILE, errno_ENOBUFS,
                                 errno_ENOMEM):
                    # Out of fds or memory: the socket stays readable, so
                    # stop watching it for a while instead of spinning.
                    loop.call_exception_handler({
                        'message': 'socket.accept() out of system resource',
                        'exception': exc,
                        'socket': trsock.TransportSocket(self.sock),
                    })
                    loop._unwatch(self.fd, self, False)
                    loop.call_later(constants.ACCEPT_RETRY_DELAY,
                                    self.resume)
                    return 0
                raise
            else:
                self.make_transport(conn, addr)
        return 0

    def resume(self):
        if self.sock is not None and self.sock.fileno() == self.fd:
            self.loop._watch(self.fd, self.sock, self, False)

    cdef int make_transport(self, conn, addr) except -1:
        extra = {'peername': addr}
        if self.sslcontext is not None:
            # TLS needs the handshake awaited: asyncio's own coroutine.
            args = [self.protocol_factory, conn, extra, self.sslcontext,
                    self.server, self.ssl_handshake_timeout]
            if HAS_SSL_SHUTDOWN_TIMEOUT:
                args.append(self.ssl_shutdown_timeout)
            self.loop.create_task(self.loop._accept_connection2(*args))
            return 0
        protocol = None
        # Each connection is made in a copy of the listener's context, as
        # asyncio makes it in a task of its own.
        conn_context = PyContext_CopyCurrent()
        PyContext_Enter(conn_context)
        try:
            protocol = self.protocol_factory()
            SocketTransport(self.loop, conn, protocol, None, extra,
                            self.server)
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:
            conn.close()
            # asyncio reports a failed transport creation only in debug
            # mode (it drops the connection silently otherwise).
            if not self.loop._debug:
                return 0
            context = {
                'message': 'Error on transport creation for incoming '
                           'connection',
                'exception': exc,
            }
            if protocol is not None:
                context['protocol'] = protocol
            self.loop.call_exception_handler(context)
        finally:
            PyContext_Exit(conn_context)
        return 0


def _start_serving(Loop self, protocol_factory, sock, sslcontext=None,
                   server=None, backlog=100, ssl_handshake_timeout=None,
                   ssl_shutdown_timeout=None):
    cdef Listener listener = Listener.__new__(Listener)
    listener.loop = self
    listener.sock = sock
    listener.fd = sock.fileno()
    listener.protocol_factory = protocol_factory
    listener.sslcontext = sslcontext
    listener.server = server
    listener.backlog = backlog
    listener.ssl_handshake_timeout = ssl_handshake_timeout
    listener.ssl_shutdown_timeout = ssl_shutdown_timeout
    # Accepting runs in a copy of this context (asyncio's add_reader).
    listener.read_context = PyContext_CopyCurrent()
    self._watch(listener.fd, sock, listener, False)


def _stop_serving(Loop self, sock):
    self._poller.forget_fd(sock.fileno())
    sock.close()


def _remove_socket_file(path, ino):
    """Unlink the file at `path` if its inode is still `ino`: what a 3.13
    Unix server does to its socket file when it closes.

    Raises what os.stat or os.unlink would.  stat() and unlink() are called
    directly, not through `os`: blocking-call detectors (blockbuster, which
    aiohttp's tests use) allow os.stat and os.unlink in the loop's thread
    only when asyncio's own _stop_serving calls them, and would report the
    same calls from our loop as blocking."""
    cdef bytes encoded = os.fsencode(path)
    cdef struct_stat st
    cdef int code
    if posix_stat(encoded, &st) < 0:
        code = errno
        raise OSError(code, os_strerror(code), path)
    if st.st_ino != ino:
        return
    if posix_unlink(encoded) < 0:
        code = errno
        raise OSError(code, os_strerror(code), path)
