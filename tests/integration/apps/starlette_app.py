"""The Starlette app that uvicorn serves in test_uvicorn.py (imported by
uvicorn itself, by import string, in a subprocess; or passed to
uvicorn.Server in the test's process)."""
import asyncio
import hashlib

from starlette.applications import Starlette
from starlette.responses import (
    JSONResponse,
    PlainTextResponse,
    StreamingResponse,
)
from starlette.routing import Route, WebSocketRoute


def _loop_name():
    running = asyncio.get_running_loop()
    return f'{type(running).__module__}.{type(running).__qualname__}'


async def info(request):
    # Which loop serves the request, and over which connection: the
    # client's address is the same for requests on a kept-alive connection.
    # (None over a Unix socket.)
    client = list(request.client) if request.client else None
    return JSONResponse({'loop': _loop_name(), 'client': client})


async def plain(request):
    return PlainTextResponse('Hello, world!')


async def stream(request):
    # n chunks of `size` bytes, chunk i filled with the byte i % 256; the
    # generator yields to the loop between chunks, as a real producer would.
    n = int(request.query_params['n'])
    size = int(request.query_params['size'])

    async def chunks():
        for i in range(n):
            yield bytes([i % 256]) * size
            await asyncio.sleep(0)
    return StreamingResponse(chunks(), media_type='application/octet-stream')


async def upload(request):
    digest = hashlib.sha256()
    size = 0
    async for chunk in request.stream():
        digest.update(chunk)
        size += len(chunk)
    return JSONResponse({'size': size, 'sha256': digest.hexdigest()})


async def echo(websocket):
    await websocket.accept()
    await websocket.send_text(_loop_name())
    while True:
        message = await websocket.receive()
        if message['type'] == 'websocket.disconnect':
            return
        if message.get('text') is not None:
            if message['text'] == 'close':
                await websocket.close(code=4000, reason='asked to')
                return
            await websocket.send_text(message['text'])
        else:
            await websocket.send_bytes(message['bytes'])


app = Starlette(routes=[
    Route('/info', info),
    Route('/plain', plain),
    Route('/stream', stream),
    Route('/upload', upload, methods=['POST']),
    WebSocketRoute('/ws', echo),
])
