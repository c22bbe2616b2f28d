"""Debug mode: set_debug, PYTHONASYNCIODEBUG, -X dev, and what it adds:
slow-callback warnings, non-thread-safe call detection, callback checks,
source tracebacks, never-awaited coroutine origins."""
import asyncio
import gc
import logging
import re
import subprocess
import sys
import threading
import time
import warnings

import pytest

from support import run_briefly, subprocess_env


def python(code, kind, *options, env=None, timeout=30):
    """Run `code` in a fresh interpreter with KIND = 'asyncio' or 'loop'."""
    full_env = subprocess_env()
    full_env.pop('PYTHONASYNCIODEBUG', None)
    full_env.pop('PYTHONDEVMODE', None)
    full_env.update(env or {})
    prelude = (
        'import asyncio, loop\n'
        f'new_loop = {{"asyncio": asyncio.new_event_loop, '
        f'"loop": loop.new_event_loop}}[{kind!r}]\n')
    return subprocess.run(
        [sys.executable, *options, '-c', prelude + code], check=False,
        env=full_env, capture_output=True, text=True, timeout=timeout)


def warnings_logged(caplog):
    return [r.getMessage() for r in caplog.records
            if r.name == 'asyncio' and r.levelno == logging.WARNING]


# -- switching debug mode on --------------------------------------------------

def test_set_debug(loop):
    loop.set_debug(True)
    assert loop.get_debug() is True
    loop.set_debug(False)
    assert loop.get_debug() is False


@pytest.mark.parametrize('options, env, expected', [
    ((), {}, False),
    ((), {'PYTHONASYNCIODEBUG': '1'}, True),
    (('-X', 'dev'), {}, True),
    ((), {'PYTHONDEVMODE': '1'}, True),
], ids=['default', 'PYTHONASYNCIODEBUG', 'X-dev', 'PYTHONDEVMODE'])
def test_debug_from_environment(loop_kind, options, env, expected):
    code = 'ev = new_loop(); print(ev.get_debug()); ev.close()'
    proc = python(code, loop_kind, *options, env=env)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == str(expected)


def test_dev_mode_program(loop_kind):
    # Under -X dev a slow callback is reported on stderr (logging's last
    # resort handler) and so is a coroutine never awaited, with its origin.
    code = '''
import time

async def forgotten():
    pass

def slow():
    time.sleep(0.15)

def forget():
    forgotten()

ev = new_loop()
ev.call_soon(slow)
ev.call_soon(forget)
ev.run_until_complete(asyncio.sleep(0.01))
ev.close()
print('done')
'''
    proc = python(code, loop_kind, '-X', 'dev')
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == 'done'
    assert re.search(r'Executing <Handle slow\(\) at .*> took \d\.\d+ seconds',
                     proc.stderr), proc.stderr
    assert "coroutine 'forgotten' was never awaited" in proc.stderr
    assert 'Coroutine created at (most recent call last)' in proc.stderr


# -- slow callbacks -----------------------------------------------------------

def test_slow_callback_duration_default(loop):
    assert loop.slow_callback_duration == 0.1


def test_slow_callback_warning(loop, caplog):
    loop.set_debug(True)
    loop.slow_callback_duration = 0.01

    def slow():
        time.sleep(0.03)

    loop.call_soon(slow)
    run_briefly(loop)
    messages = [m for m in warnings_logged(caplog) if 'slow()' in m]
    assert len(messages) == 1
    assert re.fullmatch(
        r'Executing <Handle .*slow\(\) at .*test_debug\.py:\d+ '
        r'created at .*test_debug\.py:\d+> took \d\.\d{3} seconds',
        messages[0]), messages[0]


def test_slow_task_step_warning(loop, caplog):
    loop.set_debug(True)
    loop.slow_callback_duration = 0.01

    async def slow_task():
        time.sleep(0.03)        # noqa: ASYNC251 (a slow task step)

    loop.run_until_complete(loop.create_task(slow_task(), name='slowpoke'))
    assert any(re.match(r'Executing <Task .*slowpoke.*> took', m)
               for m in warnings_logged(caplog)), warnings_logged(caplog)


def test_no_slow_callback_warning_without_debug(loop, caplog):
    loop.slow_callback_duration = 0.001
    loop.call_soon(time.sleep, 0.01)
    run_briefly(loop)
    assert warnings_logged(caplog) == []


# -- thread checks ------------------------------------------------------------

@pytest.mark.parametrize('method', ['call_soon', 'call_later', 'call_at'])
def test_non_threadsafe_call_from_another_thread(loop, method):
    loop.set_debug(True)
    errors = []
    args = {'call_soon': (), 'call_later': (0,),
            'call_at': (loop.time(),)}[method]

    def from_thread():
        try:
            getattr(loop, method)(*args, print)
        except RuntimeError as exc:
            errors.append(str(exc))

    def in_loop():
        t = threading.Thread(target=from_thread)
        t.start()
        t.join()

    loop.call_soon(in_loop)
    run_briefly(loop)
    assert errors == [('Non-thread-safe operation invoked on an event loop '
                       'other than the current one')]


def test_threadsafe_call_allowed_in_debug(loop):
    loop.set_debug(True)
    out = []

    def in_loop():
        t = threading.Thread(
            target=lambda: loop.call_soon_threadsafe(out.append, 'ok'))
        t.start()
        t.join()

    loop.call_soon(in_loop)
    run_briefly(loop)
    assert out == ['ok']


