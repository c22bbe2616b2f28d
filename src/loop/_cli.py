"""The command line: ``python -m loop run ...`` and ``python -m loop info``.

``run`` executes a script (or ``-m module``) as ``__main__`` the way
``python script.py`` would, except that asyncio's own entry points give it
our loop: ``asyncio.run()``, ``asyncio.Runner()``, ``asyncio.new_event_loop()``
and (where asyncio still creates one) ``asyncio.get_event_loop()``.

How: all of these ask asyncio's event loop policy for a new loop on Python
3.10-3.15 (``asyncio.run()`` through ``Runner`` from 3.11 on, directly on
3.10), so installing our policy is enough there.  3.14 deprecates the public
``set_event_loop_policy()`` and keeps a private setter without the warning;
we use that one, since the script did not ask for a deprecated API.  Python
3.16 removes policies: there ``Runner`` and ``asyncio.new_event_loop()``
remain the way a loop gets made, so we replace the module-level
``new_event_loop`` that they call.  A loop the script chooses itself
(``loop_factory=...``, its own policy) is left alone.
"""
from __future__ import annotations

import asyncio
import importlib.machinery
import importlib.metadata
import importlib.util
import json
import os
import platform
import runpy
import socket
import sys
import sysconfig
import time
import types
import zipfile
from collections.abc import Callable, Sequence
from typing import Any

from . import _epoll
from ._eventloop import new_event_loop
from ._version import __version__

USAGE = """\
usage: python -m loop run SCRIPT [ARG ...]
       python -m loop run -m MODULE [ARG ...]
       python -m loop info [--json]
       python -m loop --version

run    run a script (or a module, like python -m) as __main__, with loop's
       event loop as the one asyncio.run(), asyncio.Runner() and
       asyncio.new_event_loop() create; ARGs become its sys.argv[1:]
info   versions, build, and the kernel features loop uses on this machine
"""

# The event loops users compare us with, and the frameworks the README
# documents: `info` reports the installed versions.
PEERS = ('uvloop', 'rloop')
FRAMEWORKS = ('uvicorn', 'gunicorn', 'starlette', 'fastapi', 'aiohttp',
              'anyio', 'pytest-asyncio', 'httpx', 'websockets', 'asyncpg',
              'redis')


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m loop``; returns the exit status."""
    args = sys.argv[1:] if argv is None else list(argv)
    if not args:
        sys.stderr.write(USAGE)
        return 2
    command, rest = args[0], args[1:]
    if command in ('-h', '--help', 'help'):
        sys.stdout.write(USAGE)
        return 0
    if command == '--version':
        print(f'loop {__version__}')
        return 0
    if command == 'run':
        return run_command(rest)
    if command == 'info':
        return info_command(rest)
    return _usage_error(f'unknown command {command!r}')


def _usage_error(message: str) -> int:
    sys.stderr.write(USAGE)
    sys.stderr.write(f'python -m loop: error: {message}\n')
    return 2


# -- run ----------------------------------------------------------------------

def run_command(args: list[str]) -> int:
    # Parsed by hand: everything after the script or module belongs to it,
    # options included.
    if not args:
        return _usage_error('run: a script or -m MODULE is required')
    if args[0] in ('-h', '--help'):
        sys.stdout.write(USAGE)
        return 0
    if args[0] == '-m':
        if len(args) < 2:
            return _usage_error('run: -m needs a module name')
        return _run_target(args[1], args[2:], module=True)
    if args[0].startswith('-') and args[0] != '-':
        return _usage_error(f'run: unknown option {args[0]!r}')
    return _run_target(args[0], args[1:], module=False)


def _run_target(target: str, script_args: list[str],
                module: bool) -> int:
    # Before anything of the target's runs (-m imports its parent packages
    # to find it).
    use_our_loop()
    # Name errors as the interpreter does, with its exit statuses.
    if module:
        try:
            found = importlib.util.find_spec(target) is not None
        except ImportError:
            found = False
        if not found:
            sys.stderr.write(f'{sys.executable}: No module named {target}\n')
            return 1
    else:
        try:
            os.stat(target)
        except OSError as exc:
            sys.stderr.write(
                f"{sys.executable}: can't open file "
                f"{os.path.abspath(target)!r}: [Errno {exc.errno}] "
                f"{exc.strerror}\n")
            return 2
        _set_script_path(target)

    sys.argv = [target, *script_args]
    try:
        if module:
            # alter_sys: sys.argv[0] becomes the module's file, as with -m.
            runpy.run_module(target, run_name='__main__', alter_sys=True)
        elif _is_source_file(target):
            _run_source_file(target)
        else:
            # A directory or zip file with a __main__.py, or a .pyc file.
            runpy.run_path(target, run_name='__main__')
    except (SystemExit, KeyboardInterrupt):
        # The interpreter's own handling: the exit status, or death by
        # SIGINT so that the shell sees a Ctrl-C.
        raise
    except BaseException as exc:  # noqa: BLE001 (the script's uncaught)
        # As the interpreter reports an uncaught exception, minus the frames
        # of this module and runpy that `python script.py` would not show.
        tb = exc.__traceback__
        while tb is not None and _is_launcher_frame(tb.tb_frame):
            tb = tb.tb_next
        exc.__traceback__ = tb
        sys.excepthook(type(exc), exc, tb)
        return 1
    return 0


def _is_source_file(path: str) -> bool:
    return (os.path.isfile(path) and not path.endswith('.pyc')
            and not zipfile.is_zipfile(path))


def _run_source_file(path: str) -> None:
    """Run a .py file as the interpreter runs its main script.

    runpy.run_path() would do, but it sets sys.argv[0] to the path it is
    given, and the interpreter gives the script an absolute __file__ (and
    code path, shown in tracebacks) while leaving sys.argv[0] as typed.
    The module stays sys.modules['__main__'] after the script ends, for
    its atexit handlers and threads, as in the interpreter.
    """
    filename = os.path.abspath(path)
    with open(filename, 'rb') as f:
        source = f.read()
    # compile() honours a coding cookie in bytes; dont_inherit keeps our
    # own __future__ imports out of the script.
    code = compile(source, filename, 'exec', dont_inherit=True)
    module = types.ModuleType('__main__')
    module.__file__ = filename
    module.__cached__ = None  # type: ignore[attr-defined]
    module.__loader__ = importlib.machinery.SourceFileLoader(
        '__main__', filename)
    sys.modules['__main__'] = module
    exec(code, vars(module))  # noqa: S102 (running the script is the point)


def _set_script_path(target: str) -> None:
    # `python script.py` puts the script's directory first on sys.path where
    # `python -m loop` put the current one.  run_path() itself puts a
    # directory or zip file target there.
    if getattr(sys.flags, 'safe_path', False) or not sys.path:
        return
    if os.path.isfile(target) and not zipfile.is_zipfile(target):
        sys.path[0] = os.path.dirname(os.path.realpath(target))
    else:
        del sys.path[0]


def _is_launcher_frame(frame: types.FrameType) -> bool:
    return frame.f_globals.get('__name__') in (__name__, 'runpy')


def use_our_loop() -> None:
    """Make asyncio's default way of creating a loop create ours."""
    if sys.version_info < (3, 16):
        from ._policy import EventLoopPolicy
        set_policy = getattr(asyncio.events, '_set_event_loop_policy',
                             asyncio.set_event_loop_policy)
        set_policy(EventLoopPolicy())
    else:
        use_our_new_event_loop()


