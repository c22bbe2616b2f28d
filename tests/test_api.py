"""The package's public API: new_event_loop, EventLoop, run(), the policy,
and how asyncio's own entry points take our loop."""
import asyncio
import contextvars
import gc
import sys
import warnings

import pytest

import loop as eloop

# The core methods of asyncio.AbstractEventLoop (the rest: transports,
# servers, subprocesses, are tested with them).
CORE_METHODS = [
    'run_forever', 'run_until_complete', 'stop', 'is_running', 'is_closed',
    'close', 'shutdown_asyncgens', 'shutdown_default_executor',
    'call_soon', 'call_later', 'call_at', 'time', 'create_future',
    'create_task', 'call_soon_threadsafe', 'run_in_executor',
    'set_default_executor', 'getaddrinfo', 'getnameinfo',
    'add_reader', 'remove_reader', 'add_writer', 'remove_writer',
    'add_signal_handler', 'remove_signal_handler',
    'set_task_factory', 'get_task_factory',
    'get_exception_handler', 'set_exception_handler',
    'default_exception_handler', 'call_exception_handler',
    'get_debug', 'set_debug',
]


async def which_loop():
    await asyncio.sleep(0)
    return type(asyncio.get_running_loop())


# -- the loop class -----------------------------------------------------------

def test_is_abstract_event_loop(loop):
    assert isinstance(loop, asyncio.AbstractEventLoop)


@pytest.mark.parametrize('name', CORE_METHODS)
def test_core_method_implemented(name):
    assert callable(getattr(eloop.EventLoop, name))
    assert (getattr(eloop.EventLoop, name) is not
            getattr(asyncio.AbstractEventLoop, name)), (
        f'{name} is the abstract method')


def test_new_event_loop():
    a = eloop.new_event_loop()
    b = eloop.new_event_loop()
    try:
        assert type(a) is eloop.EventLoop
        assert a is not b
        assert not a.is_running() and not a.is_closed()
    finally:
        a.close()
        b.close()


def test_event_loop_class_constructs():
    ev = eloop.EventLoop()
    try:
        assert ev.run_until_complete(which_loop()) is eloop.EventLoop
    finally:
        ev.close()


def test_repr(loop):
    name = type(loop).__name__
    assert repr(loop) == f'<{name} running=False closed=False debug=False>'
    loop.set_debug(True)
    assert repr(loop) == f'<{name} running=False closed=False debug=True>'
    loop.close()
    assert repr(loop) == f'<{name} running=False closed=True debug=True>'


def test_package_surface():
    assert set(eloop.__all__) >= {'EventLoop', 'new_event_loop', 'run'}
    assert isinstance(eloop.__version__, str)
    with pytest.raises(AttributeError, match='no attribute'):
        _ = eloop.no_such_name


def drop(holder):
    """Drop the only reference to holder's item and collect."""
    holder.clear()
    gc.collect()


def test_unclosed_loop_resource_warning(loop_factory):
    holder = [loop_factory()]
    with pytest.warns(ResourceWarning, match='unclosed event loop'):
        drop(holder)


def test_closed_loop_no_resource_warning(loop_factory):
    holder = [loop_factory()]
    holder[0].close()
    with warnings.catch_warnings():
        warnings.simplefilter('error', ResourceWarning)
        drop(holder)


# -- loop.run() ---------------------------------------------------------------

def test_run():
    assert eloop.run(which_loop()) is eloop.EventLoop


def test_run_result_and_exception():
    async def fail():
        raise LookupError('out')

    assert eloop.run(asyncio.sleep(0, 'result')) == 'result'
    with pytest.raises(LookupError, match='out'):
        eloop.run(fail())


@pytest.mark.parametrize('debug', [True, False])
def test_run_debug(debug):
    async def main():
        return asyncio.get_running_loop().get_debug()

    assert eloop.run(main(), debug=debug) is debug


def test_run_cleans_up():
    events = []

    async def leftover():
        try:
            await asyncio.sleep(3600)
        finally:
            events.append('task cancelled')

    async def agen():
        try:
            yield 1
            yield 2
        finally:
            events.append('agen closed')

    async def main():
        asyncio.get_running_loop().create_task(leftover())
        g = agen()
        await g.__anext__()
        main.g = g            # keep it alive: shutdown_asyncgens closes it
        await asyncio.to_thread(int)
        await asyncio.sleep(0)
        main.loop = asyncio.get_running_loop()

    eloop.run(main())
    assert sorted(events) == ['agen closed', 'task cancelled']
    assert main.loop.is_closed()
    assert main.loop._default_executor is None or \
        main.loop._default_executor._shutdown


