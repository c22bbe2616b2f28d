"""Subprocess transports, child reaping and subprocess_exec/shell (in progress)."""


class SubprocessMixin:
    """EventLoop methods for subprocesses; mixed into loop.EventLoop."""
