cdef class StreamCore(IOWatcher):
    """The engine of a stream socket transport (TCP or Unix)."""
    cdef:
        Loop loop
        object sock
        int fd
        # The asyncio.Transport users see (SocketTransport), set until the
        # protocol has been told the connection is lost.
        object transport
        object protocol
        bint buffered           # protocol is an asyncio.BufferedProtocol
        # The socket is a socket.socket subclass: its recv/recv_into/send
        # methods are called, as asyncio's transports do, since it may
        # override them; plain sockets get the syscalls directly.
        bint sock_methods
        bint large_reads        # the last read was at least LARGE_READ
        bint protocol_connected
        object server
        dict extra
        bint closing
        bint paused             # pause_reading() in effect
        bint eof_written        # write_eof() called
        int conn_lost           # > 0 once connection_lost is scheduled
        # What write() accepted and the kernel has not taken yet: bytes and
        # bytearray pieces, the first one sent up to write_start.
        list write_queue
        Py_ssize_t write_start
        Py_ssize_t write_size   # bytes in the queue, unsent
        Py_ssize_t high_water
        Py_ssize_t low_water
        bint writing_paused     # protocol.pause_writing() was called
        object empty_waiter     # sendfile: set when the buffer drains

    cdef int start_reading(self) except -1
    cdef int stop_reading(self) except -1
    cdef int start_writing(self) except -1
    cdef object call_socket(self, object method, object arg)
    cdef object send_queue_by_method(self)
    cdef int read_data(self) except -1
    cdef int read_into_buffer(self) except -1
    cdef int on_eof(self) except -1
    cdef int write(self, object data) except -1
    cdef Py_ssize_t send_now(self, const char *data,
                             Py_ssize_t size) except -2
    cdef int write_from(self, const char *data, Py_ssize_t size) except -1
    cdef int writelines(self, object list_of_data) except -1
    cdef int buffer_remaining(self, object data, Py_ssize_t sent) except -1
    cdef int queue_write(self, object data, Py_ssize_t start) except -1
    cdef int clear_write_queue(self) except -1
    cdef int consume_written(self, Py_ssize_t n) except -1
    cdef int maybe_pause_protocol(self) except -1
    cdef int maybe_resume_protocol(self) except -1
    cdef int fatal_error(self, object exc, str message) except -1
    cdef int force_close(self, object exc) except -1
    cdef int close(self) except -1
