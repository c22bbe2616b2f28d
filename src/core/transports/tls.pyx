# TLS over a stream transport: asyncio's SSLProtocol, compiled.
#
# The design is asyncio's (3.11+, Lib/asyncio/sslproto.py): the raw
# transport's protocol feeds the ciphertext it reads into an incoming
# ssl.MemoryBIO, an ssl.SSLObject decrypts it for the application protocol,
# and what the application writes is encrypted into an outgoing MemoryBIO
# whose contents go to the raw transport.  A state machine (UNWRAPPED ->
# DO_HANDSHAKE -> WRAPPED -> FLUSHING -> SHUTDOWN -> UNWRAPPED) drives the
# handshake, close_notify and the timeouts.  Every protocol call, state
# change, exception and message follows asyncio's step for step; see the
# tests (tests/test_tls.py) and CPython's own test_ssl / test_sslproto.
#
# Three objects, as in SocketTransport (stream.pyx):
#   SSLProtocol   the raw transport's protocol (an asyncio.BufferedProtocol,
#                 so the raw transport reads straight into our buffer);
#   SSLTransport  what the application gets (an asyncio.Transport);
#   TLSCore       the cdef engine both forward to.
# Python 3.10's asyncio has a different TLS machine (no read flow control,
# no eof_received() on close_notify, no shutdown timeout); on 3.10 the loop
# keeps using it (_eventloop.py), these classes serve 3.11+.
#
# What is faster than asyncio's and uvloop's, without changing behaviour:
# - no Python frame per SSL call: the hot path calls the C methods of the
#   _ssl object under a plain ssl.SSLObject, bound once;
# - no SSLWantReadError per read: asyncio reads until OpenSSL raises it
#   (an exception costs more than decrypting a small record); we stop when
#   neither the incoming BIO nor OpenSSL holds bytes (see has_plaintext);
# - decrypted data is read into the connection's buffer and copied once
#   into a bytes object of its exact size, instead of allocating max_size
#   bytes per read and shrinking them;
# - writes to our own SocketTransport skip its Python method;
# - over our SocketTransport the SSLObject's MemoryBIOs are replaced by
#   our BIO (cipherbio.pyx): the socket is read straight into the buffer
#   OpenSSL reads records from, and the records OpenSSL writes are sent
#   from its buffer, with none of the MemoryBIOs' zeroing and copies.

try:
    import ssl as ssl_module
except ImportError:     # an interpreter built without OpenSSL
    ssl_module = None

from asyncio import sslproto as stdlib_sslproto
from asyncio import transports as asyncio_transports
import types

cdef extern from "Python.h":
    object PyMemoryView_FromMemory(char *mem, Py_ssize_t size, int flags)
    int PyBUF_READ
    int PyBUF_WRITE
    int PyBUF_FORMAT
    int PyBUF_ND
    int PyBUF_STRIDES
    object PyByteArray_FromStringAndSize(const char *string, Py_ssize_t len)


cdef enum:
    # Bytes read from the socket per readiness event: asyncio's
    # SSLProtocol.max_size.
    TLS_BUFFER_SIZE = 256 * 1024
    # Most plaintext asked of one SSLObject.read() (a record holds at most
    # 16 KiB): the bytes object it allocates stays below malloc's mmap
    # threshold, so shrinking it to the size read is done in place.
    TLS_READ_MAX = 64 * 1024

# asyncio's SSLProtocolState.
cdef enum:
    TLS_UNWRAPPED
    TLS_DO_HANDSHAKE
    TLS_WRAPPED
    TLS_FLUSHING
    TLS_SHUTDOWN

# asyncio's AppProtocolState: INIT -> CON_MADE [-> EOF] -> CON_LOST.
cdef enum:
    APP_INIT
    APP_CON_MADE
    APP_EOF
    APP_CON_LOST

cdef object SSLError, CertificateError, SSLAgainErrors
cdef object ssl_SSLObject, ssl_MemoryBIO
if ssl_module is not None:
    SSLError = ssl_module.SSLError
    CertificateError = ssl_module.CertificateError
    # What asyncio treats as "try again when more data came".
    SSLAgainErrors = (ssl_module.SSLWantReadError, ssl_module.SSLSyscallError)
    ssl_SSLObject = ssl_module.SSLObject
    ssl_MemoryBIO = ssl_module.MemoryBIO
else:
    SSLError = CertificateError = ssl_SSLObject = ssl_MemoryBIO = None
    SSLAgainErrors = ()

# The names RuntimeError('cannot switch state ...') shows: asyncio's enum
# members where it has them (3.11+).
cdef tuple STATE_NAMES
_stdlib_states = getattr(stdlib_sslproto, 'SSLProtocolState', None)
if _stdlib_states is not None:
    STATE_NAMES = (_stdlib_states.UNWRAPPED, _stdlib_states.DO_HANDSHAKE,
                   _stdlib_states.WRAPPED, _stdlib_states.FLUSHING,
                   _stdlib_states.SHUTDOWN)
else:
    STATE_NAMES = ('UNWRAPPED', 'DO_HANDSHAKE', 'WRAPPED', 'FLUSHING',
                   'SHUTDOWN')