def use_our_new_event_loop() -> None:
    """Without policies: asyncio.Runner (so asyncio.run) and user code call
    asyncio.events.new_event_loop() / asyncio.new_event_loop()."""
    asyncio.events.new_event_loop = new_event_loop
    asyncio.new_event_loop = new_event_loop


# -- info ---------------------------------------------------------------------

def info_command(args: list[str]) -> int:
    as_json = False
    for arg in args:
        if arg == '--json':
            as_json = True
        elif arg in ('-h', '--help'):
            sys.stdout.write(USAGE)
            return 0
        else:
            return _usage_error(f'info: unknown argument {arg!r}')
    data = collect_info()
    if as_json:
        print(json.dumps(data, indent=2))
    else:
        sys.stdout.write(format_info(data))
    return 0


def collect_info() -> dict[str, Any]:
    """Everything `info` reports, as JSON-serializable data."""
    uname = os.uname()
    libc, libc_version = platform.libc_ver()
    return {
        'loop': {
            'version': __version__,
            'package': os.path.dirname(os.path.abspath(__file__)),
            'extension': _epoll.__file__,
            'debug_build': _epoll._live_objects() is not None,
            'cython': _cython_version(),
        },
        'python': {
            'version': platform.python_version(),
            'implementation': platform.python_implementation(),
            'build': ' '.join(platform.python_build()),
            'compiler': platform.python_compiler(),
            'debug_build': bool(sysconfig.get_config_var('Py_DEBUG')),
            'executable': sys.executable,
            'gil_enabled': _gil_enabled(),
            'asyncio_policies': sys.version_info < (3, 16),
        },
        'system': {
            'kernel': uname.release,
            'machine': uname.machine,
            'libc': f'{libc} {libc_version}'.strip() or None,
            'cpus': os.cpu_count(),
        },
        'kernel_features': [
            {'name': name, 'used_for': used_for, 'available': ok,
             'detail': detail}
            for name, used_for, probe in KERNEL_FEATURES
            for ok, detail in [_probe(probe)]
        ],
        'peers': {name: _dist_version(name) for name in PEERS},
        'frameworks': {name: _dist_version(name) for name in FRAMEWORKS},
    }


def _cython_version() -> str | None:
    # Cython names the module holding its shared types after its version
    # (`_cython_3_0_11`); the type of one of our compiled functions says
    # which Cython built this extension.
    module = type(_epoll._live_objects).__module__
    prefix = '_cython_'
    if not module.startswith(prefix):
        return None
    return module[len(prefix):].replace('_', '.')


def _gil_enabled() -> bool:
    is_enabled = getattr(sys, '_is_gil_enabled', None)
    return True if is_enabled is None else is_enabled()


def _dist_version(name: str) -> str | None:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


