# The ciphertext buffers of a connection whose SSLObject reads and writes
# them through our BIO (cipherbio.pyx).
cdef struct CipherBuffers:
    # Unread ciphertext is incoming[in_start:in_end].
    char *incoming
    Py_ssize_t in_start
    Py_ssize_t in_end
    Py_ssize_t in_size
    # Ciphertext to send is outgoing[:out_len].
    char *outgoing
    Py_ssize_t out_len
    Py_ssize_t out_size


@cython.final
cdef class BufferSpan:
    """Memory lent to a C function through the buffer protocol (tls.pyx)."""
    cdef char *ptr
    cdef Py_ssize_t length
    cdef bint readonly

    cdef inline BufferSpan of(self, char *ptr, Py_ssize_t length,
                              bint readonly)


@cython.final
cdef class TLSCore:
    """The engine of a TLS connection: asyncio's SSLProtocol state machine
    (tls.pyx).  SSLProtocol (the raw transport's protocol) and SSLTransport
    (the application's transport) forward to it."""
    cdef:
        object loop
        object wrapper          # the SSLProtocol; None once the connection is lost
        object app_transport    # the SSLTransport; None once the connection is lost
        bint app_transport_created
        bint closed             # the SSLTransport's is_closing()
        object app_protocol
        bint app_is_buffered
        object app_get_buffer
        object app_buffer_updated
        int app_state
        object waiter

        # The raw transport; raw_core when it is our SocketTransport, whose
        # writes then skip the Python method call.
        object transport
        StreamCore raw_core

        object sslcontext
        bint server_side
        object server_hostname
        dict extra
        int state
        int conn_lost
        bint eof_received

        # ssl.SSLObject and the MemoryBIOs, plus the bound methods the hot
        # path calls (of the C-level _ssl object when the SSLObject is a
        # plain ssl.SSLObject: no Python frame per call).
        object sslobj
        object incoming
        object outgoing
        object ssl_read
        object ssl_write
        object ssl_pending
        object ssl_do_handshake
        object ssl_shutdown
        object incoming_write
        object outgoing_read

        # Over our SocketTransport the SSLObject reads and writes through
        # our BIO (cipherbio.pyx), whose buffers replace the MemoryBIOs:
        # `cipher` is NULL when the connection uses the MemoryBIOs.
        void *cipher_bio
        CipherBuffers *cipher
        object cipher_view          # get_buffer()'s view of an empty
        char *cipher_view_ptr       # incoming buffer, made for this address

        # With the MemoryBIOs, ciphertext from the socket lands here
        # (get_buffer) and is copied into `incoming`.
        bytearray buffer
        object buffer_view
        char *buffer_ptr

        BufferSpan span             # buffers lent to the ssl module

        list write_backlog
        Py_ssize_t write_buffer_size
        # No SSL call since the last process_outgoing(): nothing new in the
        # outgoing BIO.
        bint outgoing_flushed
        # The last read found the incoming BIO empty.
        bint incoming_seen_empty

        bint ssl_writing_paused     # the raw transport paused us
        bint app_reading_paused
        bint ssl_reading_paused     # we paused the raw transport
        bint app_writing_paused
        Py_ssize_t incoming_high_water
        Py_ssize_t incoming_low_water
        Py_ssize_t outgoing_high_water
        Py_ssize_t outgoing_low_water

        object handshake_timeout
        object shutdown_timeout
        object handshake_start_time
        object handshake_timeout_handle
        object shutdown_timeout_handle

    cdef int set_app_protocol(self, object app_protocol) except -1
    cdef int wakeup_waiter(self, object exc) except -1
    cdef object get_app_transport(self)
    cdef int connection_made(self, object transport) except -1
    cdef object get_buffer(self)
    cdef Py_ssize_t incoming_pending(self) except -1
    cdef Py_ssize_t outgoing_pending(self) except -1
    cdef object take_outgoing(self)
    cdef int connection_lost(self, object exc) except -1
    cdef int buffer_updated(self, Py_ssize_t nbytes) except -1
    cdef object on_eof(self)
    cdef object get_extra_info(self, object name, object default)
    cdef int set_state(self, int new_state) except -1
    cdef int start_handshake(self) except -1
    cdef int do_handshake(self) except -1
    cdef int on_handshake_complete(self, object handshake_exc) except -1
    cdef int start_shutdown(self) except -1
    cdef int do_flush(self) except -1
    cdef int do_shutdown(self) except -1
    cdef int on_shutdown_complete(self, object shutdown_exc) except -1
    cdef int abort(self, object exc) except -1
    cdef int write_appdata(self, object list_of_data) except -1
    cdef int write_one(self, object data) except -1
    cdef int do_write(self) except -1
    cdef int process_outgoing(self) except -1
    cdef int raw_write(self, object data) except -1
    cdef int raw_force_close(self, object exc) except -1
    cdef int do_read(self) except -1
    cdef Py_ssize_t readable(self, Py_ssize_t last_read,
                             Py_ssize_t asked) except -1
    cdef int do_read_buffered(self) except -1
    cdef int do_read_copied(self) except -1
    cdef int call_eof_received(self) except -1
    cdef int control_app_writing(self, Py_ssize_t size) except -1
    cdef Py_ssize_t get_write_buffer_size(self) except -1
    cdef int set_write_buffer_limits(self, object high, object low) except -1
    cdef int pause_reading(self) except -1
    cdef int resume_reading(self) except -1
    cdef int control_ssl_reading(self, Py_ssize_t size) except -1
    cdef int set_read_buffer_limits(self, object high, object low) except -1
    cdef int fatal_error(self, object exc, str message) except -1
