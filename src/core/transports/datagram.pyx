# Datagram transports (UDP and AF_UNIX datagram sockets).
#
# A DatagramTransport is an asyncio.DatagramTransport, compiled here.  Its
# state lives in ordinary attributes: datagram traffic is one syscall per
# packet either way, and the protocol calls dominate.  Behaviour follows
# asyncio's selector transport (errors to error_received, an immutable
# buffer of (bytes, address) pairs, flow control).

# 3.13 sends empty datagrams (gh-issue 117284 era change); earlier versions
# drop them silently.
cdef bint SENDS_EMPTY_DATAGRAMS = sys.version_info >= (3, 13)

# Bytes counted per buffered datagram beyond its payload (3.13 accounting).
cdef int DATAGRAM_HEADER_SIZE = 8 if sys.version_info >= (3, 13) else 0


class DatagramTransport(asyncio.Transport, asyncio.DatagramTransport):
    """A datagram socket transport of loop.EventLoop.

    Also an asyncio.Transport, like asyncio's own datagram transport (its
    base is the selector transport), which CPython's tests check.
    """

    max_size = 256 * 1024

    def __init__(self, Loop loop not None, sock, protocol, address=None,
                 waiter=None, extra=None):
        asyncio.BaseTransport.__init__(self, extra)
        add_socket_extra(self._extra, sock)
        self._loop = loop
        self._sock = sock
        self._sock_fd = sock.fileno()
        self._protocol = protocol
        self._address = address
        self._buffer = collections.deque()
        self._buffer_size = 0
        self._conn_lost = 0
        self._closing = False
        self._high_water = 64 * 1024
        self._low_water = 16 * 1024
        self._protocol_paused = False
        self._paused = False
        loop._transports[self._sock_fd] = self
        loop.call_soon(self._protocol.connection_made, self)
        loop.call_soon(self._start_reading)
        if waiter is not None:
            loop.call_soon(futures._set_result_unless_cancelled, waiter, None)

    def __repr__(self):
        info = [type(self).__name__]
        if self._sock is None:
            info.append('closed')
        elif self._closing:
            info.append('closing')
        info.append(f'fd={self._sock_fd}')
        if self._sock is not None and not self._loop.is_closed():
            info.append(f'write=<bufsize={self._buffer_size}>')
        return '<{}>'.format(' '.join(info))

    def __del__(self, _warn=warnings.warn):
        if self._sock is not None:
            _warn(f"unclosed transport {self!r}", ResourceWarning,
                  source=self)
            self._sock.close()

    def _start_reading(self):
        if not self._closing and not self._paused:
            self._loop._add_reader(self._sock_fd, self._read_ready)

    # Reading can be paused from 3.11 on, as on asyncio's transport (3.10's
    # raise NotImplementedError: these are deleted below the class there).
    def is_reading(self):
        return not self._closing and not self._paused

    def pause_reading(self):
        if self._closing or self._paused:
            return
        self._paused = True
        self._loop._remove_reader(self._sock_fd)
        if self._loop.get_debug():
            base_events.logger.debug("%r pauses reading", self)

    def resume_reading(self):
        if self._closing or not self._paused:
            return
        self._paused = False
        self._loop._add_reader(self._sock_fd, self._read_ready)
        if self._loop.get_debug():
            base_events.logger.debug("%r resumes reading", self)

    def is_closing(self):
        return self._closing

    def set_protocol(self, protocol):
        self._protocol = protocol

    def get_protocol(self):
        return self._protocol

    def get_write_buffer_size(self):
        return self._buffer_size

    def get_write_buffer_limits(self):
        return (self._low_water, self._high_water)

    def set_write_buffer_limits(self, high=None, low=None):
        self._high_water, self._low_water = checked_write_limits(high, low)
        self._maybe_pause_protocol()

    def _read_ready(self):
        if self._conn_lost:
            return
        try:
            data, addr = self._sock.recvfrom(self.max_size)
        except (BlockingIOError, InterruptedError):
            pass
        except OSError as exc:
            self._protocol.error_received(exc)
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:
            self._fatal_error(exc, 'Fatal read error on datagram transport')
        else:
            self._protocol.datagram_received(data, addr)

    def sendto(self, data, addr=None):
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise TypeError(f'data argument must be a bytes-like object, '
                            f'not {type(data).__name__!r}')
        if not data and not SENDS_EMPTY_DATAGRAMS:
            return
        if self._address:
            if addr not in (None, self._address):
                raise ValueError(
                    f'Invalid address: must be None or {self._address}')
            addr = self._address
        if self._conn_lost and self._address:
            if self._conn_lost >= CONNLOST_WRITES_BEFORE_WARNING:
                base_events.logger.warning('socket.send() raised exception.')
            self._conn_lost += 1
            return
        if not self._buffer:
            try:
                # A connected socket sends with send().  `is not None`, not
                # asyncio's truth test: a socketpair's peer has the name ''
                # and is connected all the same (asyncio then calls
                # sendto(data, None), a fatal TypeError; uvloop sends).
                if self._extra['peername'] is not None:
                    self._sock.send(data)
                else:
                    self._sock.sendto(data, addr)
                return
            except (BlockingIOError, InterruptedError):
                self._loop._add_writer(self._sock_fd, self._sendto_ready)
            except OSError as exc:
                self._protocol.error_received(exc)
                return
            except (SystemExit, KeyboardInterrupt):
                raise
            except BaseException as exc:
                self._fatal_error(
                    exc, 'Fatal write error on datagram transport')
                return
        # Buffer an immutable copy: the caller may reuse its buffer.
        self._buffer.append((bytes(data), addr))
        self._buffer_size += len(data) + DATAGRAM_HEADER_SIZE
        self._maybe_pause_protocol()

    def _sendto_ready(self):
        while self._buffer:
            data, addr = self._buffer.popleft()
            self._buffer_size -= len(data) + DATAGRAM_HEADER_SIZE
            try:
                if self._extra['peername'] is not None:
                    self._sock.send(data)
                else:
                    self._sock.sendto(data, addr)
            except (BlockingIOError, InterruptedError):
                self._buffer.appendleft((data, addr))    # try again later
                self._buffer_size += len(data) + DATAGRAM_HEADER_SIZE
                break
            except OSError as exc:
                self._protocol.error_received(exc)
                return
            except (SystemExit, KeyboardInterrupt):
                raise
            except BaseException as exc:
                self._fatal_error(
                    exc, 'Fatal write error on datagram transport')
                return
        self._maybe_resume_protocol()
        if not self._buffer:
            self._loop._remove_writer(self._sock_fd)
            if self._closing:
                self._call_connection_lost(None)

    def _maybe_pause_protocol(self):
        if self._buffer_size <= self._high_water or self._protocol_paused:
            return
        self._protocol_paused = True
        tell_protocol_flow(self._loop, self, self._protocol, True)

    def _maybe_resume_protocol(self):
        if (not self._protocol_paused or
                self._buffer_size > self._low_water):
            return
        self._protocol_paused = False
        tell_protocol_flow(self._loop, self, self._protocol, False)

    def close(self):
        if self._closing:
            return
        self._closing = True
        self._loop._remove_reader(self._sock_fd)
        if not self._buffer:
            self._conn_lost += 1
            self._loop._remove_writer(self._sock_fd)
            self._loop.call_soon(self._call_connection_lost, None)

    def abort(self):
        self._force_close(None)

    def _fatal_error(self, exc, message):
        if isinstance(exc, OSError):
            if self._loop.get_debug():
                base_events.logger.debug("%r: %s", self, message,
                                         exc_info=True)
        else:
            self._loop.call_exception_handler({
                'message': message,
                'exception': exc,
                'transport': self,
                'protocol': self._protocol,
            })
        self._force_close(exc)

    def _force_close(self, exc):
        if self._conn_lost:
            return
        if self._buffer:
            self._buffer.clear()
            self._buffer_size = 0
            self._loop._remove_writer(self._sock_fd)
        if not self._closing:
            self._closing = True
            self._loop._remove_reader(self._sock_fd)
        self._conn_lost += 1
        self._loop.call_soon(self._call_connection_lost, exc)

    def _call_connection_lost(self, exc):
        try:
            self._protocol.connection_lost(exc)
        finally:
            (<Loop>self._loop)._poller.forget_fd(self._sock_fd)
            self._sock.close()
            # Forgotten as asyncio forgets them: a later sendto() or abort()
            # fails with AttributeError there, and must not reach the poller
            # (the fd number may belong to another socket by then).
            self._sock = None
            self._protocol = None
            self._loop = None


if sys.version_info < (3, 11):
    del (DatagramTransport.is_reading, DatagramTransport.pause_reading,
         DatagramTransport.resume_reading)
