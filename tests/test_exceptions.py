"""Exceptions from callbacks: the exception handler, its log output, and
KeyboardInterrupt/SystemExit propagating out of run_*."""
import asyncio
import contextvars
import gc
import logging
import socket
import sys

import pytest

from support import run_briefly


def boom():
    raise ZeroDivisionError('boom')


class CustomBase(BaseException):
    """Neither Exception nor KeyboardInterrupt/SystemExit."""


def errors_logged(caplog):
    return [r for r in caplog.records
            if r.name == 'asyncio' and r.levelno == logging.ERROR]


# -- the default handler ------------------------------------------------------

def test_callback_error_is_logged_and_loop_goes_on(loop, caplog):
    out = []
    loop.call_soon(boom)
    loop.call_soon(out.append, 'after')
    run_briefly(loop)
    assert out == ['after']
    [record] = errors_logged(caplog)
    message = record.getMessage()
    assert message.startswith('Exception in callback boom()')
    assert '\nhandle: <Handle boom() at ' in message
    assert record.exc_info[0] is ZeroDivisionError
    assert 'ZeroDivisionError: boom' in caplog.text
    assert 'Traceback' in caplog.text


def test_timer_callback_error_is_logged(loop, caplog):
    loop.call_later(0, boom)
    run_briefly(loop)
    [record] = errors_logged(caplog)
    assert record.getMessage().startswith('Exception in callback boom()')
    assert '\nhandle: <TimerHandle when=' in record.getMessage()


def test_reader_callback_error_is_logged(loop, caplog):
    a, b = socket.socketpair()
    try:
        def read():
            loop.remove_reader(a)
            boom()

        loop.add_reader(a, read)
        b.send(b'x')
        run_briefly(loop, 5)
    finally:
        a.close()
        b.close()
    [record] = errors_logged(caplog)
    assert 'Exception in callback' in record.getMessage()
    assert record.exc_info[0] is ZeroDivisionError


def test_custom_base_exception_goes_to_the_handler(loop, caplog):
    # Only KeyboardInterrupt and SystemExit escape run_*.
    def raise_custom():
        raise CustomBase('custom')

    loop.call_soon(raise_custom)
    run_briefly(loop)
    [record] = errors_logged(caplog)
    assert record.exc_info[0] is CustomBase


def test_default_exception_handler_formats_context(loop, caplog):
    loop.call_exception_handler({
        'message': 'Something odd',
        'extra_key': [1, 2],
    })
    [record] = errors_logged(caplog)
    assert record.getMessage() == 'Something odd\nextra_key: [1, 2]'
    assert not record.exc_info


def test_default_exception_handler_with_exception(loop, caplog):
    try:
        boom()
    except ZeroDivisionError as exc:
        error = exc
    loop.default_exception_handler({'exception': error})
    [record] = errors_logged(caplog)
    # Without 'message', asyncio's default message is used.
    assert record.getMessage() == 'Unhandled exception in event loop'
    assert record.exc_info[1] is error


# -- custom handlers ----------------------------------------------------------

def test_set_exception_handler(loop, caplog):
    contexts = []

    def handler(lp, context):
        contexts.append((lp, context))

    assert loop.get_exception_handler() is None
    loop.set_exception_handler(handler)
    assert loop.get_exception_handler() is handler
    loop.call_soon(boom)
    run_briefly(loop)
    [(lp, context)] = contexts
    assert lp is loop
    assert set(context) >= {'message', 'exception', 'handle'}
    assert context['message'].startswith('Exception in callback boom()')
    assert isinstance(context['exception'], ZeroDivisionError)
    assert context['handle'].cancelled() is False
    assert errors_logged(caplog) == []
    loop.set_exception_handler(None)
    assert loop.get_exception_handler() is None
    loop.call_soon(boom)
    run_briefly(loop)
    assert len(errors_logged(caplog)) == 1
    assert len(contexts) == 1


def test_set_exception_handler_refuses_non_callable(loop):
    with pytest.raises(TypeError,
                       match='A callable object or None is expected'):
        loop.set_exception_handler('not callable')


def test_error_in_custom_handler_is_logged(loop, caplog):
    def bad_handler(lp, context):
        raise RuntimeError('handler failed')

    loop.set_exception_handler(bad_handler)
    out = []
    loop.call_soon(boom)
    loop.call_soon(out.append, 'still running')
    run_briefly(loop)
    assert out == ['still running']
    [record] = errors_logged(caplog)
    message = record.getMessage()
    assert message.startswith('Unhandled error in exception handler')
    assert 'Exception in callback boom()' in message
    assert record.exc_info[0] is RuntimeError
    assert str(record.exc_info[1]) == 'handler failed'


def test_call_exception_handler_passes_context_through(loop):
    got = []
    loop.set_exception_handler(lambda lp, ctx: got.append(ctx))
    context = {'message': 'hi', 'anything': object()}
    loop.call_exception_handler(context)
    assert got == [context]


