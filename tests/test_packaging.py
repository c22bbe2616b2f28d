"""What the package ships and how it refuses other platforms.

Most of these also run from the source tree; the ones about an installed
distribution run when LOOP_TEST_INSTALLED=1 (`make wheels`, `make sdist`
and cibuildwheel set it), and then also check that the suite really tests
the installed package, not a source tree that happens to be on the path.
"""
import ast
import importlib.metadata
import os
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
