"""The public event loop class: the Cython core plus its cold paths.

The hot paths (scheduling, the heartbeat, fd interest, and later the
transports) live in the compiled `loop._epoll.Loop`.  This module adds what
runs once per loop, per executor job or per signal, in Python.

A few cold methods are the interpreter's own `asyncio.BaseEventLoop`
functions bound to our loop (`_STDLIB_METHODS` below, and the connection
orchestration of `_STDLIB_NETWORK_METHODS`).  They define
behaviour users and CPython's tests observe to the letter (log formats,
argument errors, executor and async-generator shutdown) and it changes
between Python versions; running the running interpreter's own code keeps us
identical on every version without copying it.  They only touch attributes
this class defines.
"""

from __future__ import annotations

import asyncio
import errno
import signal
import socket
import sys
import warnings
import weakref
from asyncio import base_events, sslproto, unix_events
from typing import TYPE_CHECKING, Any, cast

from . import _epoll
from ._pipes import PipeMixin
from ._subprocess import SubprocessMixin

if TYPE_CHECKING:
    import ssl
    from collections.abc import AsyncGenerator, Callable, Mapping
    from concurrent.futures import Executor
    from signal import _HANDLER
    from socket import _Address, _GetAddrInfoResult
    from types import FrameType

    from typing_extensions import TypeVarTuple, Unpack

    _Ts = TypeVarTuple('_Ts')
    _SocketPair = tuple[socket.socket, socket.socket]   # (read, write) ends

__all__ = ('EventLoop', 'new_event_loop')

_STDLIB_METHODS = (
    'call_exception_handler',
    'default_exception_handler',
    'set_exception_handler',
    'get_exception_handler',
    'set_task_factory',
    'get_task_factory',
    '_check_callback',
    '_set_coroutine_origin_tracking',
    '_asyncgen_firstiter_hook',
    '_asyncgen_finalizer_hook',
    'shutdown_asyncgens',
    'run_in_executor',
    'set_default_executor',
    '_check_default_executor',
    'shutdown_default_executor',
    '_do_shutdown',
    'getnameinfo',
    '_getaddrinfo_debug',
)


# The connection orchestration of asyncio: name resolution, happy eyeballs,
# socket options, Server objects, sendfile and start_tls.  It only reaches
# the loop through the methods below it (sock_connect, _make_socket_transport,
# _start_serving...), which are ours.  (Defined by BaseEventLoop, but for
# _sendfile_native and _accept_connection2, BaseSelectorEventLoop's, and the
# last six, _UnixSelectorEventLoop's.)
_STDLIB_NETWORK_METHODS = (
    'create_connection', '_connect_sock', '_create_connection_transport',
    '_ensure_resolved', 'create_server', '_create_server_getaddrinfo',
    'connect_accepted_socket', 'create_datagram_endpoint', 'sendfile',
    '_sendfile_fallback', 'sock_sendfile', '_sock_sendfile_fallback',
    '_check_sendfile_params', 'start_tls',
    '_sendfile_native', '_accept_connection2',
    'create_unix_connection', 'create_unix_server',
    '_sock_sendfile_native', '_sock_sendfile_native_impl',
    '_sock_sendfile_update_filepos', '_sock_add_cancellation_callback',
)


class _AsyncioMethod:
    """A method of asyncio's own loop, looked up on asyncio's loop class
    (`asyncio.SelectorEventLoop`, through its bases) each time it is
    accessed, then bound to our loop.

    Looked up each time, not copied once: a test that patches one
    (`mock.patch('asyncio.BaseEventLoop.create_connection', fake)`, as
    asyncssh's tests do) changes it for every asyncio loop, and so for
    ours too.  A replacement that is no descriptor (a Mock) is returned
    unbound, as an asyncio loop's attribute lookup would.
    """

    __slots__ = ('name',)

    def __init__(self, name: str) -> None:
        self.name = name

    def __get__(self, obj: object, objtype: type | None = None) -> Any:
        func = getattr(unix_events._UnixSelectorEventLoop, self.name)
        bind = getattr(type(func), '__get__', None)
        if obj is None or bind is None:
            return func
        return bind(func, obj, objtype)

