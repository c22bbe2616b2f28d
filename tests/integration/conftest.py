"""Integration tests (issue 10): real libraries, real servers, on both
loops.  Run by scripts/integration.sh (make integration), which installs
the packages of requirements-integration.txt, starts a throwaway PostgreSQL
and Redis and names their addresses in LOOP_TEST_PG_DSN /
LOOP_TEST_PG_SOCKET_DIR / LOOP_TEST_PG_CA / LOOP_TEST_REDIS_URL /
LOOP_TEST_REDIS_SOCKET.

Every test takes the `loop` or `loop_kind` fixture of tests/conftest.py, so
it runs on stdlib asyncio and on our loop, with the same leak checks.
"""
import os

import pytest

_HERE = os.path.dirname(os.path.abspath(__file__))
NEEDS_SERVERS = 'run scripts/integration.sh (needs PostgreSQL/Redis)'

# The sample projects are run by pytest in a subprocess (test_pytest_plugins),
# each with its own conftest and plugins: not collected here.
collect_ignore = ['sample_project', 'sample_project_legacy']


def pytest_collection_modifyitems(config, items):
    # A plain `pytest tests` (make test) collects this directory too, but it
    # needs packages and servers that only scripts/integration.sh provides:
    # its tests run only when tests/integration (or a file in it) is named.
    named = any(os.path.abspath(str(a).split('::')[0]).startswith(_HERE)
                for a in config.args)
    if named:
        return
    skip = pytest.mark.skip(
        reason='integration test: run by scripts/integration.sh')
    for item in items:
        if str(item.fspath).startswith(_HERE):
            item.add_marker(skip)


@pytest.fixture
def pg_dsn():
    """The throwaway PostgreSQL's DSN (TCP on loopback)."""
    dsn = os.environ.get('LOOP_TEST_PG_DSN')
    if not dsn:
        pytest.skip(NEEDS_SERVERS)
    return dsn


@pytest.fixture
def pg_socket_dir():
    """The directory of the throwaway PostgreSQL's Unix socket."""
    path = os.environ.get('LOOP_TEST_PG_SOCKET_DIR')
    if not path:
        pytest.skip(NEEDS_SERVERS)
    return path


@pytest.fixture
def pg_ca():
    """The CA (PEM file) of the throwaway PostgreSQL's TLS certificate."""
    path = os.environ.get('LOOP_TEST_PG_CA')
    if not path:
        pytest.skip(NEEDS_SERVERS)
    return path


@pytest.fixture
def redis_url():
    """The throwaway Redis's URL."""
    url = os.environ.get('LOOP_TEST_REDIS_URL')
    if not url:
        pytest.skip(NEEDS_SERVERS)
    return url


@pytest.fixture
def redis_socket():
    """The throwaway Redis's Unix socket."""
    path = os.environ.get('LOOP_TEST_REDIS_SOCKET')
    if not path:
        pytest.skip(NEEDS_SERVERS)
    return path
