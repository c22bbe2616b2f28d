"""gunicorn worker classes for test_uvicorn.py: uvicorn's worker (the
uvicorn-worker package) with the loop set, as README's recipe has it."""
from typing import Any, ClassVar

from uvicorn_worker import UvicornWorker


class LoopUvicornWorker(UvicornWorker):
    CONFIG_KWARGS: ClassVar[dict[str, Any]] = {
        **UvicornWorker.CONFIG_KWARGS, 'loop': 'loop:new_event_loop'}


class AsyncioUvicornWorker(UvicornWorker):
    CONFIG_KWARGS: ClassVar[dict[str, Any]] = {
        **UvicornWorker.CONFIG_KWARGS, 'loop': 'asyncio'}
