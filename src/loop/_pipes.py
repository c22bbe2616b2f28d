"""Pipe transports and connect_read_pipe/connect_write_pipe (in progress)."""


class PipeMixin:
    """EventLoop methods for pipes; mixed into loop.EventLoop."""
