"""loop.run(): asyncio.run() with our loop, on every supported Python."""
from __future__ import annotations

import asyncio
import sys
from typing import TYPE_CHECKING, Any

from ._eventloop import new_event_loop

if TYPE_CHECKING:
    from collections.abc import Callable, Coroutine
    from typing import TypeVar

    _T = TypeVar('_T')

__all__ = ('run',)


def run(main: Coroutine[Any, Any, _T], *, debug: bool | None = None,
        loop_factory: Callable[[], asyncio.AbstractEventLoop] = new_event_loop,
        ) -> _T:
    """Run coroutine `main` on a new loop and return its result.

    The same contract as asyncio.run(): cancel what is left, shut down
    async generators and the default executor, close the loop.
    """
    if sys.version_info >= (3, 12):
        return asyncio.run(main, debug=debug, loop_factory=loop_factory)
    if sys.version_info >= (3, 11):
        # asyncio.run()'s own check: Runner would make a loop first.
        if asyncio._get_running_loop() is not None:
            raise RuntimeError(
                "asyncio.run() cannot be called from a running event loop")
        with asyncio.Runner(debug=debug, loop_factory=loop_factory) as runner:
            return runner.run(main)
    return _run_310(main, debug, loop_factory)


def _run_310(main: Coroutine[Any, Any, _T], debug: bool | None,
             loop_factory: Callable[[], asyncio.AbstractEventLoop]) -> _T:
    # Python 3.10 has neither asyncio.Runner nor a loop_factory argument:
    # asyncio.run()'s steps, with our factory.
    if asyncio._get_running_loop() is not None:
        raise RuntimeError(
            "asyncio.run() cannot be called from a running event loop")
    if not asyncio.iscoroutine(main):
        raise ValueError(f"a coroutine was expected, got {main!r}")
    loop = loop_factory()
    try:
        asyncio.set_event_loop(loop)
        if debug is not None:
            loop.set_debug(debug)
        return loop.run_until_complete(main)
    finally:
        try:
            _cancel_all_tasks(loop)
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.run_until_complete(loop.shutdown_default_executor())
        finally:
            asyncio.set_event_loop(None)
            loop.close()


def _cancel_all_tasks(loop: asyncio.AbstractEventLoop) -> None:
    to_cancel = asyncio.all_tasks(loop)
    if not to_cancel:
        return
    for task in to_cancel:
        task.cancel()
    loop.run_until_complete(asyncio.gather(*to_cancel, return_exceptions=True))
    for task in to_cancel:
        if task.cancelled():
            continue
        if task.exception() is not None:
            loop.call_exception_handler({
                'message': 'unhandled exception during asyncio.run() shutdown',
                'exception': task.exception(),
                'task': task,
            })