# asyncio's defaults (3.10's constants lack the last three).
cdef object SSL_HANDSHAKE_TIMEOUT = constants.SSL_HANDSHAKE_TIMEOUT
cdef object SSL_SHUTDOWN_TIMEOUT = getattr(constants, 'SSL_SHUTDOWN_TIMEOUT',
                                           30.0)
cdef Py_ssize_t HIGH_WATER_SSL_READ_KB = getattr(
    constants, 'FLOW_CONTROL_HIGH_WATER_SSL_READ', 256)
cdef Py_ssize_t HIGH_WATER_SSL_WRITE_KB = getattr(
    constants, 'FLOW_CONTROL_HIGH_WATER_SSL_WRITE', 512)
cdef Py_ssize_t CONNLOST_WRITES_BEFORE_SSL_WARNING = \
    constants.LOG_THRESHOLD_FOR_CONNLOST_WRITES

# 3.12 made SSLProtocol._abort() pass its exception on to the raw
# transport's _force_close(); 3.11 calls the raw transport's abort().
cdef bint ABORT_PASSES_EXCEPTION = sys.version_info >= (3, 12)


@cython.final
cdef class BufferSpan:
    """Memory (a pointer and a length) handed to a C function of the ssl
    module through the buffer protocol: one object per connection, reused
    for every call, where a memoryview would be allocated per call.  The
    ssl module's functions release the buffer before they return."""

    cdef inline BufferSpan of(self, char *ptr, Py_ssize_t length,
                              bint readonly):
        self.ptr = ptr
        self.length = length
        self.readonly = readonly
        return self

    def __getbuffer__(self, Py_buffer *view, int flags):
        if flags & PyBUF_WRITABLE and self.readonly:
            raise BufferError('read-only span')
        view.buf = self.ptr
        view.obj = self
        view.len = self.length
        view.readonly = self.readonly
        view.itemsize = 1
        view.format = NULL
        if flags & PyBUF_FORMAT:
            view.format = 'B'
        view.ndim = 1
        view.shape = NULL
        if flags & PyBUF_ND:
            view.shape = &view.len
        view.strides = NULL
        if flags & PyBUF_STRIDES == PyBUF_STRIDES:
            view.strides = &view.itemsize
        view.suboffsets = NULL
        view.internal = NULL


cdef tuple flow_control_limits(object high, object low, Py_ssize_t kb):
    """(high, low) from set_*_buffer_limits()'s arguments: asyncio's
    sslproto defaults (kb KiB) and check."""
    if high is None:
        if low is None:
            high = kb * 1024
        else:
            high = 4 * low
    if low is None:
        low = high // 4
    if not high >= low >= 0:
        raise ValueError('high (%r) must be >= low (%r) must be >= 0' %
                         (high, low))
    return high, low


