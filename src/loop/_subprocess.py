"""Subprocesses: subprocess_exec/subprocess_shell, their transport, reaping.

Spawning is subprocess.Popen in the loop thread, as asyncio does: on Linux
Popen forks with vfork() (unless preexec_fn, user, group or extra_groups
ask for a real fork), so the loop is blocked only until the child has
exec'd, and a failed exec is reported as Popen's exception with every fd
closed.  A preexec_fn runs in the child before exec and blocks the loop
meanwhile, on asyncio too.

The transport is the interpreter's own asyncio.base_subprocess
BaseSubprocessTransport: it connects the pipes through our
connect_read_pipe()/connect_write_pipe() and orders the protocol callbacks
(pipe_data_received, pipe_connection_lost, process_exited, connection_lost)
exactly as asyncio does on each Python version.  We add _start() and the
reaping.

Reaping: no SIGCHLD handler, no waitpid(-1).  Each child gets a pidfd
(pidfd_open(2), Linux >= 5.3) watched by the loop's epoll: it becomes
readable when the child exits, and waitid(P_PIDFD) then collects exactly
that child, without blocking and without a pid that could have been reused.
Where pidfds are refused (old kernel, seccomp, no fd left) a thread per
child blocks in waitpid(pid), as asyncio's ThreadedChildWatcher does.
Children that outlive the loop are handed to such threads when it closes,
so none is left a zombie and no pidfd leaks.

Python <= 3.13 also let an application choose a child watcher with
asyncio.set_child_watcher(); see _installed_child_watcher() for when we use
it instead of our own reaper.
"""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
import threading
from asyncio import base_events, base_subprocess, events
from asyncio.log import logger
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import asyncio
    from asyncio.base_subprocess import _File
    from collections.abc import Callable, Mapping, Sequence
    from types import TracebackType
    from typing import Protocol

    from typing_extensions import Self, TypeVarTuple, Unpack

    from ._pipes import _LoopBase

    _Ts = TypeVarTuple('_Ts')
    _Args = str | bytes | Sequence[str | bytes]     # Popen's args

    class _ChildWatcher(Protocol):
        """What we use of an application's child watcher (Python <= 3.13:
        asyncio.AbstractChildWatcher, or any object that behaves so)."""

        def __enter__(self) -> Self: ...
        def __exit__(self, exc_type: type[BaseException] | None,
                     exc: BaseException | None,
                     tb: TracebackType | None, /) -> None: ...
        def is_active(self) -> bool: ...
        def add_child_handler(
                self, pid: int,
                callback: Callable[[int, int, Unpack[_Ts]], object],
                *args: Unpack[_Ts]) -> None: ...
else:
    _LoopBase = object

__all__ = ('SubprocessMixin', 'SubprocessTransport')


def _can_use_pidfd() -> bool:
    """Whether pidfd_open() and waitid(P_PIDFD) both work here."""
    if not hasattr(os, 'pidfd_open') or not hasattr(os, 'P_PIDFD'):
        return False
    try:
        pidfd = os.pidfd_open(os.getpid())
    except OSError:
        return False    # ENOSYS before Linux 5.3, EPERM under some seccomp
    try:
        # We are not our own child: ECHILD where P_PIDFD is understood,
        # EINVAL on Linux 5.3 (pidfd_open without waitid support).
        os.waitid(os.P_PIDFD, pidfd, os.WEXITED | os.WNOHANG)
    except ChildProcessError:
        return True
    except OSError:
        return False
    finally:
        os.close(pidfd)
    return False


# Module-level so that tests can force the thread fallback.
_use_pidfd = _can_use_pidfd()

_waiter_thread_ids = itertools.count()


class SubprocessTransport(base_subprocess.BaseSubprocessTransport):
    """A child process and the pipe transports of its standard streams."""

    if TYPE_CHECKING:
        # Set from the Popen object in __init__, and never cleared (the
        # stubs say int | None, as the transport is built without it).
        def get_pid(self) -> int: ...

    def _start(self, args: _Args, shell: bool, stdin: _File, stdout: _File,
               stderr: _File, bufsize: int, **kwargs: Any) -> None:
        # subprocess.Popen is looked up at call time: tests (CPython's too)
        # patch it.  Popen with PIPE makes os.pipe() pairs (no socketpairs:
        # /dev/stdout and /proc/self/fd/N must stay pipes in the child).
        self._proc = subprocess.Popen(
            args, shell=shell, stdin=stdin, stdout=stdout, stderr=stderr,
            universal_newlines=False, bufsize=bufsize, **kwargs)


