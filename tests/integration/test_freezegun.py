"""freezegun on both loops: a frozen clock is the loop's clock.

freezegun replaces time.monotonic(), which is asyncio's loop.time(); tests
written for asyncio move the frozen clock forward to fire timers and
timeouts without waiting.  (uvloop and rloop keep their own clock: the
timers below would never fire there.)"""
import asyncio

from ._util import assert_running_on, need

freezegun = need('freezegun')


async def _passes(n=5):
    for _ in range(n):
        await asyncio.sleep(0)


def test_moving_a_frozen_clock_fires_timers(loop, loop_kind):
    async def main():
        assert_running_on(loop_kind)
        with freezegun.freeze_time('2030-01-01') as frozen:
            start = loop.time()
            fired = []
            loop.call_later(3600, fired.append, 'an hour later')
            sleeper = asyncio.ensure_future(asyncio.sleep(86400, 'a day'))
            waiter = asyncio.ensure_future(
                asyncio.wait_for(loop.create_future(), 7200))
            await _passes()
            assert fired == [] and not sleeper.done() and not waiter.done()

            frozen.tick(3601)
            await _passes()
            assert loop.time() - start == 3601
            assert fired == ['an hour later']
            assert not waiter.done() and not sleeper.done()

            frozen.tick(86400)
            await _passes()
            assert sleeper.result() == 'a day'
            assert isinstance(waiter.exception(), asyncio.TimeoutError)

    # No timeout guard (tests/integration/_util.run): its timer would go by
    # the frozen clock too.  Nothing here waits on a timer.
    loop.run_until_complete(main())
