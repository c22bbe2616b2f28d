"""An aiohttp web server (plaintext and JSON), on any loop.

    python benchmarks/servers/app_aiohttp.py --loop NAME [--port N]

GET /plaintext answers "Hello, World!" as text/plain, GET /json answers
{"message": "Hello, World!"}, the same endpoints as app_uvicorn.py.  No
access log.  The loop is made by loops.new_loop and aiohttp serves the
listening socket through a SockSite, so every loop runs the same code.
Prints "READY <port>", or "NA <reason>" and exit status 3 when the loop
lacks a feature aiohttp needs.
"""
import argparse
import asyncio
import os
import sys

from aiohttp import web

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from echo_server import (
    BACKLOG,
    listening_socket,
    loops,
    not_available,
    raise_fd_limit,
)

MESSAGE = 'Hello, World!'


async def plaintext(request):
    return web.Response(text=MESSAGE)


async def json_message(request):
    return web.json_response({'message': MESSAGE})


async def start(sock):
    app = web.Application()
    app.router.add_get('/plaintext', plaintext)
    app.router.add_get('/json', json_message)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.SockSite(runner, sock, backlog=BACKLOG)
    await site.start()
    return runner


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--loop', required=True, choices=loops.LOOPS)
    parser.add_argument('--port', type=int, default=0)
    args = parser.parse_args()
    raise_fd_limit()

    lp = loops.new_loop(args.loop)
    asyncio.set_event_loop(lp)
    sock = listening_socket(args.port, None)
    port = sock.getsockname()[1]    # before rloop detaches the socket
    try:
        _runner = lp.run_until_complete(start(sock))
    except NotImplementedError as exc:
        not_available(exc)
    print('READY', port, flush=True)
    lp.run_forever()


if __name__ == '__main__':
    main()
