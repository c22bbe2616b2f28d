"""The event loops under test, selected by name.

Every benchmark program (micro-benchmarks, servers, scale tests, the
pytest-benchmark tests) creates its loop through `new_loop(name)`, so a
loop is added or removed here and nowhere else.
"""
import asyncio
import importlib
import sys

# Report order: the control first, then the peers, then ours.
LOOPS = ('asyncio', 'uvloop', 'rloop', 'loop')
PEERS = ('asyncio', 'uvloop', 'rloop')

# name -> (module to import, distribution whose version the report shows)
_MODULES = {
    'asyncio': ('asyncio', None),
    'uvloop': ('uvloop', 'uvloop'),
    'rloop': ('rloop', 'rloop'),
    'loop': ('loop', 'loop'),
}


def new_loop(name):
    """A new event loop of the named implementation (not set as current)."""
    if name == 'asyncio':
        return asyncio.new_event_loop()
    module = importlib.import_module(_MODULES[name][0])
    return module.new_event_loop()


def missing(name):
    """Why the named loop cannot be used here, or None if it can."""
    try:
        new_loop(name).close()
    # Any failure (ImportError, a half-rebuilt extension) means "not here".
    except Exception as exc:  # noqa: BLE001
        return f'not installed ({type(exc).__name__}: {exc})'
    return None


def build_stamp():
    """Path and mtime of our compiled extension, or None.

    Compared before and after a run: the extension may be rebuilt while the
    suite runs (a process with the old file mapped can even crash), and a
    report mixing two builds must say so.
    """
    import importlib.util
    try:
        spec = importlib.util.find_spec('loop._epoll')
    except ImportError:
        return None
    if spec is None or not spec.origin:
        return None
    import os
    try:
        return [spec.origin, os.path.getmtime(spec.origin)]
    except OSError:
        return None


def version(name):
    """The version string the report prints for a loop, or None."""
    if name == 'asyncio':
        return 'Python ' + sys.version.split()[0]
    try:
        module = importlib.import_module(_MODULES[name][0])
    except ImportError:
        return None
    found = getattr(module, '__version__', None)
    if found:
        return str(found)
    from importlib import metadata
    try:
        return metadata.version(_MODULES[name][1])
    except metadata.PackageNotFoundError:
        return 'unknown'