cdef class TLSCore:

    def __cinit__(self):
        self.write_backlog = []
        self.span = BufferSpan.__new__(BufferSpan)
        if LOOP_DEBUG:
            live_objects.transports += 1

    def __dealloc__(self):
        if self.cipher_bio != NULL:
            release_cipher_bio(self.cipher_bio)
        if LOOP_DEBUG:
            live_objects.transports -= 1

    cdef int set_app_protocol(self, object app_protocol) except -1:
        self.app_protocol = app_protocol
        if (hasattr(app_protocol, 'get_buffer') and
                isinstance(app_protocol, asyncio.BufferedProtocol)):
            self.app_get_buffer = app_protocol.get_buffer
            self.app_buffer_updated = app_protocol.buffer_updated
            self.app_is_buffered = True
        else:
            self.app_get_buffer = self.app_buffer_updated = None
            self.app_is_buffered = False
        return 0

    cdef int wakeup_waiter(self, object exc) except -1:
        waiter = self.waiter
        if waiter is None:
            return 0
        if not waiter.cancelled():
            if exc is not None:
                waiter.set_exception(exc)
            else:
                waiter.set_result(None)
        self.waiter = None
        return 0

    cdef object get_app_transport(self):
        if self.app_transport is None:
            if self.app_transport_created:
                raise RuntimeError('Creating _SSLProtocolTransport twice')
            self.app_transport = SSLTransport(self.loop, self.wrapper, self)
            self.app_transport_created = True
        return self.app_transport

    # -- the raw transport's protocol ----------------------------------------

    cdef int connection_made(self, object transport) except -1:
        self.transport = transport
        if type(transport) is SocketTransport:
            self.raw_core = transport._core
            # Our transport reads into get_buffer()'s memory and lets go
            # of it before buffer_updated(): the cipher BIO's buffers can
            # be lent to it.
            self.cipher_bio = attach_cipher_bio(self.sslobj, self.incoming,
                                                self.outgoing)
            if self.cipher_bio != NULL:
                self.cipher = cipher_buffers(self.cipher_bio)
                self.buffer = self.buffer_view = None
                self.buffer_ptr = NULL
        self.start_handshake()
        return 0

    cdef object get_buffer(self):
        """Where the raw transport reads ciphertext to."""
        cdef CipherBuffers *bufs = self.cipher
        cdef char *space
        if bufs == NULL:
            return self.buffer_view
        if bufs.in_end != 0 or bufs.in_size < TLS_BUFFER_SIZE:
            space = incoming_space(bufs, TLS_BUFFER_SIZE)
            if bufs.in_end != 0:    # after unread ciphertext: a new view
                return PyMemoryView_FromMemory(space, TLS_BUFFER_SIZE,
                                               PyBUF_WRITE)
        # The common case, all read: one view of the buffer, reused.
        if self.cipher_view_ptr != bufs.incoming:
            self.cipher_view = PyMemoryView_FromMemory(
                bufs.incoming, TLS_BUFFER_SIZE, PyBUF_WRITE)
            self.cipher_view_ptr = bufs.incoming
        return self.cipher_view

    cdef Py_ssize_t incoming_pending(self) except -1:
        if self.cipher != NULL:
            return self.cipher.in_end - self.cipher.in_start
        return self.incoming.pending

    cdef Py_ssize_t outgoing_pending(self) except -1:
        if self.cipher != NULL:
            return self.cipher.out_len
        return self.outgoing.pending

    cdef object take_outgoing(self):
        """The outgoing ciphertext, as bytes, no longer pending."""
        cdef CipherBuffers *bufs = self.cipher
        if bufs == NULL:
            return self.outgoing_read()
        data = PyBytes_FromStringAndSize(bufs.outgoing, bufs.out_len)
        bufs.out_len = 0
        return data

    cdef int connection_lost(self, object exc) except -1:
        del self.write_backlog[:]
        if self.outgoing_pending():
            self.take_outgoing()
        self.conn_lost += 1
        if self.app_transport is not None:
            self.closed = True
        if self.state != TLS_DO_HANDSHAKE:
            if (self.app_state == APP_CON_MADE or
                    self.app_state == APP_EOF):
                self.app_state = APP_CON_LOST
                self.loop.call_soon(self.app_protocol.connection_lost, exc)
        self.set_state(TLS_UNWRAPPED)
        self.transport = None
        self.raw_core = None
        self.app_transport = None
        self.app_protocol = None
        self.app_get_buffer = self.app_buffer_updated = None
        self.wakeup_waiter(exc)
        if self.shutdown_timeout_handle is not None:
            self.shutdown_timeout_handle.cancel()
            self.shutdown_timeout_handle = None
        if self.handshake_timeout_handle is not None:
            self.handshake_timeout_handle.cancel()
            self.handshake_timeout_handle = None
        # Nothing refers back to the protocol from here on: the SSLProtocol
        # and the SSLTransport are freed by reference counting, without
        # waiting for the garbage collector (as asyncio's are).
        self.wrapper = None
        return 0

    cdef int buffer_updated(self, Py_ssize_t nbytes) except -1:
        # asyncio writes buffer[:nbytes]: the same bounds as a slice.
        if nbytes > TLS_BUFFER_SIZE:
            nbytes = TLS_BUFFER_SIZE
        elif nbytes < 0:
            nbytes = max(0, TLS_BUFFER_SIZE + nbytes)
        if self.cipher != NULL:
            # The bytes are already in place (get_buffer()).
            self.cipher.in_end += min(nbytes,
                                      self.cipher.in_size - self.cipher.in_end)
        else:
            self.incoming_write(self.span.of(self.buffer_ptr, nbytes, True))
        if self.state == TLS_WRAPPED:
            self.do_read()
        elif self.state == TLS_DO_HANDSHAKE:
            self.do_handshake()
        elif self.state == TLS_FLUSHING:
            self.do_flush()
        elif self.state == TLS_SHUTDOWN:
            self.do_shutdown()
        return 0

    cdef object on_eof(self):
        self.eof_received = True
        try:
            if self.loop.get_debug():
                base_events.logger.debug("%r received EOF", self.wrapper)
            if self.state == TLS_DO_HANDSHAKE:
                self.on_handshake_complete(ConnectionResetError)
            elif self.state == TLS_WRAPPED:
                self.set_state(TLS_FLUSHING)
                if self.app_reading_paused:
                    return True
                self.do_flush()
            elif self.state == TLS_FLUSHING:
                self.do_write()
                self.set_state(TLS_SHUTDOWN)
                self.do_shutdown()
            elif self.state == TLS_SHUTDOWN:
                self.do_shutdown()
        except Exception:
            self.transport.close()
            raise
        return None

    cdef object get_extra_info(self, object name, object default):
        if name in self.extra:
            return self.extra[name]
        if self.transport is not None:
            return self.transport.get_extra_info(name, default)
        return default

    cdef int set_state(self, int new_state) except -1:
        cdef int old = self.state
        if (new_state == TLS_UNWRAPPED or
                (old == TLS_UNWRAPPED and new_state == TLS_DO_HANDSHAKE) or
                (old == TLS_DO_HANDSHAKE and new_state == TLS_WRAPPED) or
                (old == TLS_WRAPPED and new_state == TLS_FLUSHING) or
                (old == TLS_FLUSHING and new_state == TLS_SHUTDOWN)):
            self.state = new_state
            return 0
        raise RuntimeError('cannot switch state from {} to {}'.format(
            STATE_NAMES[old], STATE_NAMES[new_state]))

    # -- handshake -----------------------------------------------------------

    cdef int start_handshake(self) except -1:
        if self.loop.get_debug():
            base_events.logger.debug("%r starts SSL handshake", self.wrapper)
            self.handshake_start_time = self.loop.time()
        else:
            self.handshake_start_time = None
        self.set_state(TLS_DO_HANDSHAKE)
        self.handshake_timeout_handle = self.loop.call_later(
            self.handshake_timeout, self.check_handshake_timeout)
        self.do_handshake()
        return 0

    def check_handshake_timeout(self):
        if self.state == TLS_DO_HANDSHAKE:
            msg = (f"SSL handshake is taking longer than "
                   f"{self.handshake_timeout} seconds: "
                   f"aborting the connection")
            self.fatal_error(ConnectionAbortedError(msg),
                             'Fatal error on transport')

    cdef int do_handshake(self) except -1:
        self.outgoing_flushed = False
        try:
            self.ssl_do_handshake()
        except SSLAgainErrors:
            self.process_outgoing()
        except SSLError as exc:
            self.on_handshake_complete(exc)
        else:
            self.on_handshake_complete(None)
        return 0

    cdef int on_handshake_complete(self, object handshake_exc) except -1:
        if self.handshake_timeout_handle is not None:
            self.handshake_timeout_handle.cancel()
            self.handshake_timeout_handle = None
        sslobj = self.sslobj
        try:
            if handshake_exc is None:
                self.set_state(TLS_WRAPPED)
            else:
                raise handshake_exc
            peercert = sslobj.getpeercert()
        except Exception as exc:
            handshake_exc = None
            self.set_state(TLS_UNWRAPPED)
            if isinstance(exc, CertificateError):
                msg = 'SSL handshake failed on verifying the certificate'
            else:
                msg = 'SSL handshake failed'
            self.fatal_error(exc, msg)
            self.wakeup_waiter(exc)
            return 0
        if self.loop.get_debug():
            dt = self.loop.time() - self.handshake_start_time
            base_events.logger.debug("%r: SSL handshake took %.1f ms",
                                     self.wrapper, dt * 1e3)
        self.extra.update(peercert=peercert, cipher=sslobj.cipher(),
                          compression=sslobj.compression(),
                          ssl_object=sslobj)
        if self.app_state == APP_INIT:
            self.app_state = APP_CON_MADE
            self.app_protocol.connection_made(self.get_app_transport())
        self.wakeup_waiter(None)
        self.do_read()
        return 0

    # -- shutdown ------------------------------------------------------------

    cdef int start_shutdown(self) except -1:
        if (self.state == TLS_FLUSHING or self.state == TLS_SHUTDOWN or
                self.state == TLS_UNWRAPPED):
            return 0
        if self.app_transport is not None:
            self.closed = True
        if self.state == TLS_DO_HANDSHAKE:
            self.abort(None)
        else:
            self.set_state(TLS_FLUSHING)
            self.shutdown_timeout_handle = self.loop.call_later(
                self.shutdown_timeout, self.check_shutdown_timeout)
            self.do_flush()
        return 0

    def check_shutdown_timeout(self):
        if self.state == TLS_FLUSHING or self.state == TLS_SHUTDOWN:
            self.raw_force_close(
                asyncio.TimeoutError('SSL shutdown timed out'))

    cdef int do_flush(self) except -1:
        self.do_read()
        self.set_state(TLS_SHUTDOWN)
        self.do_shutdown()
        return 0

    cdef int do_shutdown(self) except -1:
        self.outgoing_flushed = False
        try:
            if not self.eof_received:
                self.ssl_shutdown()
        except SSLAgainErrors:
            self.process_outgoing()
        except SSLError as exc:
            self.on_shutdown_complete(exc)
        else:
            self.process_outgoing()
            self.call_eof_received()
            self.on_shutdown_complete(None)
        return 0

    cdef int on_shutdown_complete(self, object shutdown_exc) except -1:
        if self.shutdown_timeout_handle is not None:
            self.shutdown_timeout_handle.cancel()
            self.shutdown_timeout_handle = None
        if shutdown_exc:
            self.fatal_error(shutdown_exc, 'Fatal error on transport')
        else:
            self.loop.call_soon(self.transport.close)
        return 0

    cdef int abort(self, object exc) except -1:
        self.set_state(TLS_UNWRAPPED)
        if self.transport is not None:
            if ABORT_PASSES_EXCEPTION:
                self.raw_force_close(exc)
            else:
                self.transport.abort()
        return 0

    # -- writing -------------------------------------------------------------

    cdef int write_appdata(self, object list_of_data) except -1:
        if (self.state == TLS_FLUSHING or self.state == TLS_SHUTDOWN or
                self.state == TLS_UNWRAPPED):
            if self.conn_lost >= CONNLOST_WRITES_BEFORE_SSL_WARNING:
                base_events.logger.warning('SSL connection is closed')
            self.conn_lost += 1
            return 0
        for data in list_of_data:
            self.write_backlog.append(data)
            self.write_buffer_size += len(data)
        try:
            if self.state == TLS_WRAPPED:
                self.do_write()
        except Exception as ex:
            self.fatal_error(ex, 'Fatal error on SSL protocol')
        return 0

    cdef int write_one(self, object data) except -1:
        """write_appdata((data,)) without the backlog when it is empty."""
        cdef Py_ssize_t size, count
        if self.state != TLS_WRAPPED or self.write_backlog:
            return self.write_appdata((data,))
        size = len(data)
        self.write_buffer_size += size
        self.outgoing_flushed = False
        try:
            try:
                count = self.ssl_write(data)
            except SSLAgainErrors:
                # OpenSSL wants to read first (TLS 1.2 renegotiation): keep
                # the data, as asyncio's backlog does.
                self.write_backlog.append(data)
            else:
                if count < size:
                    self.write_backlog.append(data[count:])
                    self.write_buffer_size -= count
                    self.do_write()
                    return 0
                self.write_buffer_size -= size
            self.process_outgoing()
        except Exception as ex:
            self.fatal_error(ex, 'Fatal error on SSL protocol')
        return 0

    cdef int do_write(self) except -1:
        cdef Py_ssize_t count, data_len
        cdef list backlog = self.write_backlog
        self.outgoing_flushed = False
        try:
            while backlog:
                data = backlog[0]
                count = self.ssl_write(data)
                data_len = len(data)
                if count < data_len:
                    backlog[0] = data[count:]
                    self.write_buffer_size -= count
                else:
                    del backlog[0]
                    self.write_buffer_size -= data_len
        except SSLAgainErrors:
            pass
        self.process_outgoing()
        return 0

    cdef int process_outgoing(self) except -1:
        cdef Py_ssize_t pending = self.outgoing_pending()
        if pending and not self.ssl_writing_paused:
            if self.cipher != NULL and self.raw_core is not None:
                # Sent from the BIO's buffer; only what the kernel does not
                # take is copied.
                self.raw_core.write_from(self.cipher.outgoing, pending)
                self.cipher.out_len = 0
            else:
                self.raw_write(self.take_outgoing())
            pending = 0
        # Until the next SSL call, the outgoing BIO is known to be empty
        # (or unchanged while the raw transport has paused us).
        self.outgoing_flushed = True
        return self.control_app_writing(pending + self.write_buffer_size)

    cdef int raw_write(self, object data) except -1:
        if self.raw_core is not None:
            self.raw_core.write(data)
        else:
            self.transport.write(data)
        return 0

    cdef int raw_force_close(self, object exc) except -1:
        if self.raw_core is not None:
            self.raw_core.force_close(exc)
        else:
            self.transport._force_close(exc)
        return 0

    # -- reading -------------------------------------------------------------

    cdef int do_read(self) except -1:
        if self.state != TLS_WRAPPED and self.state != TLS_FLUSHING:
            return 0
        self.incoming_seen_empty = False
        try:
            if not self.app_reading_paused:
                if self.app_is_buffered:
                    self.do_read_buffered()
                else:
                    self.do_read_copied()
                if self.write_backlog:
                    self.do_write()
                elif not self.outgoing_flushed:
                    # (When the application's write() already flushed after
                    # the last SSL call, this would find nothing to send
                    # and the same buffer size.)
                    self.process_outgoing()
            self.control_ssl_reading(0 if self.incoming_seen_empty else -1)
        except Exception as ex:
            self.fatal_error(ex, 'Fatal error on SSL protocol')
        return 0

    def do_read_later(self):
        self.do_read()

    cdef Py_ssize_t readable(self, Py_ssize_t last_read,
                             Py_ssize_t asked) except -1:
        """An upper bound of what SSLObject.read() can return now (data or
        close_notify), 0 when it would only raise SSLWantReadError.

        Bytes can come from the incoming BIO (decrypted, a record holds
        fewer bytes than its ciphertext) or from a record OpenSSL decrypted
        but did not hand out in full: only possible when the last read
        filled what it asked for (last_read == asked; pass -1, -1 before
        any read).  The ssl module creates no SSLContext with read-ahead,
        so OpenSSL takes no more ciphertext from the BIO than the record
        it decrypts: nothing else can wait inside it."""
        cdef Py_ssize_t pending = self.incoming_pending()
        if pending == 0 and last_read == asked:
            pending = self.ssl_pending()
        return pending

    cdef int do_read_copied(self) except -1:
        # All the plaintext available, in one data_received() call, as
        # asyncio does (it reads max_size chunks until SSLWantReadError
        # and joins them).  Each read asks for at most what can come, so
        # the bytes object OpenSSL fills is about the size of the data.
        cdef Py_ssize_t asked, got = 1
        cdef Py_ssize_t pending = self.readable(-1, -1)
        cdef object first = None
        cdef list chunks = None
        self.outgoing_flushed = False       # reads may answer the peer
        while pending:
            asked = pending if pending < TLS_READ_MAX else TLS_READ_MAX
            try:
                chunk = self.ssl_read(asked)
            except SSLAgainErrors:
                pending = -1
                break
            got = len(chunk)
            if got == 0:
                break       # close_notify
            if first is None:
                first = chunk
            elif chunks is None:
                chunks = [first, chunk]
            else:
                chunks.append(chunk)
            pending = self.readable(got, asked)
        if chunks is not None:
            self.app_protocol.data_received(b''.join(chunks))
        elif first is not None:
            self.app_protocol.data_received(first)
        if got == 0:
            self.call_eof_received()
            self.start_shutdown()
            return 0
        if pending == 0:
            # What the incoming BIO held at the end: reused by
            # control_ssl_reading() (nothing feeds the BIO meanwhile).
            self.incoming_seen_empty = True
        return 0

    cdef int do_read_buffered(self) except -1:
        # asyncio's: the protocol's buffer is filled by as many reads as
        # fit, then buffer_updated() once.
        cdef Py_buffer view
        cdef Py_ssize_t offset = 0, count = 1, wants, asked
        cdef char *ptr
        if not self.readable(-1, -1):
            return 0
        self.outgoing_flushed = False
        buf = self.app_get_buffer(self.incoming_pending())
        PyObject_GetBuffer(buf, &view, PyBUF_WRITABLE)
        ptr = <char *>view.buf
        wants = view.len
        try:
            try:
                count = self.ssl_read(wants, self.span.of(ptr, wants, False))
                asked = wants
                if count > 0:
                    offset = count
                    while offset < wants:
                        if not self.readable(count, asked):
                            break
                        asked = wants - offset
                        count = self.ssl_read(
                            asked, self.span.of(ptr + offset, asked, False))
                        if count > 0:
                            offset += count
                        else:
                            break
                    else:
                        # The buffer is full: more may be waiting.
                        self.loop.call_soon(self.do_read_later)
            except SSLAgainErrors:
                pass
        finally:
            PyBuffer_Release(&view)
        if offset > 0:
            self.app_buffer_updated(offset)
        if count == 0:
            self.call_eof_received()
            self.start_shutdown()
        return 0

    cdef int call_eof_received(self) except -1:
        try:
            if self.app_state == APP_CON_MADE:
                self.app_state = APP_EOF
                keep_open = self.app_protocol.eof_received()
                if keep_open:
                    base_events.logger.warning(
                        'returning true from eof_received() '
                        'has no effect when using ssl')
        except (KeyboardInterrupt, SystemExit):
            raise
        except BaseException as ex:
            self.fatal_error(ex, 'Error calling eof_received()')
        return 0

    # -- flow control --------------------------------------------------------

    cdef int control_app_writing(self, Py_ssize_t size) except -1:
        if size >= self.outgoing_high_water and not self.app_writing_paused:
            self.app_writing_paused = True
            try:
                self.app_protocol.pause_writing()
            except (KeyboardInterrupt, SystemExit):
                raise
            except BaseException as exc:
                self.loop.call_exception_handler({
                    'message': 'protocol.pause_writing() failed',
                    'exception': exc,
                    'transport': self.app_transport,
                    'protocol': self.wrapper,
                })
        elif size <= self.outgoing_low_water and self.app_writing_paused:
            self.app_writing_paused = False
            try:
                self.app_protocol.resume_writing()
            except (KeyboardInterrupt, SystemExit):
                raise
            except BaseException as exc:
                self.loop.call_exception_handler({
                    'message': 'protocol.resume_writing() failed',
                    'exception': exc,
                    'transport': self.app_transport,
                    'protocol': self.wrapper,
                })
        return 0

    cdef Py_ssize_t get_write_buffer_size(self) except -1:
        return self.outgoing_pending() + self.write_buffer_size

    cdef int set_write_buffer_limits(self, object high, object low) except -1:
        self.outgoing_high_water, self.outgoing_low_water = \
            flow_control_limits(high, low, HIGH_WATER_SSL_WRITE_KB)
        return 0

    cdef int pause_reading(self) except -1:
        self.app_reading_paused = True
        return 0

    cdef int resume_reading(self) except -1:
        if self.app_reading_paused:
            self.app_reading_paused = False
            self.loop.call_soon(self.resume)
        return 0

    def resume(self):
        if self.state == TLS_WRAPPED:
            self.do_read()
        elif self.state == TLS_FLUSHING:
            self.do_flush()
        elif self.state == TLS_SHUTDOWN:
            self.do_shutdown()

    cdef int control_ssl_reading(self, Py_ssize_t size) except -1:
        """size: the incoming BIO's, or -1 to ask it."""
        if size < 0:
            size = self.incoming_pending()
        if size >= self.incoming_high_water and not self.ssl_reading_paused:
            self.ssl_reading_paused = True
            self.transport.pause_reading()
        elif size <= self.incoming_low_water and self.ssl_reading_paused:
            self.ssl_reading_paused = False
            self.transport.resume_reading()
        return 0

    cdef int set_read_buffer_limits(self, object high, object low) except -1:
        self.incoming_high_water, self.incoming_low_water = \
            flow_control_limits(high, low, HIGH_WATER_SSL_READ_KB)
        return 0

    # -- errors --------------------------------------------------------------

    cdef int fatal_error(self, object exc, str message) except -1:
        if self.transport is not None:
            self.raw_force_close(exc)
        if isinstance(exc, OSError):
            if self.loop.get_debug():
                base_events.logger.debug("%r: %s", self.wrapper, message,
                                         exc_info=True)
        elif not isinstance(exc, asyncio.CancelledError):
            self.loop.call_exception_handler({
                'message': message,
                'exception': exc,
                'transport': self.transport,
                'protocol': self.wrapper,
            })
        return 0


