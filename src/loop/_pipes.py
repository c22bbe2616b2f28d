"""Pipe transports: connect_read_pipe() and connect_write_pipe().

A pipe transport serves one end of a pipe, a FIFO, a socket or a character
device (a tty), never a regular file: epoll refuses regular files (EPERM),
and asyncio refuses them with ValueError before that.

The behaviour is asyncio's unix pipe transports' to the letter: callback
order, EOF and EPIPE handling, flow control, log messages and exception
handler contexts.  Applications and CPython's own tests observe all of it,
so where asyncio's behaviour is odd (an `assert` for argument checking, a
write after close that is only counted) we keep it and say so.  A pipe is
per process rather than per request, so this is Python over the loop's fd
API; it moves to Cython only if a benchmark asks for it.

Unlike asyncio, a pipe transport registers its fd in `loop._transports`, so
the public add_reader()/remove_reader() refuse to steal the fd from a live
transport, as they already do for socket transports.
"""

import errno
import os
import stat
import warnings
from asyncio import base_events, constants, futures, transports
from asyncio.log import logger

__all__ = ('PipeMixin', 'ReadPipeTransport', 'WritePipeTransport')


class PipeMixin:
    """EventLoop methods for pipes; mixed into loop.EventLoop."""

    # The public entry points are asyncio's own: they only build the
    # transport through the factories below and wait for connection_made().
    connect_read_pipe = base_events.BaseEventLoop.connect_read_pipe
    connect_write_pipe = base_events.BaseEventLoop.connect_write_pipe

    def _make_read_pipe_transport(self, pipe, protocol, waiter=None,
                                  extra=None):
        return ReadPipeTransport(self, pipe, protocol, waiter, extra)

    def _make_write_pipe_transport(self, pipe, protocol, waiter=None,
                                   extra=None):
        return WritePipeTransport(self, pipe, protocol, waiter, extra)


def _pipe_kind(fileno):
    """'fifo', 'socket' or 'char' for a usable fd, None otherwise."""
    mode = os.fstat(fileno).st_mode
    if stat.S_ISFIFO(mode):
        return 'fifo'
    if stat.S_ISSOCK(mode):
        return 'socket'
    if stat.S_ISCHR(mode):
        return 'char'
    return None


class _PipeTransportBase:
    """What the read and the write transport share: state, repr, closing."""

    # The event the repr reports as 'polling' (asyncio asks its selector).
    _direction = None

    def _init_pipe(self, loop, pipe, protocol, message):
        self._extra['pipe'] = pipe
        self._loop = loop
        # _pipe is None once the transport is closed: __del__ and the repr
        # rely on it, so it is set before anything can raise.
        self._pipe = None
        self._fileno = pipe.fileno()
        self._protocol = protocol
        self._closing = False
        kind = _pipe_kind(self._fileno)
        if kind is None:
            self._fileno = None
            self._protocol = None
            raise ValueError(message)
        self._pipe = pipe
        os.set_blocking(self._fileno, False)
        loop._transports[self._fileno] = self
        return kind

    def __repr__(self):
        info = [self.__class__.__name__]
        if self._pipe is None:
            info.append('closed')
        elif self._closing:
            info.append('closing')
        info.append(f'fd={self._fileno}')
        if self._pipe is None:
            info.append('closed')
        elif self._loop is None or self._loop.is_closed():
            # asyncio reports a transport whose loop is closed as open
            # (python/asyncio#314: the repr must not fail then).
            info.append('open')
        else:
            info.append('polling' if self._is_polling() else 'idle')
            info.extend(self._repr_extra())
        return '<{}>'.format(' '.join(info))

    def _repr_extra(self):
        return ()

    def set_protocol(self, protocol):
        self._protocol = protocol

    def get_protocol(self):
        return self._protocol

    def is_closing(self):
        return self._closing

    def __del__(self, _warn=warnings.warn):
        if self._pipe is not None:
            _warn(f"unclosed transport {self!r}", ResourceWarning, source=self)
            self._pipe.close()

    def _call_connection_lost(self, exc):
        try:
            self._protocol.connection_lost(exc)
        finally:
            self._pipe.close()
            self._pipe = None
            self._protocol = None
            if self._loop._transports.get(self._fileno) is self:
                del self._loop._transports[self._fileno]
            self._loop = None


