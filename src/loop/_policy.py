"""EventLoopPolicy and install(), for Pythons that still have policies.

asyncio deprecates the policy system in 3.14 and removes it in 3.16; from
3.12 on, asyncio.run(main, loop_factory=loop.new_event_loop) or loop.run()
is the way to choose a loop, so install() warns there, as uvloop's does.
"""
from __future__ import annotations

import asyncio
import sys
import warnings
from typing import TYPE_CHECKING

from ._eventloop import new_event_loop

if TYPE_CHECKING:
    from ._eventloop import EventLoop

if sys.version_info >= (3, 14):
    _Base = asyncio.events._BaseDefaultEventLoopPolicy
else:
    _Base = asyncio.DefaultEventLoopPolicy


class EventLoopPolicy(_Base):
    """An asyncio event loop policy whose loops are loop.EventLoop.

    A custom policy like any other: its ``new_event_loop()`` returns our
    loop; it does not set up a child watcher.
    """

    def _loop_factory(self) -> EventLoop:
        return new_event_loop()

    def new_event_loop(self) -> EventLoop:
        return new_event_loop()

    def __repr__(self) -> str:
        return f'<{type(self).__name__}>'


def install() -> None:
    """Make asyncio's policy create loop.EventLoop loops."""
    if sys.version_info >= (3, 12):
        warnings.warn(
            'loop.install() is deprecated in favor of loop.run() and '
            'asyncio.run(main, loop_factory=loop.new_event_loop) starting '
            'with Python 3.12', DeprecationWarning, stacklevel=2)
    asyncio.set_event_loop_policy(EventLoopPolicy())
