"""loop: a Linux asyncio event loop whose core is Cython calling epoll_wait.

    import loop
    loop.run(main())                                    # like asyncio.run
    asyncio.run(main(), loop_factory=loop.new_event_loop)   # Python 3.12+
"""
import sys
from typing import TYPE_CHECKING

if not sys.platform.startswith('linux'):
    raise ImportError(
        f'loop supports Linux only (this is {sys.platform!r}): its core '
        'calls epoll_wait directly; use asyncio or uvloop elsewhere')

from ._eventloop import EventLoop, new_event_loop
from ._monitor import monitor_lag
from ._runner import run
from ._version import __version__

__all__ = (
    'EventLoop',
    '__version__',
    'monitor_lag',
    'new_event_loop',
    'run',
)

# The policy system: deprecated by asyncio in 3.14 and removed in 3.16.
_HAS_POLICIES = sys.version_info < (3, 16)

if TYPE_CHECKING:
    # What __getattr__ gives, for type checkers; they do not see
    # __getattr__ itself, which would make any name of the module valid.
    if sys.version_info < (3, 16):
        from ._policy import EventLoopPolicy as EventLoopPolicy
        from ._policy import install as install
else:
    def __getattr__(name: str) -> object:
        if _HAS_POLICIES and name in ('EventLoopPolicy', 'install'):
            from . import _policy
            return getattr(_policy, name)
        raise AttributeError(f"module 'loop' has no attribute {name!r}")