# Ours, in Cython: the sock_* operations and the accept loop.
_CORE_FUNCTIONS = (
    'sock_recv', 'sock_recv_into', 'sock_recvfrom', 'sock_recvfrom_into',
    'sock_sendall', 'sock_sendto', 'sock_connect', 'sock_accept',
    '_start_serving',
)


# TLS: our compiled SSLProtocol follows asyncio's of 3.11+; 3.10's asyncio
# has another TLS machine (different protocol calls, no read flow control,
# no shutdown timeout), which stays in use there.
_OUR_TLS = sys.version_info >= (3, 11)
_SSLProtocol = _epoll.SSLProtocol if _OUR_TLS else sslproto.SSLProtocol


def _sighandler_noop(signum: int, frame: FrameType | None) -> None:
    """Python-level handler of a signal handled by the loop.

    Its only purpose is to make Python write the signal number to the wakeup
    fd, which the loop reads to run the registered callback.
    """


# The type checker is told to ignore one thing here: the core's call_soon(),
# call_later()... return loop._epoll.Handle and TimerHandle, which have
# asyncio's Handle methods but do not derive from asyncio.Handle (see
# _epoll.pyi), so their return types are not the ones asyncio's
# AbstractEventLoop declares.
class EventLoop(_epoll.Loop, PipeMixin, SubprocessMixin,  # type: ignore[misc]
                asyncio.AbstractEventLoop):
    """An asyncio event loop on epoll, for Linux."""

    def __init__(self) -> None:
        self._notice_time_source()
        self._default_executor: Executor | None = None
        self._executor_shutdown_called = False
        self._asyncgens: weakref.WeakSet[AsyncGenerator[Any, Any]] = (
            weakref.WeakSet())
        self._asyncgens_shutdown_called = False
        self._coroutine_origin_tracking_enabled = False
        self._coroutine_origin_tracking_saved_depth: int | None = None
        self._signal_handlers: dict[int, _epoll.Handle] = {}
        self._signal_sockets: _SocketPair | None = None     # once needed
        # 3.13's create_unix_server (asyncio's, bound to us) records the
        # socket files to remove when their server closes.
        self._unix_server_sockets: dict[socket.socket, int] = {}

    for _name in _STDLIB_METHODS + _STDLIB_NETWORK_METHODS:
        locals()[_name] = _AsyncioMethod(_name)
    for _name in _CORE_FUNCTIONS:
        locals()[_name] = getattr(_epoll, _name)
    del _name
    if _OUR_TLS:
        # asyncio's start_tls, building our SSLProtocol (tls.pyx).
        start_tls = _epoll.start_tls

    if TYPE_CHECKING:
        # What the loops above bind, for type checkers (which cannot see
        # them): asyncio's functions, typed as asyncio's stubs type the loop
        # API, and the core's sock_* functions (typed in _epoll.pyi).
        call_exception_handler = (
            asyncio.AbstractEventLoop.call_exception_handler)
        default_exception_handler = (
            asyncio.AbstractEventLoop.default_exception_handler)
        set_exception_handler = asyncio.AbstractEventLoop.set_exception_handler
        get_exception_handler = asyncio.AbstractEventLoop.get_exception_handler
        set_task_factory = asyncio.AbstractEventLoop.set_task_factory
        get_task_factory = asyncio.AbstractEventLoop.get_task_factory
        shutdown_asyncgens = asyncio.AbstractEventLoop.shutdown_asyncgens
        run_in_executor = asyncio.AbstractEventLoop.run_in_executor
        set_default_executor = asyncio.AbstractEventLoop.set_default_executor
        shutdown_default_executor = (
            asyncio.AbstractEventLoop.shutdown_default_executor)
        getnameinfo = asyncio.AbstractEventLoop.getnameinfo
        create_connection = asyncio.AbstractEventLoop.create_connection
        create_server = asyncio.AbstractEventLoop.create_server
        connect_accepted_socket = (
            asyncio.AbstractEventLoop.connect_accepted_socket)
        create_datagram_endpoint = (
            asyncio.AbstractEventLoop.create_datagram_endpoint)
        sendfile = asyncio.AbstractEventLoop.sendfile
        sock_sendfile = asyncio.AbstractEventLoop.sock_sendfile
        create_unix_connection = (
            asyncio.AbstractEventLoop.create_unix_connection)
        create_unix_server = asyncio.AbstractEventLoop.create_unix_server
        # Its size parameter is n, as in asyncio's own (selector) loop;
        # AbstractEventLoop names it nbytes.
        sock_recv = _epoll.sock_recv  # type: ignore[assignment]
        sock_recv_into = _epoll.sock_recv_into
        sock_recvfrom = _epoll.sock_recvfrom
        sock_recvfrom_into = _epoll.sock_recvfrom_into
        sock_sendall = _epoll.sock_sendall
        sock_sendto = _epoll.sock_sendto
        sock_connect = _epoll.sock_connect
        sock_accept = _epoll.sock_accept
        _start_serving = _epoll._start_serving

        # BaseEventLoop's, which asyncio's stubs leave out.
        def _getaddrinfo_debug(
                self, host: bytes | str | None,
                port: bytes | str | int | None, family: int = 0,
                type: int = 0, proto: int = 0,
                flags: int = 0) -> _GetAddrInfoResult: ...

    # -- transports --------------------------------------------------------

    def _make_socket_transport(
            self, sock: socket.socket, protocol: asyncio.BaseProtocol,
            waiter: asyncio.Future[None] | None = None, *,
            extra: Mapping[str, Any] | None = None,
            server: asyncio.Server | None = None) -> _epoll.SocketTransport:
        return _epoll.SocketTransport(self, sock, protocol, waiter, extra,
                                      server)

    def _stop_serving(self, sock: socket.socket) -> None:
        # 3.13: remove the socket file of a Unix server, if it is still the
        # one the server made (same inode), as asyncio does.
        path = None
        if sock in self._unix_server_sockets:
            path = sock.getsockname()
        _epoll._stop_serving(self, sock)
        if path is not None:
            prev_ino = self._unix_server_sockets.pop(sock)
            try:
                _epoll._remove_socket_file(path, prev_ino)
            except FileNotFoundError:
                pass
            except OSError as err:
                base_events.logger.error(  # type: ignore[attr-defined]
                    'Unable to clean up listening UNIX socket %r: %r',
                    path, err)

    def _make_datagram_transport(
            self, sock: socket.socket, protocol: asyncio.DatagramProtocol,
            address: _Address | None = None,
            waiter: asyncio.Future[None] | None = None,
            extra: Mapping[str, Any] | None = None,
    ) -> _epoll.DatagramTransport:
        return _epoll.DatagramTransport(self, sock, protocol, address,
                                        waiter, extra)

    def _make_ssl_transport(
            self, rawsock: socket.socket, protocol: asyncio.BaseProtocol,
            sslcontext: ssl.SSLContext,
            waiter: asyncio.Future[Any] | None = None, *,
            server_side: bool = False, server_hostname: str | None = None,
            extra: Mapping[str, Any] | None = None,
            server: asyncio.Server | None = None,
            ssl_handshake_timeout: float | None = None,
            ssl_shutdown_timeout: float | None = None,
    ) -> asyncio.Transport:
        # TLS is an SSLProtocol (memory BIOs) over our transport: ours,
        # compiled, or asyncio's on 3.10 (see _OUR_TLS).
        kwargs: dict[str, Any] = {
            'ssl_handshake_timeout': ssl_handshake_timeout}
        if _OUR_TLS:
            kwargs['ssl_shutdown_timeout'] = ssl_shutdown_timeout
        # (SSLProtocol takes waiter=None, as asyncio's own loops pass it;
        # its stubs do not say so.)
        ssl_protocol = _SSLProtocol(
            self, protocol, sslcontext, waiter,  # type: ignore[arg-type]
            server_side, server_hostname, **kwargs)
        self._make_socket_transport(rawsock, ssl_protocol, extra=extra,
                                    server=server)
        # Set by the constructor (None only after the connection is lost).
        return cast('asyncio.Transport', ssl_protocol._app_transport)

    # mock.patch.object(loop, 'time') and friends: scheduling follows a
    # replaced time() as asyncio's does.
    def __setattr__(self, name: str, value: Any) -> None:
        super().__setattr__(name, value)
        if name == 'time':
            self._notice_time_source()

    def __delattr__(self, name: str) -> None:
        super().__delattr__(name)
        if name == 'time':
            self._notice_time_source()

    def __repr__(self) -> str:
        return (f'<{type(self).__name__} running={self.is_running()} '
                f'closed={self.is_closed()} debug={self.get_debug()}>')

    def __del__(self, _warn: Callable[..., object] = warnings.warn) -> None:
        if not self.is_closed():
            _warn(f"unclosed event loop {self!r}", ResourceWarning,
                  source=self)
            if not self.is_running():
                self.close()

    def close(self) -> None:
        if self.is_running():
            raise RuntimeError("Cannot close a running event loop")
        if self.is_closed():
            return
        if self._signal_handlers:
            if sys.is_finalizing():
                warnings.warn(f"Closing the loop {self!r} on interpreter "
                              "shutdown stage, skipping signal handlers "
                              "removal", ResourceWarning, source=self)
            else:
                for sig in list(self._signal_handlers):
                    self.remove_signal_handler(sig)
        super().close()
        self._close_child_watchers()
        self._close_signal_sockets()
        self._executor_shutdown_called = True
        executor = self._default_executor
        if executor is not None:
            self._default_executor = None
            executor.shutdown(wait=False)

    # -- DNS ---------------------------------------------------------------

    async def getaddrinfo(
            self, host: bytes | str | None, port: bytes | str | int | None,
            *, family: int = 0, type: int = 0, proto: int = 0,
            flags: int = 0) -> _GetAddrInfoResult:
        if not self._debug:
            key = (host, port, family, type, proto, flags)
            try:
                return list(_numeric_answers[key])
            except (KeyError, TypeError):      # TypeError: unhashable
                pass
            if _is_numeric(host, port, family):
                # A numeric host and port need no resolver: getaddrinfo
                # answers without blocking, so a thread would only add
                # latency; and the answer never changes, so keep it.
                answer = socket.getaddrinfo(host, port, family, type, proto,
                                            flags)
                if _answer_is_constant(host, flags):
                    if len(_numeric_answers) >= _NUMERIC_ANSWERS_KEPT:
                        _numeric_answers.clear()
                    _numeric_answers[key] = answer
                return list(answer)
        if self._debug:
            getaddr_func = self._getaddrinfo_debug
        else:
            getaddr_func = socket.getaddrinfo
        return await self.run_in_executor(
            None, getaddr_func, host, port, family, type, proto, flags)

    # -- signals -----------------------------------------------------------

    def add_signal_handler(
            self, sig: int, callback: Callable[[Unpack[_Ts]], object],
            *args: Unpack[_Ts]) -> None:
        if (asyncio.iscoroutine(callback) or
                _iscoroutinefunction(callback)):
            raise TypeError("coroutines cannot be used with "
                            "add_signal_handler()")
        self._check_signal(sig)
        self._check_closed()
        wakeup = self._open_signal_sockets()
        try:
            # Raises ValueError outside the main thread: calling it first
            # keeps a loop in another thread from taking signals.
            signal.set_wakeup_fd(wakeup.fileno())
        except (ValueError, OSError) as exc:
            raise RuntimeError(str(exc))
        handle = self._make_handle(callback, args)
        self._signal_handlers[sig] = handle
        try:
            signal.signal(sig, _sighandler_noop)
            # SA_RESTART: fewer EINTRs in the rest of the program.
            signal.siginterrupt(sig, False)
        except OSError as exc:
            del self._signal_handlers[sig]
            if not self._signal_handlers:
                self._clear_wakeup_fd()
            if exc.errno == errno.EINVAL:
                raise RuntimeError(f'sig {sig:d} cannot be caught')
            raise

    def remove_signal_handler(self, sig: int) -> bool:
        self._check_signal(sig)
        try:
            del self._signal_handlers[sig]
        except KeyError:
            return False
        handler: _HANDLER
        if sig == signal.SIGINT:
            handler = signal.default_int_handler
        else:
            handler = signal.SIG_DFL
        try:
            signal.signal(sig, handler)
        except OSError as exc:
            if exc.errno == errno.EINVAL:
                raise RuntimeError(f'sig {sig:d} cannot be caught')
            raise
        if not self._signal_handlers:
            self._clear_wakeup_fd()
        return True

    def _check_signal(self, sig: object) -> None:
        if not isinstance(sig, int):
            raise TypeError(f'sig must be an int, not {sig!r}')
        if sig not in signal.valid_signals():
            raise ValueError(f'invalid signal number {sig}')

    def _open_signal_sockets(self) -> socket.socket:
        if self._signal_sockets is None:
            rsock, wsock = socket.socketpair()
            rsock.setblocking(False)
            wsock.setblocking(False)
            self._signal_sockets = (rsock, wsock)
            self.add_reader(rsock.fileno(), self._read_signals)
        return self._signal_sockets[1]

    def _close_signal_sockets(self) -> None:
        if self._signal_sockets is not None:
            for sock in self._signal_sockets:
                sock.close()
            self._signal_sockets = None

    def _clear_wakeup_fd(self) -> None:
        try:
            signal.set_wakeup_fd(-1)
        except (ValueError, OSError) as exc:
            base_events.logger.info(  # type: ignore[attr-defined]
                'set_wakeup_fd(-1) failed: %s', exc)

    def _read_signals(self) -> None:
        # A reader of the sockets: they exist.
        rsock = self._signal_sockets[0]  # type: ignore[index]
        while True:
            try:
                data = rsock.recv(4096)
            except InterruptedError:
                continue
            except BlockingIOError:
                return
            if not data:
                return
            for signum in data:
                if signum:
                    self._handle_signal(signum)

    def _handle_signal(self, sig: int) -> None:
        handle = self._signal_handlers.get(sig)
        if handle is None:
            return      # removed meanwhile
        if handle.cancelled():
            self.remove_signal_handler(sig)
        else:
            self._add_callback_signalsafe(handle)


