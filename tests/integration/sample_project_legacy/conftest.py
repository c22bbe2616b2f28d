"""aiohttp.pytest_plugin on loop: override its `loop` fixture (the loop
every async test and aiohttp fixture of the plugin runs on).  The plugin's
own --aiohttp-loop option knows only pyloop and uvloop."""
import asyncio
import os

import pytest
from aiohttp.test_utils import loop_context

import loop as eloop

pytest_plugins = ['aiohttp.pytest_plugin']

USE_LOOP = os.environ.get('SAMPLE_LOOP', 'loop') == 'loop'
FACTORY = eloop.new_event_loop if USE_LOOP else asyncio.new_event_loop


@pytest.fixture
def loop():
    with loop_context(FACTORY) as ev:
        yield ev


def check_running_loop():
    running = asyncio.get_running_loop()
    assert isinstance(running, eloop.EventLoop) == USE_LOOP, running