class SubprocessMixin(_LoopBase):
    """EventLoop methods for subprocesses; mixed into loop.EventLoop."""

    # asyncio's own entry points: its argument checks, messages and debug
    # logs, which call _make_subprocess_transport() below.
    if TYPE_CHECKING:
        # Typed as asyncio's stubs type the loop API (see _pipes.PipeMixin).
        subprocess_exec = asyncio.AbstractEventLoop.subprocess_exec
        subprocess_shell = asyncio.AbstractEventLoop.subprocess_shell
    else:
        subprocess_exec = base_events.BaseEventLoop.subprocess_exec
        subprocess_shell = base_events.BaseEventLoop.subprocess_shell
        _log_subprocess = base_events.BaseEventLoop._log_subprocess

    # pidfd -> (transport, pid, Popen) of each child being watched.
    _child_pidfds: dict[int, tuple[SubprocessTransport, int,
                                   subprocess.Popen[bytes]]] | None = None

    async def _make_subprocess_transport(
            self, protocol: asyncio.SubprocessProtocol, args: _Args,
            shell: bool, stdin: _File, stdout: _File, stderr: _File,
            bufsize: int, extra: Mapping[str, Any] | None = None,
            **kwargs: Any) -> SubprocessTransport:
        watcher = _installed_child_watcher()
        if watcher is not None:
            return await self._make_watched_subprocess_transport(
                watcher, protocol, args, shell, stdin, stdout, stderr,
                bufsize, extra, **kwargs)
        waiter = self.create_future()
        transp = SubprocessTransport(self, protocol, args, shell,
                                     stdin, stdout, stderr, bufsize,
                                     waiter=waiter, extra=extra, **kwargs)
        self._watch_child(transp)
        await self._wait_pipes_connected(transp, waiter)
        return transp

    async def _wait_pipes_connected(self, transp: SubprocessTransport,
                                    waiter: asyncio.Future[Any]) -> None:
        try:
            await waiter
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException:
            # Cancelled or a pipe failed to connect: kill the child and
            # wait for it, so that nothing is left behind.
            transp.close()
            await transp._wait()
            raise

    # -- our reaper: a pidfd, else a thread --------------------------------

    def _watch_child(self, transp: SubprocessTransport) -> None:
        pid = transp.get_pid()
        # A new transport: it has its Popen object (it drops it once the
        # connection is lost; hence the stubs' Optional).
        proc: subprocess.Popen[bytes] = transp._proc  # type: ignore[assignment]
        if _use_pidfd:
            try:
                pidfd = os.pidfd_open(pid)
            except OSError:
                # EMFILE, or ESRCH if someone reaped the child already:
                # the thread copes with both.
                pass
            else:
                if self._child_pidfds is None:
                    self._child_pidfds = {}
                self._child_pidfds[pidfd] = (transp, pid, proc)
                self._add_reader(pidfd, self._child_pidfd_ready, pidfd)
                return
        _start_waiter_thread(self, transp, pid, proc)

    def _child_pidfd_ready(self, pidfd: int) -> None:
        # Registered only while the pidfd is in the table.
        transp, pid, proc = self._child_pidfds[pidfd]  # type: ignore[index]
        try:
            info = os.waitid(os.P_PIDFD, pidfd, os.WEXITED | os.WNOHANG)
        except ChildProcessError:
            returncode = _status_read_elsewhere(pid, proc)
        else:
            if info is None:
                return      # not exited yet; the next event will tell
            returncode = _returncode_of(info)
        del self._child_pidfds[pidfd]  # type: ignore[union-attr]
        self._remove_reader(pidfd)
        os.close(pidfd)
        self._child_exited(transp, pid, proc, returncode)

    def _child_exited(self, transp: SubprocessTransport, pid: int,
                      proc: subprocess.Popen[bytes], returncode: int) -> None:
        # Tell the Popen object at once: a poll() before _process_exited()
        # runs would find no child and report 0.
        if proc.returncode is None:
            proc.returncode = returncode
        if self._debug:
            logger.debug('process %s exited with returncode %s',
                         pid, returncode)
        # One loop pass later, as asyncio's child watcher callbacks.
        self.call_soon(transp._process_exited, returncode)

    def _close_child_watchers(self) -> None:
        """On loop close: hand the children still running to threads."""
        pidfds, self._child_pidfds = self._child_pidfds, None
        for pidfd, (transp, pid, proc) in (pidfds or {}).items():
            self._remove_reader(pidfd)
            os.close(pidfd)
            _start_waiter_thread(self, transp, pid, proc)

    # -- an application's child watcher (Python <= 3.13) ------------------

    async def _make_watched_subprocess_transport(
            self, watcher: _ChildWatcher, protocol: asyncio.SubprocessProtocol,
            args: _Args, shell: bool, stdin: _File, stdout: _File,
            stderr: _File, bufsize: int, extra: Mapping[str, Any] | None,
            **kwargs: Any) -> SubprocessTransport:
        # asyncio's _make_subprocess_transport, step by step: the watcher's
        # context manager and is_active() are part of its protocol.  Up to
        # 3.11 asyncio uses what __enter__() returns, from 3.12 the watcher.
        with watcher as entered:
            if sys.version_info < (3, 12):
                watcher = entered
            if not watcher.is_active():
                raise RuntimeError("asyncio.get_child_watcher() is not "
                                   "activated, subprocess support is not "
                                   "installed.")
            waiter = self.create_future()
            transp = SubprocessTransport(self, protocol, args, shell,
                                         stdin, stdout, stderr, bufsize,
                                         waiter=waiter, extra=extra,
                                         **kwargs)
            watcher.add_child_handler(transp.get_pid(),
                                      self._child_watcher_callback, transp)
            await self._wait_pipes_connected(transp, waiter)
        return transp

    def _child_watcher_callback(self, pid: int, returncode: int,
                                transp: SubprocessTransport) -> None:
        # Called by the watcher, possibly from another thread.
        self.call_soon_threadsafe(transp._process_exited, returncode)


