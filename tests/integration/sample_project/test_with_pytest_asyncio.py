import asyncio

import pytest
import pytest_asyncio

from conftest import check_running_loop


@pytest_asyncio.fixture
async def upper_server():
    """A TCP server that answers each line in capitals."""
    check_running_loop()

    async def handle(reader, writer):
        while line := await reader.readline():
            writer.write(line.upper())
            await writer.drain()
        writer.close()
        await writer.wait_closed()
    server = await asyncio.start_server(handle, '127.0.0.1', 0)
    yield server.sockets[0].getsockname()[1]
    server.close()
    await server.wait_closed()


@pytest.mark.asyncio
async def test_runs_on_selected_loop():
    check_running_loop()


@pytest.mark.asyncio
async def test_async_fixture_and_streams(upper_server):
    check_running_loop()
    reader, writer = await asyncio.open_connection('127.0.0.1', upper_server)
    for word in ('hello', 'loop'):
        writer.write(word.encode() + b'\n')
        assert await reader.readline() == word.upper().encode() + b'\n'
    writer.close()
    await writer.wait_closed()


@pytest.mark.asyncio
async def test_timeouts_and_tasks():
    check_running_loop()
    with pytest.raises(asyncio.TimeoutError):
        await asyncio.wait_for(asyncio.sleep(10), 0.01)
    results = await asyncio.gather(*[asyncio.sleep(0, i) for i in range(10)])
    assert results == list(range(10))


_module_loops = []


@pytest.mark.asyncio(loop_scope='module')
async def test_module_scoped_loop_first():
    check_running_loop()
    _module_loops.append(asyncio.get_running_loop())


@pytest.mark.asyncio(loop_scope='module')
async def test_module_scoped_loop_second():
    # Both tests ran on one loop, kept for the module.
    assert _module_loops == [asyncio.get_running_loop()]
