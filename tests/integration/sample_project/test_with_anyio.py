import anyio
import pytest

from conftest import check_running_loop

pytestmark = pytest.mark.anyio


@pytest.fixture
async def echo_listener():
    """An anyio TCP listener echoing what it receives."""
    check_running_loop()
    listener = await anyio.create_tcp_listener(local_host='127.0.0.1')

    async def handle(stream):
        async with stream:
            async for data in stream:
                await stream.send(data)
    async with listener, anyio.create_task_group() as tg:
        tg.start_soon(listener.serve, handle)
        yield listener.extra(anyio.abc.SocketAttribute.local_port)
        tg.cancel_scope.cancel()


async def test_runs_on_selected_loop(anyio_backend_name):
    assert anyio_backend_name == 'asyncio'
    check_running_loop()


async def test_tcp_stream(echo_listener):
    async with await anyio.connect_tcp('127.0.0.1', echo_listener) as stream:
        for i in range(20):
            await stream.send(b'ping %d' % i)
            assert await stream.receive() == b'ping %d' % i


async def test_task_group_memory_stream_and_thread():
    send, receive = anyio.create_memory_object_stream(10)
    got = []

    async def consume():
        async with receive:
            async for item in receive:
                got.append(item)
    async with anyio.create_task_group() as tg:
        tg.start_soon(consume)
        async with send:
            for i in range(50):
                await send.send(i)
    assert got == list(range(50))
    assert await anyio.to_thread.run_sync(sum, [1, 2, 3]) == 6


async def test_cancel_scopes():
    with anyio.move_on_after(0.01) as scope:
        await anyio.sleep(10)
    assert scope.cancelled_caught
    with pytest.raises(TimeoutError):
        with anyio.fail_after(0.01):
            await anyio.sleep(10)