class ReadPipeTransport(_PipeTransportBase, transports.ReadTransport):
    """The read end of a pipe, FIFO, socket or tty."""

    max_size = 256 * 1024  # bytes read per event, as asyncio

    def __init__(self, loop, pipe, protocol, waiter=None, extra=None):
        super().__init__(extra)
        self._paused = False
        self._polling = False
        self._init_pipe(loop, pipe, protocol,
                        "Pipe transport is for pipes/sockets only.")
        loop.call_soon(self._protocol.connection_made, self)
        # Start reading only once connection_made() has run, and not if it
        # paused reading or closed the transport.
        loop.call_soon(self._start_polling_if_reading)
        if waiter is not None:
            loop.call_soon(futures._set_result_unless_cancelled, waiter, None)

    def _start_polling_if_reading(self):
        if self.is_reading():
            self._start_polling()

    def _start_polling(self):
        self._loop._add_reader(self._fileno, self._read_ready)
        self._polling = True

    def _stop_polling(self):
        self._polling = False
        self._loop._remove_reader(self._fileno)

    def _is_polling(self):
        return self._polling

    def is_reading(self):
        return not self._paused and not self._closing

    def _read_ready(self):
        try:
            data = os.read(self._fileno, self.max_size)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            self._fatal_error(exc, 'Fatal read error on pipe transport')
            return
        if data:
            self._protocol.data_received(data)
            return
        if self._loop.get_debug():
            logger.info("%r was closed by peer", self)
        self._closing = True
        self._stop_polling()
        self._loop.call_soon(self._protocol.eof_received)
        self._loop.call_soon(self._call_connection_lost, None)

    def pause_reading(self):
        if not self.is_reading():
            return
        self._paused = True
        self._stop_polling()
        if self._loop.get_debug():
            logger.debug("%r pauses reading", self)

    def resume_reading(self):
        if self._closing or not self._paused:
            return
        self._paused = False
        self._start_polling()
        if self._loop.get_debug():
            logger.debug("%r resumes reading", self)

    def close(self):
        if not self._closing:
            self._close(None)

    def _fatal_error(self, exc, message='Fatal error on pipe transport'):
        # EIO is how a pty master reports that the slave side closed: an
        # end of file, not an error worth the exception handler.
        if isinstance(exc, OSError) and exc.errno == errno.EIO:
            if self._loop.get_debug():
                logger.debug("%r: %s", self, message, exc_info=True)
        else:
            self._loop.call_exception_handler({
                'message': message,
                'exception': exc,
                'transport': self,
                'protocol': self._protocol,
            })
        self._close(exc)

    def _close(self, exc):
        self._closing = True
        self._stop_polling()
        self._loop.call_soon(self._call_connection_lost, exc)


