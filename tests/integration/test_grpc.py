"""grpcio's asyncio API (grpc.aio) on our loop and on asyncio.

grpc.aio runs its C core's completion queue in a thread of its own and
hands events to the loop through a socket it watches with add_reader():
the loop's reader callbacks, timers and task cancellation are what it
relies on.  No .proto files: the handlers take and return bytes."""
import asyncio
import contextlib
import gc

import pytest

from ._util import HOST, assert_running_on, need, run

grpc = need('grpc')
cygrpc = need('grpc._cython.cygrpc')
trustme = need('trustme')

SERVICE = 'loop.test.Echo'


@pytest.fixture(autouse=True)
def grpc_runtime_stopped():
    """grpc.aio's runtime (a poller thread, the C core's fds) runs while a
    server or channel exists and stops when the last one is freed: here,
    before tests/conftest.py looks for threads, fds and loops left behind."""
    yield
    _stop_grpc_runtime()


def _stop_grpc_runtime():
    gc.collect()
    # grpc's last completion queue stays, holding every loop it served,
    # until the runtime starts again: one more start and stop, on a loop of
    # its own, lets go of the test's loop (grpc's doing, the same on both).
    async def start_and_stop():
        cygrpc.init_grpc_aio()
        cygrpc.shutdown_grpc_aio()
    asyncio.run(start_and_stop())


async def _unary(request, context):
    if request == b'fail':
        await context.abort(grpc.StatusCode.INVALID_ARGUMENT, 'asked to')
    return request[::-1]


async def _slow(request, context):
    await asyncio.sleep(float(request))
    return b'late'


async def _count(request, context):
    for i in range(int(request)):
        yield b'%d' % i


async def _upper(request_iterator, context):
    async for request in request_iterator:
        yield request.upper()


async def _total(request_iterator, context):
    total = 0
    async for request in request_iterator:
        total += len(request)
    return b'%d' % total


def _handler():
    return grpc.method_handlers_generic_handler(SERVICE, {
        'Unary': grpc.unary_unary_rpc_method_handler(_unary),
        'Slow': grpc.unary_unary_rpc_method_handler(_slow),
        'Count': grpc.unary_stream_rpc_method_handler(_count),
        'Upper': grpc.stream_stream_rpc_method_handler(_upper),
        'Total': grpc.stream_unary_rpc_method_handler(_total),
    })


@contextlib.asynccontextmanager
async def _serving(credentials=None):
    """(server, port): a started server, stopped at the end (at once; a
    test may stop it earlier itself)."""
    server = grpc.aio.server()
    server.add_generic_rpc_handlers((_handler(),))
    if credentials is None:
        port = server.add_insecure_port(f'{HOST}:0')
    else:
        port = server.add_secure_port('localhost:0', credentials)
    await server.start()
    try:
        yield server, port
    finally:
        await server.stop(None)


def _method(channel, kind, name):
    return getattr(channel, kind)(f'/{SERVICE}/{name}')


async def _all_kinds(channel):
    unary = _method(channel, 'unary_unary', 'Unary')
    for i in range(100):
        assert await unary(b'abc%d' % i) == (b'abc%d' % i)[::-1]
    # Many calls at once, multiplexed over the one HTTP/2 connection.
    replies = await asyncio.gather(*[unary(b'%d' % i) for i in range(200)])
    assert replies == [(b'%d' % i)[::-1] for i in range(200)]

    count = _method(channel, 'unary_stream', 'Count')
    assert [r async for r in count(b'500')] == [b'%d' % i for i in range(500)]

    # Bidirectional, one message answered at a time.
    call = _method(channel, 'stream_stream', 'Upper')()
    for i in range(50):
        await call.write(b'm%d' % i)
        assert await call.read() == b'M%d' % i
    await call.done_writing()
    assert await call.read() == grpc.aio.EOF
    assert await call.code() == grpc.StatusCode.OK

    total = _method(channel, 'stream_unary', 'Total')
    big = [b'x' * 65536] * 32      # 2 MiB: HTTP/2 flow control both ways
    assert await total(iter(big)) == b'%d' % (65536 * 32)

    with pytest.raises(grpc.aio.AioRpcError) as err:
        await unary(b'fail')
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert err.value.details() == 'asked to'


def test_grpc_calls_of_every_kind(loop, loop_kind):
    async def main():
        assert_running_on(loop_kind)
        async with _serving() as (_, port), \
                grpc.aio.insecure_channel(f'{HOST}:{port}') as channel:
            await _all_kinds(channel)

    run(loop, main())


def test_grpc_over_tls(loop, loop_kind):
    ca = trustme.CA()
    cert = ca.issue_cert('localhost')
    key_pem = cert.private_key_pem.bytes()
    chain_pem = b''.join(blob.bytes() for blob in cert.cert_chain_pems)
    server_creds = grpc.ssl_server_credentials([(key_pem, chain_pem)])
    client_creds = grpc.ssl_channel_credentials(ca.cert_pem.bytes())

    async def main():
        assert_running_on(loop_kind)
        async with _serving(server_creds) as (_, port), \
                grpc.aio.secure_channel(
                    f'localhost:{port}', client_creds) as channel:
            await _all_kinds(channel)

    run(loop, main())


def test_grpc_deadline_and_cancellation(loop, loop_kind):
    async def main():
        assert_running_on(loop_kind)
        async with _serving() as (_, port), \
                grpc.aio.insecure_channel(f'{HOST}:{port}') as channel:
            slow = _method(channel, 'unary_unary', 'Slow')
            with pytest.raises(grpc.aio.AioRpcError) as err:
                await slow(b'5', timeout=0.2)
            assert err.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED

            # Cancelling the task awaiting a call cancels the call.
            task = asyncio.ensure_future(slow(b'5'))
            await asyncio.sleep(0.2)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task

            # asyncio.wait_for() over a call: the same, by timeout.
            with pytest.raises(asyncio.TimeoutError):
                await asyncio.wait_for(slow(b'5'), 0.2)

            # The channel is still good.
            unary = _method(channel, 'unary_unary', 'Unary')
            assert await unary(b'after') == b'retfa'

    run(loop, main())


def test_grpc_server_stop_with_grace(loop, loop_kind):
    # A call in progress when the server stops with a grace period is
    # finished; a call after that fails UNAVAILABLE.
    async def main():
        assert_running_on(loop_kind)
        async with _serving() as (server, port), \
                grpc.aio.insecure_channel(f'{HOST}:{port}') as channel:
            slow = _method(channel, 'unary_unary', 'Slow')
            pending = asyncio.ensure_future(slow(b'0.3'))
            await asyncio.sleep(0.1)
            await server.stop(5)
            assert await pending == b'late'
            with pytest.raises(grpc.aio.AioRpcError) as err:
                await _method(channel, 'unary_unary', 'Unary')(
                    b'x', timeout=2)
            assert err.value.code() == grpc.StatusCode.UNAVAILABLE

    run(loop, main())