class SSLProtocol(asyncio.BufferedProtocol):
    """The protocol of the raw transport under a TLS connection: asyncio's
    SSLProtocol, compiled (the engine is a TLSCore)."""

    __slots__ = ('_core', '__weakref__')

    max_size = TLS_BUFFER_SIZE      # bytes get_buffer() offers

    def __init__(self, loop, app_protocol, sslcontext, waiter,
                 server_side=False, server_hostname=None,
                 call_connection_made=True, ssl_handshake_timeout=None,
                 ssl_shutdown_timeout=None):
        cdef TLSCore core
        if ssl_module is None:
            raise RuntimeError("stdlib ssl module not available")
        if ssl_handshake_timeout is None:
            ssl_handshake_timeout = SSL_HANDSHAKE_TIMEOUT
        elif ssl_handshake_timeout <= 0:
            raise ValueError(
                f"ssl_handshake_timeout should be a positive number, "
                f"got {ssl_handshake_timeout}")
        if ssl_shutdown_timeout is None:
            ssl_shutdown_timeout = SSL_SHUTDOWN_TIMEOUT
        elif ssl_shutdown_timeout <= 0:
            raise ValueError(
                f"ssl_shutdown_timeout should be a positive number, "
                f"got {ssl_shutdown_timeout}")
        if not sslcontext:
            sslcontext = stdlib_sslproto._create_transport_context(
                server_side, server_hostname)

        core = TLSCore.__new__(TLSCore)
        self._core = core
        core.wrapper = self
        core.loop = loop
        core.server_side = server_side
        if server_hostname and not server_side:
            core.server_hostname = server_hostname
        core.sslcontext = sslcontext
        # More extra info comes with the handshake.
        core.extra = {'sslcontext': sslcontext}
        core.waiter = waiter
        core.set_app_protocol(app_protocol)
        core.handshake_timeout = ssl_handshake_timeout
        core.shutdown_timeout = ssl_shutdown_timeout
        core.buffer = PyByteArray_FromStringAndSize(NULL, TLS_BUFFER_SIZE)
        core.buffer_view = memoryview(core.buffer)
        core.buffer_ptr = PyByteArray_AS_STRING(core.buffer)
        core.incoming = incoming = ssl_MemoryBIO()
        core.outgoing = outgoing = ssl_MemoryBIO()
        core.state = TLS_UNWRAPPED
        core.app_state = APP_INIT if call_connection_made else APP_CON_MADE
        sslobj = sslcontext.wrap_bio(
            incoming, outgoing, server_side=server_side,
            server_hostname=core.server_hostname)
        core.sslobj = sslobj
        if type(sslobj) is ssl_SSLObject:
            # A plain SSLObject's methods only call those of its _ssl
            # object: call them directly.
            sslobj = sslobj._sslobj
            core.ssl_shutdown = sslobj.shutdown
        else:
            # A context's sslobject_class may override them.
            core.ssl_shutdown = sslobj.unwrap
        core.ssl_read = sslobj.read
        core.ssl_write = sslobj.write
        core.ssl_pending = sslobj.pending
        core.ssl_do_handshake = sslobj.do_handshake
        core.incoming_write = incoming.write
        core.outgoing_read = outgoing.read
        core.set_read_buffer_limits(None, None)
        core.set_write_buffer_limits(None, None)
        core.get_app_transport()

    @property
    def _app_transport(self):
        return (<TLSCore>self._core).app_transport

    # asyncio's SSLProtocol attributes that libraries and their tests read
    # (aiohttp's reads transport._ssl_protocol._sslcontext), read-only.
    @property
    def _sslcontext(self):
        return (<TLSCore>self._core).sslcontext

    @property
    def _sslobj(self):
        return (<TLSCore>self._core).sslobj

    @property
    def _app_protocol(self):
        return (<TLSCore>self._core).app_protocol

    @property
    def _transport(self):
        return (<TLSCore>self._core).transport

    @property
    def _server_side(self):
        return (<TLSCore>self._core).server_side

    @property
    def _server_hostname(self):
        return (<TLSCore>self._core).server_hostname

    @property
    def _uses_cipher_bio(self):
        """Whether the SSLObject reads and writes through our BIO instead of
        the MemoryBIOs (cipherbio.pyx); for tests."""
        return (<TLSCore>self._core).cipher != NULL

    def connection_made(self, transport):
        """The raw connection is up: start the TLS handshake."""
        (<TLSCore>self._core).connection_made(transport)

    def connection_lost(self, exc):
        (<TLSCore>self._core).connection_lost(exc)

    def get_buffer(self, n):
        return (<TLSCore>self._core).get_buffer()

    def buffer_updated(self, nbytes):
        (<TLSCore>self._core).buffer_updated(nbytes)

    def eof_received(self):
        return (<TLSCore>self._core).on_eof()

    def pause_writing(self):
        """The raw transport's buffer went over its high-water mark."""
        cdef TLSCore core = self._core
        assert not core.ssl_writing_paused
        core.ssl_writing_paused = True

    def resume_writing(self):
        """The raw transport's buffer drained below its low-water mark."""
        cdef TLSCore core = self._core
        assert core.ssl_writing_paused
        core.ssl_writing_paused = False
        core.process_outgoing()