def _installed_child_watcher() -> _ChildWatcher | None:
    """The child watcher the application installed, when we must use it.

    Python <= 3.13 let an application choose how children are reaped with
    asyncio.set_child_watcher().  A SafeChildWatcher, FastChildWatcher,
    MultiLoopChildWatcher or one of its own reaps on SIGCHLD, some of them
    with waitpid(-1), which would steal our children's exit status: with
    one of those installed we go through it, as asyncio does.  A
    ThreadedChildWatcher or PidfdChildWatcher waits only for the pids it is
    given, which our own reaper does as well, so those are not used (and
    Python <= 3.11 creates a ThreadedChildWatcher on any
    get_child_watcher() call, which must not cost us our reaper).
    """
    if sys.version_info >= (3, 14):
        return None     # child watchers are gone
    # None: never set, don't create (private, so not in asyncio's stubs;
    # and unreachable for a type checker targeting 3.14).
    policy = events._event_loop_policy  # type: ignore[attr-defined,unused-ignore]
    watcher: _ChildWatcher | None = getattr(policy, '_watcher', None)
    if watcher is None:
        return None
    from asyncio import unix_events
    if isinstance(watcher, (unix_events.ThreadedChildWatcher,
                            unix_events.PidfdChildWatcher)):
        return None
    return watcher


def _returncode_of(info: os.waitid_result) -> int:
    """Popen's returncode for a waitid() result: -signal if killed."""
    if info.si_code == os.CLD_EXITED:
        return info.si_status
    return -info.si_status      # CLD_KILLED or CLD_DUMPED


def _status_read_elsewhere(pid: int, proc: subprocess.Popen[bytes]) -> int:
    """The returncode of a child someone else reaped."""
    if proc.returncode is not None:
        # Popen.poll(), wait() or send_signal() reaped it: Popen knows.
        return proc.returncode
    logger.warning("Unknown child process pid %d, will report returncode 255",
                   pid)
    return 255


def _start_waiter_thread(loop: SubprocessMixin, transp: SubprocessTransport,
                         pid: int, proc: subprocess.Popen[bytes]) -> None:
    thread = threading.Thread(
        target=_wait_in_thread, args=(loop, transp, pid, proc),
        name=f'loop-waitpid-{next(_waiter_thread_ids)}', daemon=True)
    thread.start()


def _wait_in_thread(loop: SubprocessMixin, transp: SubprocessTransport,
                    pid: int, proc: subprocess.Popen[bytes]) -> None:
    try:
        _, status = os.waitpid(pid, 0)
    except ChildProcessError:
        returncode = _status_read_elsewhere(pid, proc)
    else:
        returncode = os.waitstatus_to_exitcode(status)
        if proc.returncode is None:
            proc.returncode = returncode
    try:
        loop.call_soon_threadsafe(loop._child_exited, transp, pid, proc,
                                  returncode)
    except RuntimeError:
        # The loop is closed (or closing): nobody is left to tell.
        logger.warning("Loop %r that handles pid %r is closed", loop, pid)
