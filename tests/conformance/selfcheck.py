"""The stdlib loop, as a target: `run.py --target selfcheck`.

Injected exactly like `loop` (policy, factory overrides, fixture name
swaps), but the loops are asyncio's own SelectorEventLoop.  Any test that
passes on the asyncio column and not on this one is an artefact of the
injection, not of a loop: this is the runner's check on itself, and it
needs no compiled extension, so it runs on every Python.

Expected differences: fixtures that build a bare BaseEventLoop and then mock
its private _selector (test_base_events' BaseEventLoopTests, test_pep492)
cannot run a real SelectorEventLoop whose selector is a Mock.
"""
import asyncio

# Taken now: the launcher points asyncio.SelectorEventLoop at the target's
# factory while some fixtures run, and this factory must not call itself.
_SelectorEventLoop = asyncio.SelectorEventLoop


def new_event_loop():
    return _SelectorEventLoop()


class EventLoopPolicy(asyncio.DefaultEventLoopPolicy):
    def new_event_loop(self):
        return new_event_loop()
