"""The command line, `python -m loop run|info`, in subprocesses.

`run` is held to what `python script.py` does (exit statuses, argv,
sys.path, tracebacks, Ctrl-C), except that asyncio's own ways of making a
loop give ours.  Where it matters the same script is also run by the plain
interpreter, which gives asyncio's loop: that is the comparison.
"""
import importlib.metadata
import json
import os
import platform
import signal
import subprocess
import sys
import textwrap
import time

import pytest

import loop as eloop
from loop import _epoll
from support import subprocess_env, with_default_sigint

PATIENCE = 60       # seconds; generous for a loaded machine

OURS = 'loop._eventloop.EventLoop'
STDLIB = 'asyncio.unix_events._UnixSelectorEventLoop'


def cli(*args, cwd, python_args=()):
    """`python [python_args] -m loop ARGS` in `cwd`."""
    return subprocess.run(
        [sys.executable, *python_args, '-m', 'loop', *args], cwd=cwd,
        env=subprocess_env(), capture_output=True, text=True,
        timeout=PATIENCE, check=False)


def plain(*args, cwd):
    """`python ARGS` in `cwd`: the interpreter's own behaviour."""
    return subprocess.run(
        [sys.executable, *args], cwd=cwd, env=subprocess_env(),
        capture_output=True, text=True, timeout=PATIENCE, check=False)