# Each probe returns (available, detail); available is None where Python
# cannot tell.
ProbeResult = tuple[bool | None, str]
Probe = Callable[[], ProbeResult]


def _probe(probe: Probe) -> ProbeResult:
    try:
        return probe()
    except OSError as exc:
        return False, f'{type(exc).__name__}: {exc}'


def _probe_epoll() -> ProbeResult:
    import select
    ep = select.epoll()     # epoll_create1(EPOLL_CLOEXEC), as the poller
    ep.close()
    return True, 'epoll_create1(EPOLL_CLOEXEC)'


def _probe_eventfd() -> ProbeResult:
    if not hasattr(os, 'eventfd'):
        # The loop calls eventfd(2) itself; Python just cannot probe it.
        return None, 'os.eventfd missing: not probed'
    fd = os.eventfd(0, os.EFD_CLOEXEC | os.EFD_NONBLOCK)
    os.close(fd)
    return True, 'eventfd(EFD_CLOEXEC | EFD_NONBLOCK)'


def _probe_pidfd() -> ProbeResult:
    from . import _subprocess
    if _subprocess._use_pidfd:
        return True, 'pidfd_open + waitid(P_PIDFD) (Linux 5.4+)'
    return False, 'unavailable: a waiter thread per child reaps it instead'


def _probe_sockopt(family: int, level: int, name: str) -> Probe:
    def probe() -> ProbeResult:
        if not hasattr(socket, name):
            return False, f'socket.{name} missing'
        with socket.socket(family, socket.SOCK_STREAM) as sock:
            sock.setsockopt(level, getattr(socket, name), 1)
        return True, f'setsockopt({name})'
    return probe


def _probe_sendfile() -> ProbeResult:
    if not hasattr(os, 'sendfile'):
        return False, 'os.sendfile missing: sendfile() copies via send()'
    return True, 'os.sendfile'


def _probe_ipv6() -> ProbeResult:
    if not socket.has_ipv6:
        return False, 'Python built without IPv6'
    with socket.socket(socket.AF_INET6, socket.SOCK_STREAM):
        pass
    return True, 'AF_INET6 sockets'


def _probe_clock() -> ProbeResult:
    res = time.clock_getres(time.CLOCK_MONOTONIC)
    return True, f'CLOCK_MONOTONIC, resolution {res * 1e9:g} ns'


KERNEL_FEATURES = (
    ('epoll', 'the poller: every fd the loop watches', _probe_epoll),
    ('eventfd', 'waking the loop from other threads (call_soon_threadsafe)',
     _probe_eventfd),
    ('pidfd_open', 'subprocess reaping (no SIGCHLD handler)', _probe_pidfd),
    ('SO_REUSEPORT',
     'create_server / create_datagram_endpoint (reuse_port=True)',
     _probe_sockopt(socket.AF_INET, socket.SOL_SOCKET, 'SO_REUSEPORT')),
    ('TCP_NODELAY', 'every TCP transport (as asyncio)',
     _probe_sockopt(socket.AF_INET, socket.IPPROTO_TCP, 'TCP_NODELAY')),
    ('SO_KEEPALIVE',
     'create_server / create_connection (keep_alive=True, 3.13+)',
     _probe_sockopt(socket.AF_INET, socket.SOL_SOCKET, 'SO_KEEPALIVE')),
    ('sendfile', 'loop.sendfile / sock_sendfile zero-copy path',
     _probe_sendfile),
    ('IPv6', 'dual-stack servers, happy eyeballs', _probe_ipv6),
    ('clock_gettime', 'loop.time()', _probe_clock),
)


def format_info(data: dict[str, Any]) -> str:
    """The human-readable form of collect_info()."""
    lo, py, system = data['loop'], data['python'], data['system']
    build = 'debug build' if lo['debug_build'] else 'release build'
    if lo['cython']:
        build += f', Cython {lo["cython"]}'
    lines = [
        f'loop {lo["version"]} ({build})',
        f'  {lo["extension"]}',
        f'Python {py["version"]} ({py["implementation"]}, {py["build"]}, '
        f'{py["compiler"]}'
        + (', debug build' if py['debug_build'] else '')
        + ('' if py['gil_enabled'] else ', free-threaded') + ')',
        f'  {py["executable"]}',
        f'Linux {system["kernel"]} {system["machine"]}'
        + (f', {system["libc"]}' if system['libc'] else '')
        + f', {system["cpus"]} CPUs',
        '',
        'Kernel features used',
    ]
    width = max(len(f['name']) for f in data['kernel_features'])
    for feature in data['kernel_features']:
        state = {True: 'yes', False: 'NO', None: '?'}[feature['available']]
        line = f'  {feature["name"]:<{width}}  {state:<3}  ' + \
            feature['used_for']
        if not feature['available']:
            line += f': {feature["detail"]}'     # why, or the fallback
        lines.append(line)
    for title, key in (('Peers', 'peers'), ('Frameworks', 'frameworks')):
        lines += ['', title]
        versions = data[key]
        width = max(map(len, versions))
        for name, version in versions.items():
            lines.append(f'  {name:<{width}}  {version or "not installed"}')
    return '\n'.join(lines) + '\n'
