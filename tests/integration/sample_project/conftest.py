"""Selecting loop for a project's async tests: the recipes of
docs/integration.md, for pytest-asyncio (and pytest-aiohttp, which runs on
it) and for anyio's pytest plugin.

SAMPLE_LOOP=asyncio runs the same recipes with stdlib asyncio's loop, as
the control; SAMPLE_RECIPE chooses pytest-asyncio's recipe: 'hook'
(pytest-asyncio >= 1.4) or 'policy' (older versions).
"""
import asyncio
import os

import pytest

import loop

USE_LOOP = os.environ.get('SAMPLE_LOOP', 'loop') == 'loop'
RECIPE = os.environ.get('SAMPLE_RECIPE', 'hook')
FACTORY = loop.new_event_loop if USE_LOOP else asyncio.new_event_loop


# -- pytest-asyncio ---------------------------------------------------------

if RECIPE == 'hook':
    # pytest-asyncio >= 1.4: the loops its tests and fixtures run on.
    def pytest_asyncio_loop_factories(config, item):
        return {'loop': FACTORY}
else:
    # pytest-asyncio < 1.4 (deprecated from 1.4 on): a policy whose
    # new_event_loop() makes our loops.
    @pytest.fixture(scope='session')
    def event_loop_policy():
        if USE_LOOP:
            return loop.EventLoopPolicy()
        return asyncio.DefaultEventLoopPolicy()


# -- anyio -------------------------------------------------------------------

@pytest.fixture(scope='module')
def anyio_backend():
    # anyio's asyncio backend takes a loop_factory option.
    return 'asyncio', {'loop_factory': FACTORY}


def check_running_loop():
    """Fail unless the test runs on the loop this run selected."""
    running = asyncio.get_running_loop()
    assert isinstance(running, loop.EventLoop) == USE_LOOP, running
