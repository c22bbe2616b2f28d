"""Servers: the accept loop's failures on both loops."""
import asyncio
import errno
import socket


class AcceptFails:
    """A listening socket whose accept() fails with an unexpected errno."""

    def __init__(self, sock):
        self.sock = sock

    def fileno(self):
        return self.sock.fileno()

    def accept(self):
        raise OSError(errno.EPROTO, 'Protocol error')

    def close(self):
        self.sock.close()


def test_unexpected_accept_error_goes_to_the_handler(loop):
    # _start_serving is what Server uses on both loops (a private method
    # with the same signature): an accept() failing with an errno asyncio
    # does not expect is reported, and the loop keeps running.
    errors = []
    loop.set_exception_handler(lambda lp, ctx: errors.append(ctx))
    listener = socket.socket()
    listener.bind(('127.0.0.1', 0))
    listener.listen()
    listener.setblocking(False)
    bad = AcceptFails(listener)

    async def main():
        loop._start_serving(asyncio.Protocol, bad)
        with socket.create_connection(listener.getsockname()):
            for _ in range(100):
                if errors:
                    break
                await asyncio.sleep(0.005)
        loop._stop_serving(bad)
        return 'still running'

    try:
        assert loop.run_until_complete(main()) == 'still running'
    finally:
        listener.close()
    assert errors and isinstance(errors[0]['exception'], OSError)
    assert errors[0]['exception'].errno == errno.EPROTO