def test_exception_handler_subclass_method(loop):
    # A handler may be a bound method; it is called with (loop, context).
    class Collector:
        def __init__(self):
            self.seen = []

        def handle(self, lp, context):
            self.seen.append(context['message'])

    c = Collector()
    loop.set_exception_handler(c.handle)
    loop.call_soon(boom)
    run_briefly(loop)
    [message] = c.seen
    assert message.startswith('Exception in callback boom() at ')


def test_custom_handler_context_for_a_failed_callback(loop):
    # 3.12+ runs the handler in the failed handle's context; before, in
    # whatever context the loop runs in.
    var = contextvars.ContextVar('var', default='outside')
    seen = []
    loop.set_exception_handler(lambda lp, ctx: seen.append(var.get()))

    def fail():
        var.set('set by the callback')
        raise ValueError

    loop.call_soon(fail)
    run_briefly(loop)
    if sys.version_info >= (3, 12):
        assert seen == ['set by the callback']
    else:
        assert seen == ['outside']


def test_bad_context_goes_to_the_handler(loop):
    contexts = []
    out = []
    loop.set_exception_handler(lambda lp, ctx: contexts.append(ctx))
    loop.call_soon(out.append, 'bad', context='not a context')
    loop.call_soon(out.append, 'after')
    loop.call_soon(loop.stop)
    loop.run_forever()
    assert out == ['after']
    [context] = contexts
    assert context['message'].startswith('Exception in callback')
    # Break loop -> handler -> contexts -> handle -> loop: the leak check
    # would report test_cycle_through_an_exception_context_is_collected's bug.
    del contexts[:]


# -- futures and tasks that nobody looks at -----------------------------------

def test_task_exception_never_retrieved(loop, caplog):
    async def fail():
        raise ValueError('lost')

    task = loop.create_task(fail())
    run_briefly(loop)
    assert task.done()
    del task
    gc.collect()
    [record] = errors_logged(caplog)
    assert record.getMessage().startswith(
        'Task exception was never retrieved')
    assert record.exc_info[0] is ValueError


def test_future_exception_never_retrieved(loop, caplog):
    fut = loop.create_future()
    fut.set_exception(ValueError('lost'))
    del fut
    gc.collect()
    [record] = errors_logged(caplog)
    assert record.getMessage().startswith(
        'Future exception was never retrieved')


def test_task_destroyed_while_pending(loop, caplog):
    async def forever():
        await loop.create_future()

    task = loop.create_task(forever())
    run_briefly(loop)
    # Drop every reference (the loop keeps none to a waiting task).
    del task
    gc.collect()
    [record] = errors_logged(caplog)
    assert record.getMessage().startswith(
        'Task was destroyed but it is pending!')


# -- KeyboardInterrupt and SystemExit -----------------------------------------

@pytest.mark.parametrize('debug', [False, True], ids=['release', 'debug'])
@pytest.mark.parametrize('exc_type', [KeyboardInterrupt, SystemExit])
def test_base_exception_propagates_from_callback(loop, exc_type, debug,
                                                 caplog):
    loop.set_debug(debug)
    out = []

    def raiser():
        raise exc_type()

    loop.call_soon(out.append, 'before')
    loop.call_soon(raiser)
    loop.call_soon(out.append, 'after')
    with pytest.raises(exc_type):
        loop.run_forever()
    assert out == ['before']
    assert not loop.is_running()
    assert errors_logged(caplog) == []
    # The loop stays usable: the rest of the batch runs on the next run.
    loop.call_soon(out.append, 'next run')
    run_briefly(loop)
    assert out == ['before', 'after', 'next run']


@pytest.mark.parametrize('exc_type', [KeyboardInterrupt, SystemExit])
def test_base_exception_propagates_from_timer(loop, exc_type):
    def raiser():
        raise exc_type()

    loop.call_later(0.001, raiser)
    with pytest.raises(exc_type):
        loop.run_until_complete(asyncio.sleep(3600))
    # The sleep's task is still pending: cancel it on the usable loop.
    for task in asyncio.all_tasks(loop):
        task.cancel()
    run_briefly(loop)


@pytest.mark.parametrize('exc_type', [KeyboardInterrupt, SystemExit])
def test_base_exception_propagates_from_task(loop, exc_type):
    async def main():
        await asyncio.sleep(0)
        raise exc_type()

    with pytest.raises(exc_type):
        loop.run_until_complete(main())
    assert loop.run_until_complete(asyncio.sleep(0, 'usable')) == 'usable'


def test_keyboard_interrupt_from_reader(loop):
    a, b = socket.socketpair()
    try:
        def read():
            loop.remove_reader(a)
            raise KeyboardInterrupt

        loop.add_reader(a, read)
        b.send(b'x')
        with pytest.raises(KeyboardInterrupt):
            loop.run_forever()
        assert not loop.is_running()
    finally:
        a.close()
        b.close()


def test_exception_in_handler_of_keyboard_interrupt_not_called(loop):
    # The exception handler never sees KeyboardInterrupt.
    got = []
    loop.set_exception_handler(lambda lp, ctx: got.append(ctx))

    def raiser():
        raise KeyboardInterrupt

    loop.call_soon(raiser)
    with pytest.raises(KeyboardInterrupt):
        loop.run_forever()
    assert got == []
