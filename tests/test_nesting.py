"""nest_asyncio on our loop as on asyncio's.

nest_asyncio.apply(loop) lets code running on a loop call
run_until_complete() (or asyncio.run()) on it again: notebooks and the
libraries that call it for them.  It patches the loop's class with code
that drives asyncio's internals, and refuses loops that are no
BaseEventLoop ("Can't patch loop of type uvloop.Loop"); a loop that has
the attribute `_nest_patched` is left alone, and ours has it: asking for
it makes the loop re-entrant (core/loop.pyx, _run_nested).

nest_asyncio patches asyncio itself for the whole process (asyncio.run,
Task, Future, the policy), so each program runs in a subprocess of its own.
Until then, a nested run is refused on both loops
(test_loop_run.py::test_nested_run_is_refused).
"""
import json
import subprocess
import sys
import textwrap

import pytest

from support import subprocess_env

pytest.importorskip('nest_asyncio',
                    reason='nest_asyncio is in requirements-test.txt')

PRELUDE = '''
import asyncio, json, socket, sys
import loop as ourloop
KIND = sys.argv[1]
new_loop = ourloop.new_event_loop if KIND == 'loop' else asyncio.new_event_loop
trace = []
'''


def run_program(loop_kind, body):
    code = PRELUDE + textwrap.dedent(body) + '\nprint(json.dumps(trace))\n'
    proc = subprocess.run([sys.executable, '-c', code, loop_kind],
                          capture_output=True, text=True, check=False,
                          env=subprocess_env(), timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ''
    return json.loads(proc.stdout.splitlines()[-1])


def test_nested_runs_with_io_timers_and_tasks(loop_kind):
    # The notebook pattern: a coroutine calls run_until_complete() and
    # asyncio.run() on the loop running it, three deep, with socket I/O
    # (a stream server), timers and another task going on meanwhile.
    trace = run_program(loop_kind, '''
        import nest_asyncio
        lp = new_loop()
        asyncio.set_event_loop(lp)
        nest_asyncio.apply(lp)

        async def echo(reader, writer):
            while data := await reader.read(100):
                writer.write(data.upper())
                await writer.drain()
            writer.close()

        async def round_trip(port, text):
            reader, writer = await asyncio.open_connection('127.0.0.1', port)
            writer.write(text.encode())
            await writer.drain()
            reply = await reader.readexactly(len(text))
            writer.close()
            await writer.wait_closed()
            return reply.decode()

        ticks = []

        async def ticker():
            for i in range(5):
                await asyncio.sleep(0.01)
                ticks.append(i)

        async def deepest(port):
            await asyncio.sleep(0.02)
            return await round_trip(port, 'three')

        async def middle(port):
            trace.append(await round_trip(port, 'two'))
            # asyncio.run() as nest_asyncio patches it: on the running loop.
            trace.append(asyncio.run(deepest(port)))
            return 'middle done'

        async def main():
            server = await asyncio.start_server(echo, '127.0.0.1', 0)
            port = server.sockets[0].getsockname()[1]
            tick_task = asyncio.ensure_future(ticker())
            trace.append(await round_trip(port, 'one'))
            trace.append(lp.run_until_complete(middle(port)))
            trace.append(asyncio.current_task() is not None)
            await tick_task
            trace.append(ticks)
            server.close()
            await server.wait_closed()
            return 'main done'

        trace.append(lp.run_until_complete(main()))
        trace.append(lp.is_running())
        lp.close()
    ''')
    assert trace == ['ONE', 'TWO', 'THREE', 'middle done', True,
                     [0, 1, 2, 3, 4], 'main done', False]


def test_nested_run_errors_and_stop(loop_kind):
    trace = run_program(loop_kind, '''
        import nest_asyncio
        lp = new_loop()
        asyncio.set_event_loop(lp)
        nest_asyncio.apply(lp)

        async def fails():
            await asyncio.sleep(0)
            raise KeyError('inner')

        async def main():
            # An exception of the nested run reaches its caller.
            try:
                lp.run_until_complete(fails())
            except KeyError as exc:
                trace.append(repr(exc))
            # A nested run_forever() runs until stop(), and the outer run
            # goes on.
            lp.call_later(0.01, lp.stop)
            lp.run_forever()
            trace.append('after nested run_forever')
            # A task cancelled while the nested run waits for it.
            task = asyncio.ensure_future(asyncio.sleep(10))
            lp.call_later(0.01, task.cancel)
            try:
                lp.run_until_complete(task)
            except asyncio.CancelledError:
                trace.append('cancelled')
            return 'done'

        trace.append(lp.run_until_complete(main()))
        lp.close()
    ''')
    assert trace == ["KeyError('inner')", 'after nested run_forever',
                     'cancelled', 'done']


@pytest.mark.parametrize('debug', [False, True], ids=['', 'debug'])
def test_nested_run_from_a_plain_callback(loop_kind, debug):
    # Not only from a task: from a call_soon() callback and from a
    # protocol's data_received() (an I/O callback of our core); also in
    # debug mode, which times each callback.
    trace = run_program(loop_kind, f'''
        import nest_asyncio
        lp = new_loop()
        lp.set_debug({debug})
        asyncio.set_event_loop(lp)
        nest_asyncio.apply(lp)

        async def value(x):
            await asyncio.sleep(0.001)
            return x

        class Proto(asyncio.Protocol):
            def data_received(self, data):
                trace.append(lp.run_until_complete(value(data.decode())))
                done.set_result(None)

        def callback():
            trace.append(lp.run_until_complete(value('from call_soon')))

        async def main():
            global done
            done = lp.create_future()
            a, b = socket.socketpair()
            transport, _ = await lp.create_connection(Proto, sock=a)
            lp.call_soon(callback)
            await asyncio.sleep(0.01)
            b.send(b'from data_received')
            await done
            transport.close()
            b.close()

        lp.run_until_complete(main())
        lp.close()
    ''')
    assert trace == ['from call_soon', 'from data_received']