def test_other_thread_may_schedule_on_a_stopped_loop(loop):
    # The check applies only while the loop runs in another thread.
    loop.set_debug(True)
    out = []
    t = threading.Thread(target=lambda: loop.call_soon(out.append, 1))
    t.start()
    t.join()
    run_briefly(loop)
    assert out == [1]


# -- callback checks ----------------------------------------------------------

async def coroutine_function():
    pass


@pytest.mark.parametrize('method', ['call_soon', 'call_soon_threadsafe',
                                    'call_later', 'call_at'])
def test_coroutines_refused_in_debug(loop, method):
    loop.set_debug(True)
    args = {'call_soon': (), 'call_soon_threadsafe': (), 'call_later': (0,),
            'call_at': (loop.time(),)}[method]
    # call_later() is call_at(now + delay): the message names call_at().
    name = 'call_at' if method == 'call_later' else method
    with pytest.raises(TypeError,
                       match=rf'^coroutines cannot be used with {name}\(\)$'):
        getattr(loop, method)(*args, coroutine_function)
    coro = coroutine_function()
    try:
        with pytest.raises(TypeError, match='coroutines cannot be used'):
            getattr(loop, method)(*args, coro)
    finally:
        coro.close()


@pytest.mark.parametrize('method', ['call_soon', 'call_soon_threadsafe',
                                    'call_later', 'call_at'])
def test_non_callable_refused_in_debug(loop, method):
    loop.set_debug(True)
    args = {'call_soon': (), 'call_soon_threadsafe': (), 'call_later': (0,),
            'call_at': (loop.time(),)}[method]
    name = 'call_at' if method == 'call_later' else method
    with pytest.raises(TypeError, match=re.escape(
            f'a callable object was expected by {name}(), got 42')):
        getattr(loop, method)(*args, 42)


# -- source tracebacks --------------------------------------------------------

def test_exception_context_has_source_traceback(loop, caplog):
    loop.set_debug(True)
    contexts = []
    loop.set_exception_handler(lambda lp, ctx: contexts.append(ctx))

    def boom():
        raise ValueError

    loop.call_soon(boom)
    line = sys._getframe().f_lineno - 1
    run_briefly(loop)
    [context] = contexts
    frame = context['source_traceback'][-1]
    assert frame.filename == __file__ and frame.lineno == line
    # The default handler prints it.
    loop.set_exception_handler(None)
    loop.call_exception_handler(context)
    assert ('source_traceback: Object created at (most recent call last):'
            in caplog.text)
    assert f'test_debug.py", line {line}' in caplog.text


def test_no_source_traceback_without_debug(loop):
    contexts = []
    loop.set_exception_handler(lambda lp, ctx: contexts.append(ctx))
    loop.call_soon(lambda: 1 / 0)
    run_briefly(loop)
    [context] = contexts
    assert 'source_traceback' not in context
    # Break loop -> handler -> contexts -> handle -> loop: the leak check
    # would report test_cycle_through_an_exception_context_is_collected's bug.
    del contexts[:]


def test_task_source_traceback(loop):
    loop.set_debug(True)

    async def work():
        pass

    task = loop.create_task(work())
    line = sys._getframe().f_lineno - 1
    try:
        frame = task._source_traceback[-1]
        assert (frame.filename, frame.lineno) == (__file__, line)
        assert f'created at {__file__}:{line}>' in repr(task)
    finally:
        loop.run_until_complete(task)


# -- coroutine origins --------------------------------------------------------

def test_coroutine_origin_tracking_while_running(loop):
    depths = []

    async def probe():
        depths.append(sys.get_coroutine_origin_tracking_depth())

    loop.run_until_complete(probe())
    loop.set_debug(True)
    loop.run_until_complete(probe())
    assert depths[0] == 0
    assert depths[1] > 0
    assert sys.get_coroutine_origin_tracking_depth() == 0


def test_set_debug_while_running_turns_tracking_on(loop):
    depths = []

    async def main():
        depths.append(sys.get_coroutine_origin_tracking_depth())
        loop.set_debug(True)
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        depths.append(sys.get_coroutine_origin_tracking_depth())
        loop.set_debug(False)
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        depths.append(sys.get_coroutine_origin_tracking_depth())

    loop.run_until_complete(main())
    assert depths[0] == 0 and depths[1] > 0 and depths[2] == 0


def test_never_awaited_coroutine_warning_has_origin(loop):
    loop.set_debug(True)

    async def forgotten():
        pass

    def forget():
        forgotten()

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('always')
        loop.call_soon(forget)
        run_briefly(loop)
        gc.collect()
    messages = [str(w.message) for w in caught
                if issubclass(w.category, RuntimeWarning)]
    assert len(messages) == 1, messages
    assert "coroutine 'test_never_awaited_coroutine_warning_has_origin." \
           "<locals>.forgotten' was never awaited" in messages[0]
    assert 'Coroutine created at (most recent call last)' in messages[0]
    assert 'in forget' in messages[0]


# -- closing ------------------------------------------------------------------

def test_close_is_logged_in_debug(loop, caplog):
    loop.set_debug(True)
    with caplog.at_level(logging.DEBUG, logger='asyncio'):
        loop.close()
    assert any(r.getMessage() == f'Close {loop!r}' for r in caplog.records)
