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

from __future__ import annotations

import errno
import os
import stat
import warnings
from asyncio import base_events, constants, futures, transports
from asyncio.log import logger
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import asyncio
    from collections.abc import Callable, Mapping
    from typing import Protocol
    from weakref import WeakValueDictionary

    from _typeshed import FileDescriptorLike
    from typing_extensions import TypeVarTuple, Unpack

    from . import _epoll

    _Ts = TypeVarTuple('_Ts')

__all__ = ('PipeMixin', 'ReadPipeTransport', 'WritePipeTransport')


if TYPE_CHECKING:
    class _LoopBase(asyncio.AbstractEventLoop):
        """What the mixins of loop.EventLoop (here and in _subprocess) and
        the pipe transports use of the loop: asyncio's loop API and the
        core's (loop._epoll.Loop, typed as in _epoll.pyi).

        Only the type checker sees this class: for it, the mixins are loops,
        as they are only ever mixed into loop.EventLoop.  (They cannot
        derive from the core too: EventLoop lists it before them.)
        """

        @property
        def _debug(self) -> bool: ...
        @property
        def _transports(
                self) -> WeakValueDictionary[int, asyncio.BaseTransport]: ...
        def _add_reader(
                self, fd: FileDescriptorLike,
                callback: Callable[[Unpack[_Ts]], Any],
                *args: Unpack[_Ts]) -> _epoll.Handle: ...
        def _add_writer(
                self, fd: FileDescriptorLike,
                callback: Callable[[Unpack[_Ts]], Any],
                *args: Unpack[_Ts]) -> _epoll.Handle: ...
        def _remove_reader(self, fd: FileDescriptorLike) -> bool: ...
        def _remove_writer(self, fd: FileDescriptorLike) -> bool: ...

    class _Pipe(Protocol):
        """What a transport uses of its pipe object (a file, a socket...)."""

        def fileno(self) -> int: ...
        def close(self) -> None: ...

    # The shared part of the two transports is part of transports.
    _TransportBase = transports.BaseTransport
else:
    _LoopBase = _TransportBase = object


class PipeMixin(_LoopBase):
    """EventLoop methods for pipes; mixed into loop.EventLoop."""

    # The public entry points are asyncio's own: they only build the
    # transport through the factories below and wait for connection_made().
    if TYPE_CHECKING:
        # Typed as asyncio's stubs type the loop API (the stubs bind
        # BaseEventLoop's functions to BaseEventLoop instances only).
        connect_read_pipe = asyncio.AbstractEventLoop.connect_read_pipe
        connect_write_pipe = asyncio.AbstractEventLoop.connect_write_pipe
    else:
        connect_read_pipe = base_events.BaseEventLoop.connect_read_pipe
        connect_write_pipe = base_events.BaseEventLoop.connect_write_pipe

    def _make_read_pipe_transport(
            self, pipe: _Pipe, protocol: asyncio.BaseProtocol,
            waiter: asyncio.Future[None] | None = None,
            extra: Mapping[str, Any] | None = None) -> ReadPipeTransport:
        return ReadPipeTransport(self, pipe, protocol, waiter, extra)

    def _make_write_pipe_transport(
            self, pipe: _Pipe, protocol: asyncio.BaseProtocol,
            waiter: asyncio.Future[None] | None = None,
            extra: Mapping[str, Any] | None = None) -> WritePipeTransport:
        return WritePipeTransport(self, pipe, protocol, waiter, extra)


def _pipe_kind(fileno: int) -> str | None:
    """'fifo', 'socket' or 'char' for a usable fd, None otherwise."""
    mode = os.fstat(fileno).st_mode
    if stat.S_ISFIFO(mode):
        return 'fifo'
    if stat.S_ISSOCK(mode):
        return 'socket'
    if stat.S_ISCHR(mode):
        return 'char'
    return None


class _PipeTransportBase(_TransportBase):
    """What the read and the write transport share: state, repr, closing."""

    # The event the repr reports as 'polling' (asyncio asks its selector).
    _direction = None

    _extra: dict[str, Any]      # BaseTransport's
    # The loop, and the fd of the pipe: None only once the connection is
    # lost (the loop), or when the constructor failed (the fd).
    _loop: _LoopBase
    _fileno: int
    _pipe: _Pipe | None         # None once closed
    # Whatever set_protocol() was given: like asyncio's transports, these
    # call the methods their kind needs (data_received()...) unchecked.
    _protocol: Any
    _closing: bool

    if TYPE_CHECKING:
        # Each transport has its own.
        def _is_polling(self) -> bool: ...

    def _init_pipe(self, loop: _LoopBase, pipe: _Pipe,
                   protocol: asyncio.BaseProtocol, message: str) -> str:
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
            self._fileno = None  # type: ignore[assignment]
            self._protocol = None
            raise ValueError(message)
        self._pipe = pipe
        os.set_blocking(self._fileno, False)
        loop._transports[self._fileno] = self
        return kind

    def __repr__(self) -> str:
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

    def _repr_extra(self) -> tuple[str, ...]:
        return ()

    def set_protocol(self, protocol: asyncio.BaseProtocol) -> None:
        self._protocol = protocol

    def get_protocol(self) -> asyncio.BaseProtocol:
        return self._protocol  # type: ignore[no-any-return]

    def is_closing(self) -> bool:
        return self._closing

    def __del__(self, _warn: Callable[..., object] = warnings.warn) -> None:
        if self._pipe is not None:
            _warn(f"unclosed transport {self!r}", ResourceWarning, source=self)
            self._pipe.close()

    def _call_connection_lost(self, exc: BaseException | None) -> None:
        try:
            self._protocol.connection_lost(exc)
        finally:
            # Called once, by the close that set _closing: still open here.
            self._pipe.close()  # type: ignore[union-attr]
            self._pipe = None
            self._protocol = None
            if self._loop._transports.get(self._fileno) is self:
                del self._loop._transports[self._fileno]
            self._loop = None  # type: ignore[assignment]


