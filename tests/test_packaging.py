"""What the package ships and how it refuses other platforms.

Most of these also run from the source tree; the ones about an installed
distribution run when LOOP_TEST_INSTALLED=1 (`make wheels`, `make sdist`
and cibuildwheel set it), and then also check that the suite really tests
the installed package, not a source tree that happens to be on the path.
"""
import ast
import importlib.metadata
import importlib.util
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import textwrap
from pathlib import Path

import pytest

import loop as eloop
from loop import _epoll
from support import subprocess_env

PACKAGE = Path(eloop.__file__).parent
INSTALLED = os.environ.get('LOOP_TEST_INSTALLED') == '1'
needs_install = pytest.mark.skipif(
    not INSTALLED, reason='checks an installed distribution '
    '(LOOP_TEST_INSTALLED=1)')


def run_python(code):
    """Run `code` in a child Python importing the same loop package."""
    return subprocess.run(
        [sys.executable, '-c', textwrap.dedent(code)], env=subprocess_env(),
        capture_output=True, text=True, timeout=60, check=False)


# -- platforms ----------------------------------------------------------------

@pytest.mark.parametrize('platform', ['darwin', 'win32', 'freebsd14'])
def test_import_elsewhere_says_linux_only(platform):
    done = run_python(f'''
        import sys
        sys.platform = {platform!r}
        try:
            import loop
        except ImportError as exc:
            print(exc)
            # Refused before the extension is loaded.
            print('loop._epoll' in sys.modules)
        else:
            print('imported')
    ''')
    assert done.returncode == 0, done.stderr
    message, loaded = done.stdout.splitlines()
    assert 'Linux only' in message and repr(platform) in message
    assert 'epoll' in message
    assert loaded == 'False'


# -- typing -------------------------------------------------------------------

def test_typing_files_beside_the_extension():
    assert (PACKAGE / 'py.typed').is_file()
    assert Path(_epoll.__file__).parent == PACKAGE
    assert (PACKAGE / '_epoll.pyi').is_file()


def _stub_classes():
    """From _epoll.pyi: {class: (methods, attributes)} and the functions."""
    tree = ast.parse((PACKAGE / '_epoll.pyi').read_text())
    classes, functions = {}, set()
    for node in tree.body:
        if isinstance(node, ast.ClassDef):
            methods, attributes = set(), set()
            for item in _flatten(node.body):
                if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    methods.add(item.name)
                elif isinstance(item, ast.AnnAssign):
                    attributes.add(item.target.id)
            classes[node.name] = methods, attributes
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            functions.add(node.name)
    return classes, functions


def _flatten(body):
    """The statements of a body, with both branches of `if sys.version_info`
    blocks."""
    for item in body:
        if isinstance(item, ast.If):
            yield from _flatten(item.body)
            yield from _flatten(item.orelse)
        else:
            yield item


def test_stub_names_exist():
    # A cheap part of `make stubtest` that runs with every test run: the
    # stub names no function or method the module lacks.  (Attributes may
    # be instance attributes, which only stubtest can check.)
    classes, functions = _stub_classes()
    for name in functions:
        assert callable(getattr(_epoll, name, None)), name
    for cls, (methods, _) in classes.items():
        runtime = getattr(_epoll, cls, None)
        assert isinstance(runtime, type), cls
        for name in methods:
            assert hasattr(runtime, name), f'{cls}.{name}'


@needs_install
def test_stub_covers_public_methods():
    # A public method added to a stubbed class goes in the stub too (those
    # that override an asyncio base class's are typed by that class).  Run
    # on builds of a commit only (wheels, sdist): an in-place build of a work
    # tree shared by several engineers may be ahead of the committed stub.
    classes, _ = _stub_classes()
    for cls in classes:
        runtime = getattr(_epoll, cls)
        stubbed = set()
        for klass in runtime.__mro__:
            stubbed.update(*classes.get(klass.__name__, ()))
            if klass.__module__ != _epoll.__name__:
                stubbed.update(vars(klass))
        missing = {name for name in vars(runtime)
                   if not name.startswith('_')} - stubbed
        assert not missing, (
            f'{cls}: add {sorted(missing)} to src/loop/_epoll.pyi')


# -- mypy --strict ------------------------------------------------------------

needs_mypy = pytest.mark.skipif(
    importlib.util.find_spec('mypy') is None,
    reason='mypy is not installed here (requirements-test.txt and the '
    'package\'s test extra install it)')


@pytest.fixture(scope='module')
def mypy_cache(tmp_path_factory):
    return tmp_path_factory.mktemp('mypy-cache')


def run_mypy(args, cwd, cache, mypy_path=None):
    env = {k: v for k, v in os.environ.items()
           if k not in ('PYTHONPATH', 'MYPYPATH')}
    if mypy_path:
        env['MYPYPATH'] = str(mypy_path)
    return subprocess.run(
        [sys.executable, '-m', 'mypy', '--strict', '--platform', 'linux',
         '--cache-dir', str(cache), '--no-error-summary', *args],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=300,
        check=False)