cdef TLSCore core_of(transport, str attribute):
    """The TLSCore behind an SSLTransport.  A second close() lets go of it,
    as asyncio's transport lets go of its protocol: asyncio's methods then
    fail on the missing protocol's `attribute` (an AttributeError)."""
    cdef TLSCore core = transport._core
    if core is None:
        raise AttributeError(
            f"'NoneType' object has no attribute '{attribute}'")
    return core


class SSLTransport(asyncio_transports._FlowControlMixin, asyncio.Transport):
    """The transport of a TLS connection's application protocol."""

    __slots__ = ('_core', '_ssl_protocol', '__dict__', '__weakref__')

    _start_tls_compatible = True
    _sendfile_compatible = constants._SendfileMode.FALLBACK

    def __init__(self, loop, ssl_protocol, TLSCore core not None):
        self._loop = loop
        self._ssl_protocol = ssl_protocol
        self._core = core

    def get_extra_info(self, name, default=None):
        return core_of(self, '_get_extra_info').get_extra_info(name, default)

    def set_protocol(self, protocol):
        core_of(self, '_set_app_protocol').set_app_protocol(protocol)

    def get_protocol(self):
        return core_of(self, '_app_protocol').app_protocol

    def is_closing(self):
        cdef TLSCore core = self._core
        return core is None or core.closed

    def close(self):
        """Flush what was written, then perform the TLS shutdown; the
        protocol's connection_lost() follows."""
        cdef TLSCore core = self._core
        if core is not None and not core.closed:
            core.closed = True
            core.start_shutdown()
        else:
            # As asyncio's does: let go of the protocol (a protocol that
            # keeps its transport then holds no cycle through us).
            self._ssl_protocol = None
            self._core = None

    def __del__(self, _warn=warnings.warn):
        cdef TLSCore core = getattr(self, '_core', None)
        if core is not None and not core.closed:
            core.closed = True
            _warn(f"unclosed transport {self!r}", ResourceWarning,
                  source=self)

    @property
    def _closed(self):
        return self.is_closing()

    def is_reading(self):
        return not core_of(self, '_app_reading_paused').app_reading_paused

    def pause_reading(self):
        core_of(self, '_pause_reading').pause_reading()

    def resume_reading(self):
        core_of(self, '_resume_reading').resume_reading()

    def set_write_buffer_limits(self, high=None, low=None):
        cdef TLSCore core = core_of(self, '_set_write_buffer_limits')
        core.set_write_buffer_limits(high, low)
        core.control_app_writing(core.get_write_buffer_size())

    def get_write_buffer_limits(self):
        cdef TLSCore core = core_of(self, '_outgoing_low_water')
        return (core.outgoing_low_water, core.outgoing_high_water)

    def get_write_buffer_size(self):
        return core_of(self, '_get_write_buffer_size').get_write_buffer_size()

    def set_read_buffer_limits(self, high=None, low=None):
        cdef TLSCore core = core_of(self, '_set_read_buffer_limits')
        core.set_read_buffer_limits(high, low)
        core.control_ssl_reading(-1)

    def get_read_buffer_limits(self):
        cdef TLSCore core = core_of(self, '_incoming_low_water')
        return (core.incoming_low_water, core.incoming_high_water)

    def get_read_buffer_size(self):
        return core_of(self, '_get_read_buffer_size').incoming_pending()

    @property
    def _protocol_paused(self):
        # What the sendfile fallback reads.
        return core_of(self, '_app_writing_paused').app_writing_paused

    def write(self, data):
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise TypeError(f"data: expecting a bytes-like instance, "
                            f"got {type(data).__name__}")
        if not data:
            return
        core_of(self, '_write_appdata').write_one(data)

    def writelines(self, list_of_data):
        core_of(self, '_write_appdata').write_appdata(list_of_data)

    def write_eof(self):
        """TLS has no half-close: refused, as asyncio refuses it."""
        raise NotImplementedError

    def can_write_eof(self):
        return False

    def abort(self):
        """Close at once: no flush, no close_notify."""
        cdef TLSCore core = self._core
        if core is not None:
            core.closed = True
            core.abort(None)

    def _force_close(self, exc):
        cdef TLSCore core = self._core
        if core is not None:
            core.closed = True
            core.abort(exc if ABORT_PASSES_EXCEPTION else None)
        elif not ABORT_PASSES_EXCEPTION:
            raise AttributeError("'NoneType' object has no attribute '_abort'")

    def _test__append_write_backlog(self, data):
        # CPython's test_ssl fills the backlog by hand.
        cdef TLSCore core = core_of(self, '_write_backlog')
        core.write_backlog.append(data)
        core.write_buffer_size += len(data)


def _uses_our_sslproto(func):
    """The interpreter's own asyncio function `func`, with the module name
    `sslproto` in its globals naming this module's SSLProtocol: its code
    runs as asyncio's does, building our TLS protocol."""
    namespace = dict(func.__globals__)
    namespace['sslproto'] = types.SimpleNamespace(SSLProtocol=SSLProtocol)
    new = types.FunctionType(func.__code__, namespace, func.__name__,
                             func.__defaults__, func.__closure__)
    new.__kwdefaults__ = func.__kwdefaults__
    new.__qualname__ = func.__qualname__
    new.__doc__ = func.__doc__
    new.__module__ = func.__module__
    return new


# loop.start_tls(): asyncio's, which makes an SSLProtocol itself.
start_tls = _uses_our_sslproto(base_events.BaseEventLoop.start_tls)