def _iscoroutinefunction(func: object) -> bool:
    import inspect
    return (inspect.iscoroutinefunction(func) or
            getattr(func, '_is_coroutine', None) is not None)


# getaddrinfo() answers for numeric hosts, which depend on nothing but their
# arguments.  Bounded: a server resolving many peers' addresses would
# otherwise grow it forever; 256 covers the addresses an application
# connects to repeatedly.
_NUMERIC_ANSWERS_KEPT = 256
_numeric_answers: dict[tuple[bytes | str | None, bytes | str | int | None,
                             int, int, int, int], _GetAddrInfoResult] = {}


def _answer_is_constant(host: bytes | str | None, flags: int) -> bool:
    """False where a numeric answer depends on the network interfaces:
    AI_ADDRCONFIG, and IPv6 scope ids naming an interface."""
    if flags & socket.AI_ADDRCONFIG:
        return False
    if isinstance(host, bytes):
        return b'%' not in host
    return host is None or '%' not in host


def _is_numeric(host: bytes | str | None, port: bytes | str | int | None,
                family: int) -> bool:
    """True when getaddrinfo(host, port) needs no name resolution."""
    if port is not None and not isinstance(port, int):
        if isinstance(port, (bytes, str)):
            try:
                int(port)
            except ValueError:
                return False
        else:
            return False
    if host is None:
        return True
    if isinstance(host, bytes):
        try:
            host = host.decode('idna')
        except UnicodeError:
            return False
    if not isinstance(host, str):
        return False
    for af in (socket.AF_INET, socket.AF_INET6):
        if family not in (0, af):
            continue
        try:
            socket.inet_pton(af, host.partition('%')[0])
            return True
        except OSError:
            pass
    return False


def new_event_loop() -> EventLoop:
    """A new EventLoop (what asyncio's loop_factory arguments expect)."""
    return EventLoop()