@needs_mypy
def test_mypy_strict_on_the_package(tmp_path, mypy_cache):
    # For this interpreter's version: the sources branch on
    # sys.version_info, and so do asyncio's stubs (`make test-all` and the
    # wheels cover the others; `make typecheck` checks them all at once).
    # The package's sources and stub as they are here (installed: what the
    # wheel shipped), copied so that mypy sees only them: given files in
    # site-packages, it would also take the other modules there for ours.
    copy = tmp_path / 'loop'
    copy.mkdir()
    sources = sorted(p for p in PACKAGE.iterdir()
                     if p.suffix in ('.py', '.pyi'))
    assert {'__init__.py', '__main__.py', '_eventloop.py', '_epoll.pyi'} <= {
        p.name for p in sources}
    for path in sources:
        shutil.copy(path, copy)
    done = run_mypy([p.name for p in sources], cwd=copy, cache=mypy_cache)
    assert done.returncode == 0, done.stdout + done.stderr


# A program using the package as its users do: mypy --strict must find the
# package typed (installed: through its py.typed) and its types precise.
USER_PROGRAM = '''
import asyncio
import socket
import sys

import loop


async def main() -> int:
    await asyncio.sleep(0)
    return 42


async def network(ev: loop.EventLoop, sock: socket.socket) -> None:
    transport, protocol = await ev.create_connection(
        asyncio.Protocol, 'localhost', 80)
    reveal_type(protocol)
    reveal_type(await ev.sock_recv(sock, 100))
    for family, kind, proto, name, address in await ev.getaddrinfo(
            'localhost', 80, type=socket.SOCK_STREAM):
        reveal_type(kind)
    await loop.monitor_lag(0.05)


reveal_type(loop.run(main()))
ev = loop.new_event_loop()
reveal_type(ev)
reveal_type(ev.run_until_complete(main()))
reveal_type(ev.call_later(0.1, print, 'late'))
ev.add_signal_handler(2, print, 'SIGINT')
reveal_type(ev.stats())
as_asyncio_loop: asyncio.AbstractEventLoop = ev
if sys.version_info >= (3, 12):
    asyncio.run(main(), loop_factory=loop.new_event_loop)
if sys.version_info < (3, 14):
    loop.install()
ev.close()
loop.no_such_name
'''

USER_TYPES = [
    'asyncio.protocols.Protocol',
    'bytes',
    'socket.SocketKind',
    'int',
    'loop._eventloop.EventLoop',
    'int',
    'loop._epoll.TimerHandle',
    'dict[str, int | float]',
]


@needs_mypy
def test_mypy_strict_on_a_user_program(tmp_path, mypy_cache):
    (tmp_path / 'program.py').write_text(USER_PROGRAM)
    # From the source tree, MYPYPATH finds the package; installed, mypy
    # must find it in site-packages, typed.
    done = run_mypy(['program.py'], cwd=tmp_path, cache=mypy_cache,
                    mypy_path=None if INSTALLED else PACKAGE.parent)
    revealed = re.findall(r'Revealed type is "(.*)"', done.stdout)
    errors = [line for line in done.stdout.splitlines() if ': error:' in line]
    assert revealed == USER_TYPES, done.stdout + done.stderr
    # The one error: the misspelt name (no module __getattr__ hides it).
    assert len(errors) == 1, done.stdout + done.stderr
    assert 'Module has no attribute "no_such_name"' in errors[0]


# -- the installed distribution -----------------------------------------------

@needs_install
def test_suite_imports_the_installed_package():
    site = {Path(sysconfig.get_paths()[key]).resolve()
            for key in ('purelib', 'platlib')}
    assert PACKAGE.resolve().parent in site, eloop.__file__
    # ... and so do the subprocesses the suite starts.
    done = run_python('import loop; print(loop.__file__)')
    assert done.stdout.strip() == eloop.__file__, done.stderr


@needs_install
def test_distribution_files():
    files = {str(f) for f in importlib.metadata.files('loop')
             if f.parts[0] == 'loop'}
    assert {'loop/py.typed', 'loop/_epoll.pyi', 'loop/__init__.py'} <= files
    assert any(f.startswith('loop/_epoll.') and f.endswith('.so')
               for f in files)
    # Only what runs and what type checkers read: the Cython declarations
    # and sources are build inputs (their includes resolve only in the
    # source tree, so a shipped .pxd could not be cimported anyway).
    build_inputs = {f for f in files
                    if f.endswith(('.pyx', '.pxd', '.pxi', '.c', '.h'))}
    assert not build_inputs


@needs_install
def test_distribution_version():
    assert importlib.metadata.version('loop') == eloop.__version__
    meta = importlib.metadata.metadata('loop')
    assert meta['Requires-Python'] == '>=3.10'
    assert 'Operating System :: POSIX :: Linux' in meta.get_all('Classifier')