class ReadPipeTransport(_PipeTransportBase, transports.ReadTransport):
    """The read end of a pipe, FIFO, socket or tty."""

    max_size = 256 * 1024  # bytes read per event, as asyncio

    def __init__(self, loop: _LoopBase, pipe: _Pipe,
                 protocol: asyncio.BaseProtocol,
                 waiter: asyncio.Future[None] | None = None,
                 extra: Mapping[str, Any] | None = None) -> None:
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
            # (A private helper of asyncio's, which its stubs leave out.)
            loop.call_soon(futures._set_result_unless_cancelled,  # type: ignore[attr-defined]
                           waiter, None)

    def _start_polling_if_reading(self) -> None:
        if self.is_reading():
            self._start_polling()

    def _start_polling(self) -> None:
        self._loop._add_reader(self._fileno, self._read_ready)
        self._polling = True

    def _stop_polling(self) -> None:
        self._polling = False
        self._loop._remove_reader(self._fileno)

    def _is_polling(self) -> bool:
        return self._polling

    def is_reading(self) -> bool:
        return not self._paused and not self._closing

    def _read_ready(self) -> None:
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

    def pause_reading(self) -> None:
        if not self.is_reading():
            return
        self._paused = True
        self._stop_polling()
        if self._loop.get_debug():
            logger.debug("%r pauses reading", self)

    def resume_reading(self) -> None:
        if self._closing or not self._paused:
            return
        self._paused = False
        self._start_polling()
        if self._loop.get_debug():
            logger.debug("%r resumes reading", self)

    def close(self) -> None:
        if not self._closing:
            self._close(None)

    def _fatal_error(self, exc: BaseException,
                     message: str = 'Fatal error on pipe transport') -> None:
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

    def _close(self, exc: BaseException | None) -> None:
        self._closing = True
        self._stop_polling()
        self._loop.call_soon(self._call_connection_lost, exc)


class WritePipeTransport(_PipeTransportBase, transports._FlowControlMixin,
                         transports.WriteTransport):
    """The write end of a pipe, FIFO, socket or tty.

    Flow control (water marks, pause_writing/resume_writing and their error
    reporting) is asyncio's own _FlowControlMixin.
    """

    _buffer: bytearray
    _conn_lost: int

    if TYPE_CHECKING:
        # _FlowControlMixin's; its stubs leave them out.
        def _maybe_pause_protocol(self) -> None: ...
        def _maybe_resume_protocol(self) -> None: ...

    def __init__(self, loop: _LoopBase, pipe: _Pipe,
                 protocol: asyncio.BaseProtocol,
                 waiter: asyncio.Future[None] | None = None,
                 extra: Mapping[str, Any] | None = None) -> None:
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
            # (A private helper of asyncio's, which its stubs leave out.)
            loop.call_soon(futures._set_result_unless_cancelled,  # type: ignore[attr-defined]
                           waiter, None)

    def _is_polling(self) -> bool:
        # The writer is registered exactly while the buffer holds data.
        return bool(self._buffer)

    def _repr_extra(self) -> tuple[str, ...]:
        return (f'bufsize={self.get_write_buffer_size()}',)

    def get_write_buffer_size(self) -> int:
        return len(self._buffer)

    def _read_ready(self) -> None:
        # The reading side closed the pipe.
        if self._loop.get_debug():
            logger.info("%r was closed by peer", self)
        if self._buffer:
            self._close(BrokenPipeError())
        else:
            self._close()

    def write(self, data: bytes | bytearray | memoryview[Any]) -> None:
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

    def _write_ready(self) -> None:
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

    def can_write_eof(self) -> bool:
        return True

    def write_eof(self) -> None:
        # A pipe has no half-close: EOF is closing our end, once the
        # buffer is flushed.
        if self._closing:
            return
        assert self._pipe
        self._closing = True
        if not self._buffer:
            self._loop._remove_reader(self._fileno)
            self._loop.call_soon(self._call_connection_lost, None)

    def close(self) -> None:
        if self._pipe is not None and not self._closing:
            self.write_eof()

    def abort(self) -> None:
        self._close(None)

    def _fatal_error(self, exc: BaseException,
                     message: str = 'Fatal error on pipe transport') -> None:
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

    def _close(self, exc: BaseException | None = None) -> None:
        self._closing = True
        if self._buffer:
            self._loop._remove_writer(self._fileno)
        self._buffer.clear()
        self._loop._remove_reader(self._fileno)
        self._loop.call_soon(self._call_connection_lost, exc)