def write(path, *parts):
    """Write the program made of `parts` (each dedented) to `path`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(''.join(textwrap.dedent(part) for part in parts))
    return path


LOOP_NAME = '''
    import asyncio, sys, warnings

    def name(ev):
        return f'{type(ev).__module__}.{type(ev).__qualname__}'

    async def running():
        return name(asyncio.get_running_loop())
'''

# The ways a script gets a loop from asyncio without naming one.
WAYS = {
    'asyncio.run': 'print(asyncio.run(running()))',
    'asyncio.Runner': '''
        with asyncio.Runner() as runner:
            print(runner.run(running()))
    ''',
    'new_event_loop': '''
        ev = asyncio.new_event_loop()
        print(ev.run_until_complete(running()))
        ev.close()
    ''',
    'get_event_loop': '''
        with warnings.catch_warnings():
            # 3.12-3.13: "There is no current event loop" (it makes one).
            warnings.simplefilter('ignore', DeprecationWarning)
            ev = asyncio.get_event_loop()
        print(ev.run_until_complete(running()))
        ev.close()
    ''',
    'thread': '''
        import threading
        found = []
        t = threading.Thread(target=lambda: found.append(
            asyncio.run(running())))
        t.start()
        t.join()
        print(found[0])
    ''',
}


@pytest.mark.parametrize('way', list(WAYS))
def test_script_gets_our_loop(tmp_path, way):
    if way == 'asyncio.Runner' and sys.version_info < (3, 11):
        pytest.skip('asyncio.Runner is new in 3.11')
    if way == 'get_event_loop' and sys.version_info >= (3, 14):
        pytest.skip('from 3.14 get_event_loop() no longer makes a loop')
    script = write(tmp_path / 'app.py', LOOP_NAME, WAYS[way])
    ours = cli('run', script.name, cwd=tmp_path)
    assert (ours.returncode, ours.stdout, ours.stderr) == (0, OURS + '\n', '')
    theirs = plain(script.name, cwd=tmp_path)
    assert (theirs.returncode, theirs.stdout) == (0, STDLIB + '\n')


def test_module_gets_our_loop(tmp_path):
    write(tmp_path / 'pkg' / '__init__.py', '')
    write(tmp_path / 'pkg' / 'app.py',
          LOOP_NAME, 'print(__name__, asyncio.run(running()))\n')
    result = cli('run', '-m', 'pkg.app', cwd=tmp_path)
    assert (result.returncode, result.stderr) == (0, '')
    assert result.stdout == f'__main__ {OURS}\n'


def test_a_loop_the_script_chooses_is_kept(tmp_path):
    if sys.version_info < (3, 11):
        pytest.skip('asyncio.Runner (loop_factory) is new in 3.11')
    script = write(tmp_path / 'app.py', LOOP_NAME, '''
        with asyncio.Runner(loop_factory=asyncio.SelectorEventLoop) as r:
            print(r.run(running()))
    ''')
    result = cli('run', script.name, cwd=tmp_path)
    assert (result.returncode, result.stdout) == (0, STDLIB + '\n')


def test_no_warning_from_the_launcher(tmp_path):
    # On 3.14-3.15 the public policy setter is deprecated: the launcher
    # must not make a script that never called it fail under -W error.
    script = write(tmp_path / 'app.py',
                   LOOP_NAME, 'print(asyncio.run(running()))\n')
    result = cli('run', script.name, cwd=tmp_path,
                 python_args=('-W', 'error'))
    assert (result.returncode, result.stdout, result.stderr) == (
        0, OURS + '\n', '')


def test_without_policies():
    # Python 3.16 has no policies: the launcher replaces the
    # new_event_loop() that asyncio.Runner and asyncio.run() call.  That
    # path runs here too, with the policy left alone.
    code = textwrap.dedent(LOOP_NAME) + textwrap.dedent('''
        from loop import _cli
        _cli.use_our_new_event_loop()
        print(asyncio.run(running()))
        ev = asyncio.new_event_loop()
        print(name(ev))
        ev.close()
    ''')
    result = subprocess.run([sys.executable, '-c', code],
                            env=subprocess_env(), capture_output=True,
                            text=True, timeout=PATIENCE, check=False)
    assert (result.returncode, result.stderr) == (0, '')
    assert result.stdout == f'{OURS}\n{OURS}\n'


# -- as `python script.py` ----------------------------------------------------

SHOW_MAIN = '''
    import json, os, sys
    print(json.dumps({'argv': sys.argv, 'name': __name__,
                      'file': __file__, 'path0': sys.path[0]}))
'''


@pytest.mark.parametrize('args', [
    [],
    ['a', '--json', '-m', 'x y', ''],
    ['--', '-h', 'info'],
])
def test_argv_passed_through(tmp_path, args):
    script = write(tmp_path / 'app.py', SHOW_MAIN)
    ours = cli('run', 'app.py', *args, cwd=tmp_path)
    theirs = plain('app.py', *args, cwd=tmp_path)
    assert ours.returncode == 0, ours.stderr
    assert json.loads(ours.stdout) == json.loads(theirs.stdout) == {
        'argv': ['app.py', *args], 'name': '__main__',
        'file': str(script), 'path0': str(tmp_path)}


def test_script_directory_on_sys_path(tmp_path):
    # The script imports a module beside it, run from another directory.
    write(tmp_path / 'lib' / 'helper.py', 'VALUE = 42\n')
    write(tmp_path / 'lib' / 'app.py', 'import helper; print(helper.VALUE)\n')
    elsewhere = tmp_path / 'elsewhere'
    elsewhere.mkdir()
    result = cli('run', '../lib/app.py', cwd=elsewhere)
    assert (result.returncode, result.stdout, result.stderr) == (
        0, '42\n', '')


def test_module_argv_and_path(tmp_path):
    module = write(tmp_path / 'pkg' / 'app.py', SHOW_MAIN)
    write(tmp_path / 'pkg' / '__init__.py', '')
    ours = cli('run', '-m', 'pkg.app', 'a', '-b', cwd=tmp_path)
    theirs = plain('-m', 'pkg.app', 'a', '-b', cwd=tmp_path)
    assert ours.returncode == 0, ours.stderr
    assert json.loads(ours.stdout) == json.loads(theirs.stdout) == {
        'argv': [str(module), 'a', '-b'], 'name': '__main__',
        'file': str(module), 'path0': str(tmp_path)}


def test_package_main(tmp_path):
    write(tmp_path / 'pkg' / '__init__.py', '')
    write(tmp_path / 'pkg' / '__main__.py',
          LOOP_NAME, 'print("main", asyncio.run(running()))\n')
    result = cli('run', '-m', 'pkg', cwd=tmp_path)
    assert (result.returncode, result.stdout) == (0, f'main {OURS}\n')


def test_directory_with_main(tmp_path):
    write(tmp_path / 'app' / '__main__.py',
          LOOP_NAME, 'print(sys.argv, asyncio.run(running()))\n')
    result = cli('run', 'app', 'x', cwd=tmp_path)
    assert (result.returncode, result.stdout) == (
        0, f"['app', 'x'] {OURS}\n"), result.stderr


@pytest.mark.parametrize('body, status', [
    ('print("ok")', 0),
    ('sys.exit(3)', 3),
    ('sys.exit("bye")', 1),
    ('sys.exit(None)', 0),
    ('raise SystemExit(7)', 7),
])
def test_exit_status(tmp_path, body, status):
    write(tmp_path / 'app.py', 'import sys\n' + body + '\n')
    ours = cli('run', 'app.py', cwd=tmp_path)
    theirs = plain('app.py', cwd=tmp_path)
    assert ours.returncode == theirs.returncode == status
    assert (ours.stdout, ours.stderr) == (theirs.stdout, theirs.stderr)


def script_frames(stderr, script):
    """The traceback lines about `script`, each with its source line."""
    lines = stderr.splitlines()
    return [(line, lines[i + 1]) for i, line in enumerate(lines)
            if f'File "{script}"' in line]


def test_uncaught_exception(tmp_path):
    script = write(tmp_path / 'app.py', '''
        import asyncio

        async def main():
            try:
                1 / 0
            except ZeroDivisionError:
                raise ValueError('boom')

        asyncio.run(main())
    ''')
    ours = cli('run', 'app.py', cwd=tmp_path)
    theirs = plain('app.py', cwd=tmp_path)
    assert ours.returncode == theirs.returncode == 1
    assert ours.stderr.startswith('Traceback (most recent call last):\n')
    assert ours.stderr.splitlines()[-1] == 'ValueError: boom'
    # The chained exception too, and the script's frames as Python shows
    # them (the loop's own frames in between differ: asyncio's are Python).
    assert 'ZeroDivisionError: division by zero' in ours.stderr
    assert script_frames(ours.stderr, script) == \
        script_frames(theirs.stderr, script)
    assert len(script_frames(ours.stderr, script)) == 3
    # None of the launcher's frames.
    assert 'runpy' not in ours.stderr and '_cli.py' not in ours.stderr


def test_uncaught_exception_in_module(tmp_path):
    write(tmp_path / 'pkg' / '__init__.py', '')
    module = write(tmp_path / 'pkg' / 'app.py', 'raise KeyError("k")\n')
    result = cli('run', '-m', 'pkg.app', cwd=tmp_path)
    assert result.returncode == 1
    assert result.stderr.splitlines()[-1] == "KeyError: 'k'"
    assert f'File "{module}", line 1' in result.stderr


def test_sys_excepthook_is_used(tmp_path):
    write(tmp_path / 'app.py', '''
        import sys
        sys.excepthook = lambda t, v, tb: print('hook', t.__name__, v)
        raise RuntimeError('x')
    ''')
    result = cli('run', 'app.py', cwd=tmp_path)
    assert (result.returncode, result.stdout) == (1, 'hook RuntimeError x\n')


def test_ctrl_c(tmp_path):
    write(tmp_path / 'app.py', '''
        import asyncio

        async def main():
            print('ready', flush=True)
            await asyncio.sleep(60)

        asyncio.run(main())
    ''')
    proc = subprocess.Popen(
        with_default_sigint([sys.executable, '-m', 'loop', 'run', 'app.py']),
        cwd=tmp_path, env=subprocess_env(), stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline() == 'ready\n'
        time.sleep(0.1)             # let it block in its poll
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=PATIENCE)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    # As `python app.py`: an uncaught KeyboardInterrupt, death by SIGINT.
    assert proc.returncode == -signal.SIGINT, err
    assert err.rstrip().endswith('KeyboardInterrupt'), err


# -- usage errors -------------------------------------------------------------

def test_missing_script(tmp_path):
    ours = cli('run', 'nosuch.py', cwd=tmp_path)
    theirs = plain('nosuch.py', cwd=tmp_path)
    assert ours.returncode == theirs.returncode == 2
    assert ours.stderr == theirs.stderr


def test_missing_module(tmp_path):
    ours = cli('run', '-m', 'nosuch_module_xyz', cwd=tmp_path)
    theirs = plain('-m', 'nosuch_module_xyz', cwd=tmp_path)
    assert ours.returncode == theirs.returncode == 1
    assert ours.stderr == theirs.stderr


@pytest.mark.parametrize('args', [
    [], ['frobnicate'], ['run'], ['run', '-m'], ['run', '--bad'],
    ['info', '--bad'],
])
def test_usage_errors(tmp_path, args):
    result = cli(*args, cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.startswith('usage: python -m loop run')
    assert result.stdout == ''


@pytest.mark.parametrize('args', [['--help'], ['run', '--help']])
def test_help(tmp_path, args):
    result = cli(*args, cwd=tmp_path)
    assert result.returncode == 0
    assert result.stdout.startswith('usage: python -m loop run')


def test_version(tmp_path):
    result = cli('--version', cwd=tmp_path)
    assert (result.returncode, result.stdout) == (
        0, f'loop {eloop.__version__}\n')


# -- info ---------------------------------------------------------------------

def installed(name):
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def test_info_json(tmp_path):
    result = cli('info', '--json', cwd=tmp_path)
    assert (result.returncode, result.stderr) == (0, '')
    info = json.loads(result.stdout)
    assert info['loop']['version'] == eloop.__version__
    assert info['loop']['extension'] == _epoll.__file__
    assert info['loop']['debug_build'] == (_epoll._live_objects() is not None)
    assert info['python']['version'] == platform.python_version()
    assert info['python']['executable'] == sys.executable
    assert info['system']['kernel'] == os.uname().release
    features = {f['name']: f for f in info['kernel_features']}
    assert {'epoll', 'eventfd', 'pidfd_open', 'SO_REUSEPORT', 'TCP_NODELAY',
            'SO_KEEPALIVE'} <= set(features)
    # The loop cannot run without these two, and this test runs on it.
    assert features['epoll']['available'] is True
    assert features['eventfd']['available'] is True
    from loop import _subprocess
    assert features['pidfd_open']['available'] is _subprocess._use_pidfd
    for name in ('uvloop', 'rloop'):
        assert info['peers'][name] == installed(name)
    assert info['frameworks']['uvicorn'] == installed('uvicorn')


def test_info_cython_version():
    # Read from the name Cython gives its shared-types module.
    from loop import _cli
    version = _cli._cython_version()
    assert version is not None
    try:
        import Cython
    except ImportError:
        return      # an installed wheel: nothing to compare with
    if not os.environ.get('LOOP_TEST_INSTALLED'):
        # Built in place by this environment's Cython.
        assert version == Cython.__version__


def test_info_text(tmp_path):
    result = cli('info', cwd=tmp_path)
    assert (result.returncode, result.stderr) == (0, '')
    lines = result.stdout.splitlines()
    assert lines[0].startswith(f'loop {eloop.__version__} (')
    assert f'Python {platform.python_version()} (' in result.stdout
    assert f'Linux {os.uname().release} ' in result.stdout
    assert any(line.split()[:2] == ['epoll', 'yes'] for line in lines)
    uvloop = installed('uvloop') or 'not installed'
    assert any(line.split() == ['uvloop', *uvloop.split()]
               for line in lines)


def test_info_says_what_is_missing(monkeypatch):
    # Where pidfds are refused, the loop reaps children with threads:
    # info says NO and names the fallback.
    from loop import _cli, _subprocess
    monkeypatch.setattr(_subprocess, '_use_pidfd', False)
    info = _cli.collect_info()
    pidfd = next(f for f in info['kernel_features']
                 if f['name'] == 'pidfd_open')
    assert pidfd['available'] is False
    line = next(line for line in _cli.format_info(info).splitlines()
                if line.split()[:1] == ['pidfd_open'])
    assert line.split()[1] == 'NO'
    assert 'a waiter thread per child' in line
