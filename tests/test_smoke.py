"""First light: a stock asyncio program gives the same result on both loops."""
import asyncio

import pytest

import loop


@pytest.mark.parametrize('factory', [asyncio.new_event_loop,
                                     loop.new_event_loop],
                         ids=['asyncio', 'loop'])
def test_gather_sleep_to_thread(factory):
    async def main():
        results = await asyncio.gather(
            *(asyncio.sleep(0.001 * (5 - i), i) for i in range(5)))
        results.append(await asyncio.to_thread(sum, [1, 2, 3]))
        return results

    ev = factory()
    try:
        assert ev.run_until_complete(main()) == [0, 1, 2, 3, 4, 6]
    finally:
        ev.run_until_complete(ev.shutdown_default_executor())
        ev.close()


def test_is_abstract_event_loop():
    ev = loop.new_event_loop()
    try:
        assert isinstance(ev, asyncio.AbstractEventLoop)
    finally:
        ev.close()
