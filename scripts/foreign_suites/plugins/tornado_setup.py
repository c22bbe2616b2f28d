"""pytest plugin for run.sh: what tornado's own test runner sets up.

tornado.test.runtests.main() silences the access log before running the
suite, and the tests check that nothing else was logged: without this,
every test that serves a request fails on an "unexpected log" on either
loop.
"""
from __future__ import annotations

import logging

import pytest


def pytest_configure(config: pytest.Config) -> None:
    logging.getLogger("tornado.access").setLevel(logging.CRITICAL)