def test_run_refused_inside_a_running_loop():
    errors = []

    async def main():
        for run in (asyncio.run, eloop.run):
            coro = asyncio.sleep(0)
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter('error', RuntimeWarning)
                    run(coro)
            except RuntimeError as exc:
                errors.append(str(exc))
            finally:
                coro.close()

    ev = asyncio.new_event_loop()
    try:
        ev.run_until_complete(main())
    finally:
        ev.close()
    assert errors == [('asyncio.run() cannot be called from a running '
                       'event loop')] * 2


def test_run_refuses_what_asyncio_run_refuses():
    with pytest.raises(Exception) as expected:
        asyncio.run(42)
    with pytest.raises(Exception) as got:
        eloop.run(42)
    assert type(got.value) is type(expected.value)


def test_run_loop_factory():
    made = []

    def factory():
        ev = eloop.new_event_loop()
        made.append(ev)
        return ev

    assert eloop.run(which_loop(), loop_factory=factory) is eloop.EventLoop
    assert len(made) == 1 and made[0].is_closed()


def test_run_keeps_context():
    var = contextvars.ContextVar('var', default='default')

    async def main():
        var.set('in main')
        return var.get()

    assert eloop.run(main()) == 'in main'
    assert var.get() == 'default'


# -- asyncio's own entry points -----------------------------------------------

@pytest.mark.skipif(sys.version_info < (3, 11),
                    reason='asyncio.Runner is new in 3.11')
def test_asyncio_runner_loop_factory():
    with asyncio.Runner(loop_factory=eloop.new_event_loop) as runner:
        assert type(runner.get_loop()) is eloop.EventLoop
        assert runner.run(which_loop()) is eloop.EventLoop
        assert runner.run(asyncio.sleep(0, 'second run')) == 'second run'
        ev = runner.get_loop()
    assert ev.is_closed()


@pytest.mark.skipif(sys.version_info < (3, 11),
                    reason='asyncio.Runner is new in 3.11')
def test_asyncio_runner_shares_context_between_runs():
    var = contextvars.ContextVar('var', default='default')

    async def set_it():
        var.set('set in first run')

    async def get_it():
        return var.get()

    with asyncio.Runner(loop_factory=eloop.new_event_loop) as runner:
        runner.run(set_it())
        assert runner.run(get_it()) == 'set in first run'


@pytest.mark.skipif(sys.version_info < (3, 12),
                    reason='asyncio.run(loop_factory=) is new in 3.12')
def test_asyncio_run_loop_factory():
    assert asyncio.run(which_loop(),
                       loop_factory=eloop.new_event_loop) is eloop.EventLoop


# -- the policy ---------------------------------------------------------------

def test_policy_new_event_loop():
    policy = eloop.EventLoopPolicy()
    assert isinstance(policy, asyncio.AbstractEventLoopPolicy)
    ev = policy.new_event_loop()
    try:
        assert type(ev) is eloop.EventLoop
    finally:
        ev.close()


def test_policy_used_by_asyncio():
    asyncio.set_event_loop_policy(eloop.EventLoopPolicy())
    try:
        ev = asyncio.new_event_loop()
        try:
            assert type(ev) is eloop.EventLoop
        finally:
            ev.close()
        assert asyncio.run(which_loop()) is eloop.EventLoop
    finally:
        asyncio.set_event_loop_policy(None)


def test_install():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('always')
        eloop.install()
    try:
        assert isinstance(asyncio.get_event_loop_policy(),
                          eloop.EventLoopPolicy)
        assert asyncio.run(which_loop()) is eloop.EventLoop
    finally:
        asyncio.set_event_loop_policy(None)
    deprecations = [w for w in caught
                    if issubclass(w.category, DeprecationWarning)]
    if sys.version_info >= (3, 12):
        assert len(deprecations) == 1
        assert 'loop.install() is deprecated' in str(deprecations[0].message)
        # Reported at the caller's line.
        assert deprecations[0].filename == __file__
    else:
        assert deprecations == []
