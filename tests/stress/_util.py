"""Helpers shared by the stress scenarios."""
import asyncio
import os
import resource

SHORT = os.environ.get('LOOP_STRESS_SHORT') == '1'
HOST = '127.0.0.1'
_PAGE = os.sysconf('SC_PAGE_SIZE')


def size(full, short):
    """The scenario's size in the current mode."""
    return short if SHORT else full


def run(loop, coro, timeout):
    """Run `coro` on `loop` with a hard wall-clock bound: a hung scenario
    fails with TimeoutError instead of hanging the run."""
    return loop.run_until_complete(asyncio.wait_for(coro, timeout))


def rss():
    """Resident set size of this process, in bytes."""
    with open('/proc/self/statm') as f:
        return int(f.read().split()[1]) * _PAGE


def fds():
    return set(os.listdir('/proc/self/fd'))


def cpu():
    """CPU seconds (user + system) used by this process so far."""
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


class Echo(asyncio.Protocol):
    """Server side: echo every byte back, close on EOF."""

    def connection_made(self, transport):
        self.transport = transport

    def data_received(self, data):
        self.transport.write(data)

    def eof_received(self):
        return False        # close once the echo is flushed


async def echo_server(loop, backlog=4096):
    """An echo server on an ephemeral 127.0.0.1 port: (server, port)."""
    server = await loop.create_server(Echo, HOST, 0, backlog=backlog)
    return server, server.sockets[0].getsockname()[1]


async def close_server(server):
    server.close()
    await server.wait_closed()
