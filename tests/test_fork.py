"""A loop after os.fork().

A forked child shares its parent's epoll fd: both processes would take
events from one interest set.  Our loop refuses to run in the child
(RuntimeError); a loop made in the child works.  asyncio differs: it does
not check, and its loop runs in the child on the shared epoll fd (its
selector sees the parent's registrations and the parent sees the child's).

Each test forks in a subprocess of its own, never in the test runner.
"""
import json
import subprocess
import sys
import textwrap

import pytest

from support import subprocess_env

PROGRAM = textwrap.dedent('''
    import asyncio, json, os, sys, threading, loop
    new_loop = {"asyncio": asyncio.new_event_loop,
                "loop": loop.new_event_loop}[sys.argv[1]]

    def child(parent_loop):
        result = {}
        coro = asyncio.sleep(0, "parent loop ran")
        try:
            result["parent_loop"] = parent_loop.run_until_complete(coro)
        except RuntimeError as exc:
            result["parent_loop"] = "RuntimeError: " + str(exc)
        finally:
            coro.close()
        ev = new_loop()
        try:
            result["new_loop"] = ev.run_until_complete(
                asyncio.sleep(0.001, "new loop ran"))
            # A thread's call wakes the new loop; a pipe's reader fires.
            fut = ev.create_future()
            t = threading.Thread(
                target=lambda: ev.call_soon_threadsafe(
                    fut.set_result, "threadsafe ok"))
            t.start()
            result["threadsafe"] = ev.run_until_complete(
                asyncio.wait_for(fut, 10))
            t.join()
            r, w = os.pipe()
            got = ev.create_future()
            ev.add_reader(r, lambda: got.set_result(os.read(r, 10).decode()))
            os.write(w, b"pipe ok")
            result["reader"] = ev.run_until_complete(
                asyncio.wait_for(got, 10))
            ev.remove_reader(r)
        finally:
            ev.close()
        return result

    parent_loop = new_loop()
    parent_loop.run_until_complete(asyncio.sleep(0))
    sys.stdout.flush()
    pid = os.fork()
    if pid == 0:
        code = 0
        try:
            print(json.dumps(child(parent_loop)), flush=True)
        except BaseException as exc:
            print(json.dumps({"error": repr(exc)}), flush=True)
            code = 1
        os._exit(code)
    _, status = os.waitpid(pid, 0)
    # The parent's loop is unharmed.
    print(json.dumps({
        "child_status": os.waitstatus_to_exitcode(status),
        "parent_after_fork": parent_loop.run_until_complete(
            asyncio.sleep(0.001, "parent ok"))}), flush=True)
    parent_loop.close()
''')


_results = {}


@pytest.fixture
def forked(loop_kind):
    """Run PROGRAM for the kind once; return (child's result, parent's)."""
    if loop_kind not in _results:
        _results[loop_kind] = _run(loop_kind)
    return _results[loop_kind]


def _run(loop_kind):
    proc = subprocess.run(
        [sys.executable, '-c', PROGRAM, loop_kind], check=False,
        env=subprocess_env(),
        capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    child, parent = [json.loads(line) for line in proc.stdout.splitlines()]
    return child, parent


def test_new_loop_works_in_child(forked):
    child, parent = forked
    assert 'error' not in child, child
    assert child['new_loop'] == 'new loop ran'
    assert child['threadsafe'] == 'threadsafe ok'
    assert child['reader'] == 'pipe ok'
    assert parent == {'child_status': 0, 'parent_after_fork': 'parent ok'}


def test_parent_loop_in_child(forked, loop_kind):
    child, _ = forked
    if loop_kind == 'asyncio':
        # asyncio does not check: the parent's loop runs in the child, on
        # the epoll fd it shares with the parent.
        assert child['parent_loop'] == 'parent loop ran'
    else:
        assert child['parent_loop'] == (
            'RuntimeError: this event loop was created in the parent '
            'process and cannot be used after fork(); create a new one in '
            'the child')
