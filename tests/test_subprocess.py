"""Subprocesses: subprocess_exec/shell and asyncio.create_subprocess_*.

The behaviour tests run on stdlib asyncio and on our loop (the `loop`
fixture) and expect the same results.  After every test no child of ours
may be left, running or zombie (`no_children`); the conftest fixtures check
fds and threads.

The tests at the end ("our reaper") exercise our loop's own machinery
(pidfd or thread, a closed loop's children) and run on our loop only:
asyncio leaves reaping to its child watcher, which has no such switches.
"""
import asyncio
import errno
import json
import logging
import os
import pty
import signal
import subprocess
import sys
import textwrap
import threading
import time
import warnings

import pytest

import loop as eloop
from loop import _subprocess as our_subprocess

PY = sys.executable


def run(loop, coro, timeout=60):
    return loop.run_until_complete(asyncio.wait_for(coro, timeout))


def python(code):
    return [PY, '-c', textwrap.dedent(code)]


# -- no child left behind -----------------------------------------------------

def our_children():
    """{pid: state letter} of this process's children, from /proc."""
    me = os.getpid()
    found = {}
    for name in os.listdir('/proc'):
        if not name.isdigit():
            continue
        try:
            with open(f'/proc/{name}/stat') as f:
                fields = f.read().rsplit(')', 1)[1].split()
        except OSError:
            continue        # gone meanwhile
        state, ppid = fields[0], int(fields[1])
        if ppid == me:
            found[int(name)] = state
    return found


@pytest.fixture(autouse=True)
def no_children():
    """Fail the test if it left a child process, running or zombie."""
    assert our_children() == {}, 'children left by an earlier test'
    yield
    deadline = time.monotonic() + 10
    while (left := our_children()) and time.monotonic() < deadline:
        time.sleep(0.01)
    # Clean up so that one failure does not fail every later test.
    for pid, state in left.items():
        if state != 'Z':
            os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    assert left == {}, 'children left (Z = zombie)'


# -- exit codes and signals ---------------------------------------------------

@pytest.mark.parametrize('code', [0, 1, 7, 255])
def test_exit_codes(loop, code):
    async def main():
        shell = await asyncio.create_subprocess_shell(f'exit {code}')
        exe = await asyncio.create_subprocess_exec(
            '/bin/sh', '-c', f'exit {code}')
        return await shell.wait(), await exe.wait(), exe.returncode

    assert run(loop, main()) == (code, code, code)


@pytest.mark.parametrize('how, signum', [
    ('terminate', signal.SIGTERM),
    ('kill', signal.SIGKILL),
    ('send_signal', signal.SIGUSR1),
    ('send_signal', signal.SIGHUP),
])
def test_killed_by_signal(loop, how, signum):
    async def main():
        # The child says when it runs with default signal handling.
        proc = await asyncio.create_subprocess_exec(
            *python('''
                import signal, sys, time
                signal.signal(signal.SIGHUP, signal.SIG_DFL)
                print('ready', flush=True)
                time.sleep(60)
            '''), stdout=subprocess.PIPE)
        assert await proc.stdout.readline() == b'ready\n'
        assert proc.returncode is None
        if how == 'send_signal':
            proc.send_signal(signum)
        else:
            getattr(proc, how)()
        return await proc.wait()

    assert run(loop, main()) == -signum


def test_signal_from_inside(loop):
    async def main():
        proc = await asyncio.create_subprocess_shell('kill -USR2 $$')
        return await proc.wait()

    assert run(loop, main()) == -signal.SIGUSR2


def test_signal_after_wait_raises_process_lookup_error(loop):
    # Once wait() returned, the transport has let the child go: asyncio's
    # Process raises ProcessLookupError, and so must we.
    async def main():
        proc = await asyncio.create_subprocess_exec('true')
        assert await proc.wait() == 0
        for method in (proc.kill, proc.terminate,
                       lambda: proc.send_signal(signal.SIGTERM)):
            with pytest.raises(ProcessLookupError):
                method()

    run(loop, main())


# -- data through the pipes ---------------------------------------------------