class WritePipeTransport(_PipeTransportBase, transports._FlowControlMixin,
                         transports.WriteTransport):
    """The write end of a pipe, FIFO, socket or tty.

    Flow control (water marks, pause_writing/resume_writing and their error
    reporting) is asyncio's own _FlowControlMixin.
    """

    def __init__(self, loop, pipe, protocol, waiter=None, extra=None):
        super().__init__(extra, loop)
        self._buffer = bytearray()
        self._conn_lost = 0     # writes refused since the pipe broke
        kind = self._init_pipe(loop, pipe, protocol,
                               "Pipe transport is only for "
                               "pipes, sockets and character devices")
        loop.call_soon(self._protocol.connection_made, self)
        # The reader trick: the write end of a pipe reports EPOLLERR, and a
        # socket EPOLLIN/EPOLLHUP, when the reading side closes, so a reader
        # on the fd learns of it even when nothing is being written.  A tty
        # has no such event.
        if kind != 'char':
            loop.call_soon(loop._add_reader, self._fileno, self._read_ready)
        if waiter is not None:
            loop.call_soon(futures._set_result_unless_cancelled, waiter, None)

    def _is_polling(self):
        # The writer is registered exactly while the buffer holds data.
        return bool(self._buffer)

    def _repr_extra(self):
        return (f'bufsize={self.get_write_buffer_size()}',)

    def get_write_buffer_size(self):
        return len(self._buffer)

    def _read_ready(self):
        # The reading side closed the pipe.
        if self._loop.get_debug():
            logger.info("%r was closed by peer", self)
        if self._buffer:
            self._close(BrokenPipeError())
        else:
            self._close()

    def write(self, data):
        # An assert, not a TypeError: asyncio's pipe transport checks the
        # argument this way and we keep its behaviour.
        assert isinstance(data, (bytes, bytearray, memoryview)), repr(data)
        if isinstance(data, bytearray):
            # The caller may change its bytearray after write() returns.
            data = memoryview(data)
        if not data:
            return

        if self._conn_lost or self._closing:
            if self._conn_lost >= constants.LOG_THRESHOLD_FOR_CONNLOST_WRITES:
                logger.warning('pipe closed by peer or '
                               'os.write(pipe, data) raised exception.')
            self._conn_lost += 1
            return

        if not self._buffer:
            # Nothing queued: try to write at once, without a loop pass.
            try:
                n = os.write(self._fileno, data)
            except (BlockingIOError, InterruptedError):
                n = 0
            except (SystemExit, KeyboardInterrupt):
                raise
            except BaseException as exc:  # noqa: BLE001 (ends the transport)
                self._conn_lost += 1
                self._fatal_error(exc, 'Fatal write error on pipe transport')
                return
            if n == len(data):
                return
            if n > 0:
                data = memoryview(data)[n:]
            self._loop._add_writer(self._fileno, self._write_ready)

        self._buffer += data
        self._maybe_pause_protocol()

    def _write_ready(self):
        assert self._buffer, 'Data should not be empty'
        try:
            n = os.write(self._fileno, self._buffer)
        except (BlockingIOError, InterruptedError):
            return
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:  # noqa: BLE001 (ends the transport)
            self._buffer.clear()
            self._conn_lost += 1
            # _fatal_error() removes the writer only if the buffer is not
            # empty, and it is empty now.
            self._loop._remove_writer(self._fileno)
            self._fatal_error(exc, 'Fatal write error on pipe transport')
            return
        if n < len(self._buffer):
            del self._buffer[:n]
            return
        self._buffer.clear()
        self._loop._remove_writer(self._fileno)
        self._maybe_resume_protocol()  # may write, and so refill the buffer
        if self._closing:
            self._loop._remove_reader(self._fileno)
            self._call_connection_lost(None)

    def can_write_eof(self):
        return True

    def write_eof(self):
        # A pipe has no half-close: EOF is closing our end, once the
        # buffer is flushed.
        if self._closing:
            return
        assert self._pipe
        self._closing = True
        if not self._buffer:
            self._loop._remove_reader(self._fileno)
            self._loop.call_soon(self._call_connection_lost, None)

    def close(self):
        if self._pipe is not None and not self._closing:
            self.write_eof()

    def abort(self):
        self._close(None)

    def _fatal_error(self, exc, message='Fatal error on pipe transport'):
        # OSErrors (EPIPE above all) are the reader going away, an expected
        # end of the conversation: logged in debug mode only, as asyncio.
        if isinstance(exc, OSError):
            if self._loop.get_debug():
                logger.debug("%r: %s", self, message, exc_info=True)
        else:
            self._loop.call_exception_handler({
                'message': message,
                'exception': exc,
                'transport': self,
                'protocol': self._protocol,
            })
        self._close(exc)

    def _close(self, exc=None):
        self._closing = True
        if self._buffer:
            self._loop._remove_writer(self._fileno)
        self._buffer.clear()
        self._loop._remove_reader(self._fileno)
        self._loop.call_soon(self._call_connection_lost, exc)
