"""uvicorn serving a Starlette app (plaintext and JSON), on any loop.

    python benchmarks/servers/app_uvicorn.py --loop NAME [--port N]

GET /plaintext answers "Hello, World!" as text/plain, GET /json answers
{"message": "Hello, World!"}: the two TechEmpower-style endpoints.  uvicorn
runs with its httptools protocol (what it picks itself when httptools is
installed), no lifespan and no access log, in one process.  The loop is
made by loops.new_loop and uvicorn is handed the listening socket, so every
loop runs the same server code.  Prints "READY <port>", or "NA <reason>"
and exit status 3 when the loop lacks a feature uvicorn needs.
"""
import argparse
import asyncio
import os
import sys

import uvicorn
from starlette.applications import Starlette
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.routing import Route

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
    return PlainTextResponse(MESSAGE)


async def json_message(request):
    return JSONResponse({'message': MESSAGE})


app = Starlette(routes=[Route('/plaintext', plaintext),
                        Route('/json', json_message)])


async def serve(server, sock, port):
    task = asyncio.ensure_future(server.serve(sockets=[sock]))
    # uvicorn sets `started` once it listens; READY only then.
    while not server.started:
        if task.done():
            task.result()           # raises what stopped it
            raise RuntimeError('uvicorn exited before it started')
        await asyncio.sleep(0.01)
    print('READY', port, flush=True)
    await task


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--loop', required=True, choices=loops.LOOPS)
    parser.add_argument('--port', type=int, default=0)
    args = parser.parse_args()
    raise_fd_limit()

    config = uvicorn.Config(app, http='httptools', lifespan='off',
                            access_log=False, log_level='warning',
                            backlog=BACKLOG)
    server = uvicorn.Server(config)
    lp = loops.new_loop(args.loop)
    asyncio.set_event_loop(lp)
    sock = listening_socket(args.port, None)
    port = sock.getsockname()[1]    # before rloop detaches the socket
    try:
        lp.run_until_complete(serve(server, sock, port))
    except NotImplementedError as exc:
        not_available(exc)


if __name__ == '__main__':
    main()