def test_large_stdout_and_stderr(loop):
    # 10 MiB on each stream, interleaved: neither pipe may fill up and
    # block the child while we wait for the other.
    code = '''
        import os
        chunk = bytes(range(256)) * 256          # 64 KiB
        for i in range(160):
            os.write(1, chunk)
            os.write(2, chunk[::-1])
    '''

    async def main():
        proc = await asyncio.create_subprocess_exec(
            *python(code), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        out, err = await proc.communicate()
        return proc.returncode, out, err

    returncode, out, err = run(loop, main())
    chunk = bytes(range(256)) * 256
    assert returncode == 0
    assert len(out) == len(err) == 10 * 1024 * 1024
    assert out == chunk * 160 and err == chunk[::-1] * 160


def test_large_stdin_and_stdout_at_once(loop):
    payload = os.urandom(10 * 1024 * 1024)

    async def main():
        proc = await asyncio.create_subprocess_exec(
            'cat', stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        out, err = await proc.communicate(payload)
        return proc.returncode, out, err

    returncode, out, err = run(loop, main())
    assert (returncode, err) == (0, None)
    assert out == payload


def test_stdin_streaming(loop):
    # Line by line through cat: each line comes back before the next one is
    # sent, so nothing may sit in a buffer on the way.
    async def main():
        proc = await asyncio.create_subprocess_exec(
            'cat', stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        echoed = []
        for i in range(100):
            proc.stdin.write(b'line %d\n' % i)
            await proc.stdin.drain()
            echoed.append(await proc.stdout.readline())
        proc.stdin.close()
        await proc.stdin.wait_closed()
        assert await proc.stdout.read() == b''
        return echoed, await proc.wait()

    echoed, returncode = run(loop, main())
    assert echoed == [b'line %d\n' % i for i in range(100)]
    assert returncode == 0


def test_stdin_broken_pipe(loop):
    # The child exits without reading its stdin while we still have data
    # buffered for it: drain() reports the broken pipe.
    rfd, wfd = os.pipe()

    async def main():
        proc = await asyncio.create_subprocess_exec(
            PY, '-c', f'import os; os.read({rfd}, 1)', stdin=subprocess.PIPE,
            pass_fds=(rfd,))
        proc.stdin.write(b'x' * (1024 * 1024))     # more than a pipe holds
        os.write(wfd, b'exit now\n')
        with pytest.raises((BrokenPipeError, ConnectionResetError)):
            await proc.stdin.drain()
        return await proc.wait()

    try:
        assert run(loop, main()) == 0
    finally:
        os.close(rfd)
        os.close(wfd)


def test_communicate_ignores_broken_pipe(loop):
    async def main():
        loop.set_exception_handler(lambda lp, ctx: None)
        proc = await asyncio.create_subprocess_exec(
            'true', stdin=subprocess.PIPE)
        await proc.communicate(b'x' * (1024 * 1024))
        return proc.returncode

    assert run(loop, main()) == 0


def test_stdout_is_a_real_pipe(loop):
    # uvloop #505: the child's stdin/stdout must be pipes (not socketpairs),
    # so that /dev/stdout and /proc/self/fd/N can be opened.
    code = '''
        import os, stat
        kinds = [stat.S_ISFIFO(os.fstat(fd).st_mode) for fd in (0, 1, 2)]
        with open('/dev/stdout', 'w') as out:
            out.write(repr(kinds))
    '''

    async def main():
        proc = await asyncio.create_subprocess_exec(
            *python(code), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE)
        return await proc.communicate(b'')

    assert run(loop, main()) == (b'[True, True, True]', b'')


# -- communicate, timeouts and cancellation -----------------------------------

def test_communicate_timeout_then_kill(loop):
    async def main():
        proc = await asyncio.create_subprocess_exec(
            'sleep', '60', stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(proc.communicate(b'input'), 0.2)
        assert proc.returncode is None      # still running
        proc.kill()
        return await proc.wait()

    assert run(loop, main()) == -signal.SIGKILL


def test_communicate_cancelled(loop):
    async def main():
        proc = await asyncio.create_subprocess_exec(
            *python('import sys; sys.stdout.write("partial"); '
                    'sys.stdout.flush(); import time; time.sleep(60)'),
            stdout=subprocess.PIPE)
        task = asyncio.ensure_future(proc.communicate())
        await asyncio.sleep(0.2)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        proc.terminate()
        return await proc.wait()

    assert run(loop, main()) == -signal.SIGTERM


def test_wait_cancelled_then_waited_again(loop):
    async def main():
        proc = await asyncio.create_subprocess_exec('sleep', '60')
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(proc.wait(), 0.1)
        proc.kill()
        results = await asyncio.gather(*[proc.wait() for _ in range(5)])
        return results

    assert run(loop, main()) == [-signal.SIGKILL] * 5


def test_cancel_during_creation(loop):
    # Cancelled while the pipes connect: the child is killed and reaped,
    # the pipes closed.
    async def main():
        for delay in range(4):
            task = asyncio.ensure_future(loop.subprocess_exec(
                asyncio.SubprocessProtocol, 'sleep', '60'))
            for _ in range(delay):
                await asyncio.sleep(0)
            task.cancel()
            try:
                transport, _ = await task
            except asyncio.CancelledError:
                continue
            transport.close()       # too late to cancel: close it instead
            await transport._wait()

    run(loop, main())


# -- many processes -----------------------------------------------------------

def test_hundreds_of_short_lived_processes(loop):
    async def one(i):
        proc = await asyncio.create_subprocess_exec(
            '/bin/sh', '-c', f'echo {i}; exit {i % 7}',
            stdout=subprocess.PIPE)
        out, _ = await proc.communicate()
        return out, proc.returncode

    async def main():
        return await asyncio.gather(*[one(i) for i in range(300)])

    results = run(loop, main(), timeout=120)
    assert results == [(b'%d\n' % i, i % 7) for i in range(300)]


def test_hundreds_of_processes_without_pipes(loop):
    async def main():
        procs = await asyncio.gather(*[
            asyncio.create_subprocess_exec('true') for _ in range(200)])
        return await asyncio.gather(*[p.wait() for p in procs])

    assert run(loop, main(), timeout=120) == [0] * 200


# -- spawn failures -----------------------------------------------------------

def spawn_error(loop, *args, **kwargs):
    async def main():
        with pytest.raises(Exception) as info:
            await asyncio.create_subprocess_exec(
                *args, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                stderr=subprocess.PIPE, **kwargs)
        return info.value

    return run(loop, main())


def test_missing_executable(loop):
    exc = spawn_error(loop, '/nonexistent/program')
    assert type(exc) is FileNotFoundError
    assert exc.errno == errno.ENOENT
    assert exc.filename == '/nonexistent/program'


def test_missing_executable_on_path(loop):
    exc = spawn_error(loop, 'no-such-program-anywhere')
    assert type(exc) is FileNotFoundError
    assert exc.filename == 'no-such-program-anywhere'


def test_bad_cwd(loop, tmp_path):
    missing = str(tmp_path / 'missing')
    exc = spawn_error(loop, 'true', cwd=missing)
    assert type(exc) is FileNotFoundError
    assert exc.filename == missing


def test_not_executable(loop, tmp_path):
    script = tmp_path / 'script'
    script.write_text('#!/bin/sh\nexit 0\n')
    script.chmod(0o644)
    exc = spawn_error(loop, str(script))
    assert type(exc) is PermissionError
    exc = spawn_error(loop, str(tmp_path))      # a directory
    assert type(exc) is PermissionError


def test_preexec_fn_failure(loop):
    def fail():
        raise ValueError('in the child')

    exc = spawn_error(loop, 'true', preexec_fn=fail)
    assert type(exc) is subprocess.SubprocessError
    assert str(exc) == 'Exception occurred in preexec_fn.'


def test_bad_keyword_argument(loop):
    exc = spawn_error(loop, 'true', no_such_option=1)
    assert type(exc) is TypeError
    assert 'no_such_option' in str(exc)


@pytest.mark.parametrize('name, value, message', [
    ('universal_newlines', True, 'universal_newlines must be False'),
    ('shell', True, 'shell must be False'),
    ('bufsize', 1, 'bufsize must be 0'),
    ('text', True, 'text must be False'),
    ('encoding', 'utf-8', 'encoding must be None'),
    ('errors', 'strict', 'errors must be None'),
])
def test_exec_argument_checks(loop, name, value, message):
    async def main():
        with pytest.raises(ValueError) as info:
            await loop.subprocess_exec(asyncio.SubprocessProtocol, 'true',
                                       **{name: value})
        return str(info.value)

    assert run(loop, main()) == message


@pytest.mark.parametrize('cmd, kwargs, message', [
    (['true'], {}, 'cmd must be a string'),
    ('true', {'shell': False}, 'shell must be True'),
    ('true', {'universal_newlines': True}, 'universal_newlines must be False'),
    ('true', {'bufsize': 1}, 'bufsize must be 0'),
    ('true', {'text': True}, 'text must be False'),
    ('true', {'encoding': 'utf-8'}, 'encoding must be None'),
    ('true', {'errors': 'strict'}, 'errors must be None'),
])
def test_shell_argument_checks(loop, cmd, kwargs, message):
    async def main():
        with pytest.raises(ValueError) as info:
            await loop.subprocess_shell(asyncio.SubprocessProtocol, cmd,
                                        **kwargs)
        return str(info.value)

    assert run(loop, main()) == message


# -- every Popen keyword ------------------------------------------------------

REPORT = '''
    import json, os, sys
    def is_open(fd):
        try:
            os.fstat(fd)
            return True
        except OSError:
            return False
    print(json.dumps({
        'cwd': os.getcwd(),
        'env': os.environ.get('LOOP_TEST'),
        'preexec': os.environ.get('LOOP_PREEXEC'),
        'umask': os.umask(0),
        'pid': os.getpid(),
        'sid': os.getsid(0),
        'pgid': os.getpgid(0),
        'fds': {fd: is_open(int(fd)) for fd in sys.argv[1:]},
    }))
'''


def report(loop, fds=(), **kwargs):
    async def main():
        proc = await asyncio.create_subprocess_exec(
            *python(REPORT), *map(str, fds), stdout=subprocess.PIPE,
            **kwargs)
        out, _ = await proc.communicate()
        assert proc.returncode == 0
        return json.loads(out)

    return run(loop, main())


def test_cwd_and_env(loop, tmp_path):
    env = dict(os.environ, LOOP_TEST='from the parent')
    got = report(loop, cwd=tmp_path, env=env)
    assert got['cwd'] == str(tmp_path)
    assert got['env'] == 'from the parent'
    assert report(loop, env={'LOOP_TEST': 'alone'})['env'] == 'alone'


def test_umask(loop):
    assert report(loop, umask=0o027)['umask'] == 0o027


def test_preexec_fn(loop):
    def in_child():
        os.environ['LOOP_PREEXEC'] = 'ran'

    assert report(loop, preexec_fn=in_child)['preexec'] == 'ran'


def test_pass_fds_and_close_fds(loop):
    r1, w1 = os.pipe()
    r2, w2 = os.pipe()
    try:
        os.set_inheritable(r2, True)
        got = report(loop, fds=(r1, r2), pass_fds=(r1,))
        assert got['fds'] == {str(r1): True, str(r2): False}
        got = report(loop, fds=(r1, r2), close_fds=False)
        assert got['fds'] == {str(r1): False, str(r2): True}
    finally:
        for fd in (r1, w1, r2, w2):
            os.close(fd)


def test_start_new_session(loop):
    got = report(loop, start_new_session=True)
    assert got['sid'] == got['pid'] == got['pgid']
    got = report(loop)
    assert got['sid'] == os.getsid(0) and got['pgid'] == os.getpgid(0)


@pytest.mark.skipif(sys.version_info < (3, 11),
                    reason='process_group is new in Python 3.11')
def test_process_group(loop):
    got = report(loop, process_group=0)
    assert got['pgid'] == got['pid'] and got['sid'] == os.getsid(0)


@pytest.mark.skipif(sys.version_info >= (3, 11),
                    reason='Python 3.11+ has process_group')
def test_process_group_is_a_type_error_before_311(loop):
    exc = spawn_error(loop, 'true', process_group=0)
    assert type(exc) is TypeError


def test_kill_a_process_group(loop):
    # The shell starts a grandchild in its new session; killing the group
    # kills both.
    async def main():
        proc = await asyncio.create_subprocess_shell(
            'sleep 60 & echo $!; wait', stdout=subprocess.PIPE,
            start_new_session=True)
        grandchild = int(await proc.stdout.readline())
        os.killpg(proc.pid, signal.SIGKILL)
        return grandchild, await proc.wait()

    grandchild, returncode = run(loop, main())
    assert returncode == -signal.SIGKILL
    # The grandchild is init's child now: gone, or a zombie init will reap.
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            with open(f'/proc/{grandchild}/stat') as f:
                if f.read().rsplit(')', 1)[1].split()[0] == 'Z':
                    break
        except FileNotFoundError:
            break
        time.sleep(0.01)
    else:
        pytest.fail('the grandchild survived killpg()')


@pytest.mark.skipif(os.geteuid() != 0, reason='needs root to change user')
def test_user_group_extra_groups(loop):
    async def main():
        # /bin/sh, not our Python: nobody may not read the venv's path.
        proc = await asyncio.create_subprocess_exec(
            '/bin/sh', '-c', 'id -u; id -g; id -G', stdout=subprocess.PIPE,
            user=65534, group=65534, extra_groups=[65534], cwd='/')
        out, _ = await proc.communicate()
        return proc.returncode, out.split()

    assert run(loop, main()) == (0, [b'65534', b'65534', b'65534'])


def test_stdio_redirections(loop, tmp_path):
    infile = tmp_path / 'in'
    infile.write_bytes(b'from a file')
    outfile = tmp_path / 'out'
    code = '''
        import sys
        data = sys.stdin.read()
        sys.stdout.write('out:' + data)
        sys.stdout.flush()
        sys.stderr.write('err:' + data)
    '''

    async def main():
        results = {}
        # A file object for stdin, STDOUT for stderr.
        with open(infile, 'rb') as f:  # noqa: ASYNC230 (a local file)
            proc = await asyncio.create_subprocess_exec(
                *python(code), stdin=f, stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT)
            assert proc._transport.get_pipe_transport(2) is None
            results['merged'] = await proc.communicate()
        # Raw fds for stdin and stdout; DEVNULL for stderr.
        fd_in = os.open(infile, os.O_RDONLY)
        fd_out = os.open(outfile, os.O_WRONLY | os.O_CREAT)
        try:
            proc = await asyncio.create_subprocess_exec(
                *python(code), stdin=fd_in, stdout=fd_out,
                stderr=subprocess.DEVNULL)
            results['fds'] = await proc.communicate()
        finally:
            os.close(fd_in)
            os.close(fd_out)
        # DEVNULL for stdin: an empty input.
        proc = await asyncio.create_subprocess_exec(
            *python(code), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE)
        results['devnull'] = await proc.communicate()
        return results

    results = run(loop, main())
    assert results['merged'] == (b'out:from a fileerr:from a file', None)
    assert results['fds'] == (None, None)
    assert outfile.read_bytes() == b'out:from a file'
    assert results['devnull'] == (b'out:', b'err:')


def test_pty_as_standard_streams(loop):
    master, slave = pty.openpty()
    master_file = open(master, 'rb', buffering=0)  # noqa: SIM115
    code = '''
        import os
        os.write(1, repr([os.isatty(fd) for fd in (0, 1, 2)]).encode())
    '''

    class Reader(asyncio.Protocol):
        def __init__(self):
            self.data = bytearray()
            self.lost = loop.create_future()

        def data_received(self, data):
            self.data += data

        def connection_lost(self, exc):
            self.lost.set_result(exc)

    async def main():
        try:
            proc = await asyncio.create_subprocess_exec(
                *python(code), stdin=slave, stdout=slave, stderr=slave)
        finally:
            os.close(slave)
        # A pipe transport on the master side: EIO ends it once the child
        # (the last holder of the slave) is gone.
        _, reader = await loop.connect_read_pipe(Reader, master_file)
        returncode = await proc.wait()
        exc = await reader.lost
        return returncode, bytes(reader.data), exc

    returncode, data, exc = run(loop, main())
    assert returncode == 0
    assert data == b'[True, True, True]'
    assert exc is None or exc.errno == errno.EIO


# -- the transport and the protocol -------------------------------------------

class RecordingProtocol(asyncio.SubprocessProtocol):
    def __init__(self, loop):
        self.events = []
        self.done = loop.create_future()
        self.transport = None

    def connection_made(self, transport):
        self.transport = transport
        self.events.append(('connection_made',))

    def pipe_data_received(self, fd, data):
        if self.events[-1] != ('pipe_data_received', fd):
            self.events.append(('pipe_data_received', fd))

    def pipe_connection_lost(self, fd, exc):
        self.events.append(('pipe_connection_lost', fd, exc))

    def process_exited(self):
        self.events.append(('process_exited',
                            self.transport.get_returncode()))

    def connection_lost(self, exc):
        self.events.append(('connection_lost', exc))
        self.done.set_result(None)


def test_protocol_callback_order(loop):
    # asyncio's contract: connection_made first; for each pipe its data,
    # then its pipe_connection_lost; process_exited (with the returncode
    # known); connection_lost last, once the process exited and every pipe
    # closed.  process_exited may come before or after the pipes close.
    code = '''
        import os, sys
        sys.stdin.read()
        os.write(1, b'out' * 50000)
        os.write(2, b'err' * 50000)
        sys.exit(3)
    '''

    async def main():
        transport, proto = await loop.subprocess_exec(
            lambda: RecordingProtocol(loop), *python(code))
        transport.get_pipe_transport(0).write(b'input')
        transport.get_pipe_transport(0).close()
        await proto.done
        transport.close()
        return proto.events

    events = run(loop, main())
    assert events[0] == ('connection_made',)
    assert events[-1] == ('connection_lost', None)
    assert ('process_exited', 3) in events
    for fd in (0, 1, 2):
        assert ('pipe_connection_lost', fd, None) in events
    for fd in (1, 2):
        assert events.index(('pipe_data_received', fd)) < events.index(
            ('pipe_connection_lost', fd, None))
    assert set(events) == {
        ('connection_made',), ('pipe_data_received', 1),
        ('pipe_data_received', 2), ('pipe_connection_lost', 0, None),
        ('pipe_connection_lost', 1, None), ('pipe_connection_lost', 2, None),
        ('process_exited', 3), ('connection_lost', None)}


def test_transport_api(loop):
    async def main():
        transport, proto = await loop.subprocess_exec(
            lambda: RecordingProtocol(loop), 'sleep', '60',
            stderr=subprocess.DEVNULL)
        popen = transport.get_extra_info('subprocess')
        assert isinstance(popen, subprocess.Popen)
        assert transport.get_pid() == popen.pid
        assert transport.get_returncode() is None
        assert isinstance(transport.get_pipe_transport(0),
                          asyncio.WriteTransport)
        assert isinstance(transport.get_pipe_transport(1),
                          asyncio.ReadTransport)
        assert transport.get_pipe_transport(2) is None
        assert transport.get_pipe_transport(0).get_extra_info('pipe') \
            is popen.stdin
        text = repr(transport)
        assert f'pid={popen.pid} running' in text
        assert 'stdin=<' in text and 'stdout=<' in text
        assert 'stderr' not in text
        assert transport.get_protocol() is proto
        assert not transport.is_closing()
        # close() kills a running child, then reaps it.
        transport.close()
        assert transport.is_closing()
        await proto.done
        assert transport.get_returncode() == -signal.SIGKILL
        assert f'returncode={-signal.SIGKILL}' in repr(transport)
        return proto.events

    events = run(loop, main())
    assert ('process_exited', -signal.SIGKILL) in events
    assert events[-1] == ('connection_lost', None)


def test_close_does_not_kill_a_finished_child(loop, loop_kind):
    async def main():
        transport, proto = await loop.subprocess_exec(
            lambda: RecordingProtocol(loop), '/bin/sh', '-c', 'exit 4',
            stdin=None, stdout=None, stderr=None)
        # poll() reaps the child behind the loop's back, as in CPython's
        # test_close_dont_kill_finished.
        while transport.get_extra_info('subprocess').poll() is None:
            await asyncio.sleep(0.01)
        transport.close()
        await proto.done
        return transport.get_returncode()

    with warnings.catch_warnings():
        warnings.simplefilter('ignore', ResourceWarning)
        returncode = run(loop, main())
    if loop_kind == 'asyncio' and returncode == 255:
        # asyncio's child watcher lost the race for the exit status (see
        # test_exit_status_read_through_popen); what matters here is that
        # close() did not kill the child (-9).
        return
    assert returncode == 4


@pytest.mark.asyncio_differs(
    "asyncio's child watchers report 255 when someone else read the exit "
    "status; our reaper asks the Popen object, which did", strict=False)
def test_exit_status_read_through_popen(loop, caplog):
    async def main():
        transport, proto = await loop.subprocess_exec(
            lambda: RecordingProtocol(loop), 'sleep', '60',
            stdin=None, stdout=None, stderr=None)
        popen = transport.get_extra_info('subprocess')
        popen.kill()
        popen.wait()        # reaps the child behind the loop's back
        await proto.done
        transport.close()
        return transport.get_returncode()

    assert run(loop, main()) == -signal.SIGKILL


def test_debug_logs(loop, caplog):
    loop.set_debug(True)

    async def main():
        proc = await asyncio.create_subprocess_exec(
            'true', stdout=subprocess.PIPE)
        await proc.communicate()
        return proc.pid

    with caplog.at_level(logging.DEBUG, logger='asyncio'):
        pid = run(loop, main())
    messages = [r.getMessage() for r in caplog.records]
    assert "execute program 'true' stdout=<pipe>" in messages
    assert f"process 'true' created: pid {pid}" in messages
    assert any(m.endswith('exited with return code 0') for m in messages)


@pytest.mark.skipif(sys.version_info >= (3, 14),
                    reason='child watchers are gone in Python 3.14')
def test_an_installed_safe_child_watcher_is_used(loop):
    # Python <= 3.13: an application that installed a SIGCHLD-based child
    # watcher still gets its children reaped through it.
    with warnings.catch_warnings():
        warnings.simplefilter('ignore', DeprecationWarning)
        watcher = asyncio.SafeChildWatcher()
        watcher.attach_loop(loop)
        asyncio.set_child_watcher(watcher)
    try:
        async def main():
            procs = [await asyncio.create_subprocess_shell(f'exit {i}')
                     for i in range(10)]
            return [await p.wait() for p in procs]

        assert run(loop, main()) == list(range(10))
    finally:
        with warnings.catch_warnings():
            warnings.simplefilter('ignore', DeprecationWarning)
            asyncio.set_child_watcher(None)
            watcher.close()


def test_loop_in_another_thread(loop_factory):
    # No signals outside the main thread: reaping must not need them.
    results = []

    def in_thread():
        ev = loop_factory()
        try:
            async def main():
                procs = [await asyncio.create_subprocess_shell(f'exit {i}')
                         for i in range(5)]
                return [await p.wait() for p in procs]
            results.append(ev.run_until_complete(main()))
        finally:
            ev.close()

    thread = threading.Thread(target=in_thread)
    thread.start()
    thread.join(60)
    assert results == [[0, 1, 2, 3, 4]]


def test_user_sigchld_handler_and_subprocesses(loop):
    # An application's own SIGCHLD handler runs, and does not disturb the
    # loop's reaping.
    calls = []
    loop.add_signal_handler(signal.SIGCHLD, calls.append, 'sigchld')
    try:
        async def main():
            proc = await asyncio.create_subprocess_exec(
                '/bin/sh', '-c', 'exit 6', stdout=subprocess.PIPE)
            await proc.communicate()
            for _ in range(100):
                if calls:
                    break
                await asyncio.sleep(0.01)
            return proc.returncode

        assert run(loop, main()) == 6
        assert calls and set(calls) == {'sigchld'}
    finally:
        loop.remove_signal_handler(signal.SIGCHLD)


# -- fork ---------------------------------------------------------------------

def in_forked_child(func):
    """Run func() in a forked child; its return value is the exit code."""
    with warnings.catch_warnings():
        # 3.12+ warns about fork() with threads (there are none here).
        warnings.simplefilter('ignore', DeprecationWarning)
        pid = os.fork()
    if pid == 0:
        code = 70
        try:
            code = func()
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


def test_forked_child_runs_a_new_loop_with_subprocesses(loop, loop_factory):
    run(loop, asyncio.sleep(0))     # the parent's loop has run

    def child():
        async def main():
            proc = await asyncio.create_subprocess_exec(
                '/bin/sh', '-c', 'echo hi; exit 5', stdout=subprocess.PIPE)
            out, _ = await proc.communicate()
            return 5 if (out, proc.returncode) == (b'hi\n', 5) else 1

        new = loop_factory()
        try:
            asyncio.set_event_loop(None)
            return new.run_until_complete(main())
        finally:
            new.close()

    assert in_forked_child(child) == 5


@pytest.mark.asyncio_differs(
    "asyncio's loop runs in a forked child, sharing the parent's epoll set")
def test_parent_loop_refuses_to_run_in_forked_child(loop):
    run(loop, asyncio.sleep(0))

    def child():
        try:
            loop.run_until_complete(asyncio.sleep(0))
        except RuntimeError:
            return 9
        return 1

    assert in_forked_child(child) == 9


def test_at_fork_hooks_do_not_run_for_exec_children(loop_kind):
    # uvloop #749: spawning must not run os.register_at_fork() hooks (they
    # are for fork() without exec).  Checked in a fresh interpreter, since
    # hooks cannot be unregistered.
    factory = {'asyncio': 'asyncio.new_event_loop',
               'loop': 'loop.new_event_loop'}[loop_kind]
    code = f'''
        import asyncio, os, loop
        os.register_at_fork(after_in_child=lambda: os.write(2, b'HOOK'))
        async def main():
            proc = await asyncio.create_subprocess_exec('true')
            return await proc.wait()
        ev = {factory}()
        print(ev.run_until_complete(main()))
        ev.close()
    '''
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    done = subprocess.run(python(code), capture_output=True, env=env,
                          timeout=60, check=False)
    assert (done.stdout, done.stderr) == (b'0\n', b'')


# -- our reaper ---------------------------------------------------------------
# Our loop only: asyncio leaves reaping to its child watcher.

@pytest.fixture
def our_loop():
    ev = eloop.new_event_loop()
    yield ev
    ev.close()


def waitpid_threads():
    return [t for t in threading.enumerate()
            if t.name.startswith('loop-waitpid-')]


async def spawn_and_wait(n):
    procs = [await asyncio.create_subprocess_shell(f'exit {i % 5}')
             for i in range(n)]
    return [await p.wait() for p in procs]


def test_pidfd_reaper_uses_no_thread(our_loop):
    assert our_subprocess._use_pidfd, 'this kernel has pidfd_open'
    threads = set(threading.enumerate())

    async def main():
        proc = await asyncio.create_subprocess_exec('sleep', '0.2')
        assert set(threading.enumerate()) == threads
        assert len(our_loop._child_pidfds) == 1
        return await proc.wait()

    assert run(our_loop, main()) == 0
    assert our_loop._child_pidfds == {}


def test_thread_fallback_without_pidfd(our_loop, monkeypatch):
    monkeypatch.setattr(our_subprocess, '_use_pidfd', False)
    seen = []

    async def main():
        proc = await asyncio.create_subprocess_exec('sleep', '0.2')
        seen.extend(waitpid_threads())
        return await proc.wait(), await spawn_and_wait(20)

    assert run(our_loop, main()) == (0, [i % 5 for i in range(20)])
    assert len(seen) == 1


def test_thread_fallback_when_pidfd_open_fails(our_loop, monkeypatch):
    def refuse(pid, flags=0):
        raise OSError(errno.EMFILE, 'Too many open files')

    monkeypatch.setattr(os, 'pidfd_open', refuse)
    assert run(our_loop, spawn_and_wait(10)) == [i % 5 for i in range(10)]
    assert not our_loop._child_pidfds


def test_children_outliving_the_loop_are_reaped(loop_factory, loop_kind,
                                                caplog):
    # The loop closes with a child still running and its transport open:
    # once the child ends it must be reaped, and no pidfd may stay open.
    if loop_kind == 'asyncio' and sys.version_info >= (3, 12):
        pytest.skip("asyncio's PidfdChildWatcher (3.12+) leaves the pidfd "
                    "open and the child a zombie")
    ev = loop_factory()
    try:
        transport, _ = ev.run_until_complete(ev.subprocess_exec(
            asyncio.SubprocessProtocol, 'sleep', '60',
            stdin=None, stdout=None, stderr=None))
    finally:
        ev.close()
    pid = transport.get_pid()
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while pid in our_children() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert pid not in our_children()
    transport._closed = True    # nothing left to close: no warning
    assert 'pidfd' not in ' '.join(open_fds().values())


def open_fds():
    """{fd: what it refers to} of this process."""
    found = {}
    for fd in os.listdir('/proc/self/fd'):
        try:
            found[fd] = os.readlink(f'/proc/self/fd/{fd}')
        except OSError:
            pass        # the fd of the listing itself
    return found
