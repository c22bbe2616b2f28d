"""add_reader/add_writer/remove_reader/remove_writer, and fds closed or
reused behind the loop's back."""
import asyncio
import contextvars
import os
import resource
import socket
import time

import pytest

from support import polls, run_briefly, run_for


@pytest.fixture
def pair():
    """A connected socketpair (a, b), closed after the test."""
    a, b = socket.socketpair()
    a.setblocking(False)
    b.setblocking(False)
    yield a, b
    a.close()
    b.close()


def wait_until(loop, predicate, timeout=10.0):
    """Run the loop until predicate() is true (fail after `timeout`)."""
    async def poll():
        deadline = loop.time() + timeout
        while not predicate():
            assert loop.time() < deadline, 'condition never became true'
            await asyncio.sleep(0.001)
    loop.run_until_complete(poll())


def nonblocking_pair():
    a, b = socket.socketpair()
    a.setblocking(False)
    b.setblocking(False)
    return a, b


def read_or_eagain(fd):
    """os.read() for a reader callback: never blocks the test."""
    try:
        return os.read(fd, 100)
    except BlockingIOError:
        return 'EAGAIN'


def assert_idles(loop, seconds=0.3):
    """The loop, left with nothing to do, sleeps in its poll: few polls,
    little CPU.  A loop spinning on an fd it cannot serve polls thousands
    of times (even on a loaded machine, where its CPU share may be low)
    and uses a whole core (if it gets one)."""
    polls(loop)
    n0 = polls(loop)
    cpu0, wall0 = time.process_time(), time.monotonic()
    run_for(loop, seconds)
    cpu, wall = time.process_time() - cpu0, time.monotonic() - wall0
    n = polls(loop) - n0
    assert n < 50, f'{n} polls in {wall:.2f} s: the loop spins'
    assert cpu < 0.5 * wall, f'{cpu:.2f} s of CPU in {wall:.2f} s'


# -- the basics ---------------------------------------------------------------

def test_add_reader_fires_with_args(loop, pair):
    a, b = pair
    got = []

    def read(*args):
        got.append((args, a.recv(100)))
        loop.remove_reader(a)

    assert loop.add_reader(a.fileno(), read, 1, 'two') is None
    b.send(b'data')
    wait_until(loop, lambda: got)
    assert got == [((1, 'two'), b'data')]


def test_add_reader_with_object_having_fileno(loop, pair):
    a, b = pair
    got = []
    loop.add_reader(a, lambda: got.append(a.recv(100)))
    b.send(b'x')
    wait_until(loop, lambda: got)
    assert got == [b'x']
    # Registered with the object, removed by number (and the reverse).
    assert loop.remove_reader(a.fileno()) is True
    loop.add_reader(a.fileno(), print)
    assert loop.remove_reader(a) is True


def test_io_callbacks_run_between_ready_callbacks_and_timers(loop, pair):
    # One pass: the callbacks already ready, then the fds found ready by
    # the poll, then the due timers.
    a, b = pair
    out = []
    b.send(b'x')
    loop.call_at(loop.time() - 1, out.append, 'timer')
    loop.add_reader(a, lambda: (out.append('reader'), loop.remove_reader(a)))
    loop.call_soon(out.append, 'soon')
    loop.call_soon(loop.stop)
    loop.run_forever()
    assert out == ['soon', 'reader', 'timer']


def test_reader_not_called_without_data(loop, pair):
    a, _ = pair
    got = []
    loop.add_reader(a, got.append, 1)
    run_for(loop, 0.02)
    assert got == []
    assert loop.remove_reader(a)


def test_add_writer_fires(loop, pair):
    a, b = pair
    got = []

    def write():
        got.append(a.send(b'hello'))
        loop.remove_writer(a)

    assert loop.add_writer(a, write) is None
    wait_until(loop, lambda: got)
    assert got == [5]
    assert b.recv(100) == b'hello'


def test_remove_return_values(loop, pair):
    a, _ = pair
    assert loop.remove_reader(a) is False
    assert loop.remove_writer(a) is False
    loop.add_reader(a, print)
    loop.add_writer(a, print)
    assert loop.remove_reader(a) is True
    assert loop.remove_reader(a) is False
    assert loop.remove_writer(a) is True
    assert loop.remove_writer(a) is False


def test_reader_and_writer_on_one_fd(loop, pair):
    a, b = pair
    events = []

    def read():
        events.append(('read', a.recv(100)))
        loop.remove_reader(a)

    def write():
        events.append('write')
        loop.remove_writer(a)

    loop.add_reader(a, read)
    loop.add_writer(a, write)
    wait_until(loop, lambda: 'write' in events)
    # The writer is gone; the reader still works.
    b.send(b'r')
    wait_until(loop, lambda: len(events) == 2)
    assert events == ['write', ('read', b'r')]


def test_remove_writer_keeps_reader(loop, pair):
    a, b = pair
    got = []
    loop.add_reader(a, lambda: got.append(a.recv(10)))
    loop.add_writer(a, print)
    assert loop.remove_writer(a)
    b.send(b'z')
    wait_until(loop, lambda: got)
    assert got == [b'z']
    assert loop.remove_reader(a)


def test_replacing_a_reader(loop, pair):
    a, b = pair
    got = []
    loop.add_reader(a, lambda: got.append('old'))
    loop.add_reader(a, lambda: got.append(('new', a.recv(10))))
    b.send(b'n')
    wait_until(loop, lambda: got)
    assert got == [('new', b'n')]
    assert loop.remove_reader(a) is True
    assert loop.remove_reader(a) is False


def test_reader_replaces_itself_in_its_callback(loop, pair):
    a, b = pair
    got = []

    def second():
        got.append(('second', a.recv(10)))
        loop.remove_reader(a)

    def first():
        got.append(('first', a.recv(1)))
        loop.add_reader(a, second)

    loop.add_reader(a, first)
    b.send(b'12')
    wait_until(loop, lambda: len(got) == 2)
    assert got == [('first', b'1'), ('second', b'2')]


def test_reader_removed_by_an_earlier_callback_of_the_batch(loop):
    # Both fds are ready in the same poll; whichever callback runs first
    # removes the other reader, which then must not run.
    a1, b1 = socket.socketpair()
    a2, b2 = socket.socketpair()
    try:
        ran = []

        def make(me, other):
            def cb():
                ran.append(me)
                loop.remove_reader(me)
                loop.remove_reader(other)
            return cb

        loop.add_reader(a1, make(a1, a2))
        loop.add_reader(a2, make(a2, a1))
        b1.send(b'x')
        b2.send(b'x')
        time.sleep(0.01)
        run_briefly(loop)
        assert len(ran) == 1
    finally:
        for s in (a1, b1, a2, b2):
            s.close()


def test_reader_on_peer_close(loop, pair):
    a, b = pair
    got = []

    def read():
        got.append(a.recv(10))
        loop.remove_reader(a)

    loop.add_reader(a, read)
    b.close()
    wait_until(loop, lambda: got)
    assert got == [b'']


def test_writer_on_peer_close(loop, pair):
    a, b = pair
    got = []

    def write():
        got.append('writable')
        loop.remove_writer(a)

    b.close()
    loop.add_writer(a, write)
    wait_until(loop, lambda: got)


def test_reader_runs_in_context_of_add_reader(loop, pair):
    a, b = pair
    var = contextvars.ContextVar('var', default='default')
    got = []
    token = var.set('at add_reader')
    try:
        loop.add_reader(a, lambda: (got.append(var.get()),
                                    loop.remove_reader(a)))
    finally:
        var.reset(token)
    b.send(b'x')
    wait_until(loop, lambda: got)
    assert got == ['at add_reader']


def test_many_fds(loop):
    pairs = [socket.socketpair() for _ in range(100)]
    try:
        got = []
        for i, (a, b) in enumerate(pairs):
            def read(i=i, a=a):
                got.append((i, a.recv(10)))
                loop.remove_reader(a)
            loop.add_reader(a, read)
        for i, (a, b) in enumerate(pairs):
            b.send(b'%d' % i)
        wait_until(loop, lambda: len(got) == 100)
        assert sorted(got) == [(i, b'%d' % i) for i in range(100)]
    finally:
        for a, b in pairs:
            a.close()
            b.close()


def test_high_fd_number(loop, pair):
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < 2100:
        pytest.skip(f'RLIMIT_NOFILE is {soft}')
    a, b = pair
    high = os.dup2(a.fileno(), 2000)
    try:
        got = []
        loop.add_reader(high, lambda: (got.append(os.read(high, 10)),
                                       loop.remove_reader(high)))
        b.send(b'high')
        wait_until(loop, lambda: got)
        assert got == [b'high']
    finally:
        os.close(high)


def test_pipe(loop):
    r, w = os.pipe()
    try:
        got = []
        loop.add_reader(r, lambda: (got.append(os.read(r, 10)),
                                    loop.remove_reader(r)))
        loop.add_writer(w, lambda: (os.write(w, b'pipe'),
                                    loop.remove_writer(w)))
        wait_until(loop, lambda: got)
        assert got == [b'pipe']
    finally:
        os.close(r)
        os.close(w)


def test_close_leaves_user_fds_open(loop_factory, pair):
    a, b = pair
    ev = loop_factory()
    ev.add_reader(a, print)
    ev.add_writer(b, print)
    ev.close()
    assert ev.remove_reader(a) is False
    b.send(b'still open')
    assert a.recv(100) == b'still open'


def test_add_reader_on_closed_loop(loop, pair):
    a, _ = pair
    loop.close()
    with pytest.raises(RuntimeError, match='Event loop is closed'):
        loop.add_reader(a, print)
    with pytest.raises(RuntimeError, match='Event loop is closed'):
        loop.add_writer(a, print)
    assert loop.remove_reader(a) is False
    assert loop.remove_writer(a) is False


# -- invalid fds --------------------------------------------------------------

class BadFileno:
    def fileno(self):
        raise ValueError('no fileno')


@pytest.mark.parametrize('method', ['add_reader', 'add_writer'])
@pytest.mark.parametrize('fd, message', [
    (-1, 'Invalid file descriptor: -1'),
    ('x', "Invalid file object: 'x'"),
    (None, 'Invalid file object: None'),
    (1.5, 'Invalid file object: 1.5'),
], ids=['negative', 'str', 'None', 'float'])
def test_add_invalid_fd(loop, method, fd, message):
    with pytest.raises(ValueError) as info:
        getattr(loop, method)(fd, print)
    assert str(info.value) == message


@pytest.mark.parametrize('method', ['add_reader', 'add_writer'])
def test_add_fd_beyond_c_int(loop, method):
    with pytest.raises(OverflowError):
        getattr(loop, method)(2**40, print)


@pytest.mark.parametrize('method', ['add_reader', 'add_writer',
                                    'remove_reader', 'remove_writer'])
def test_huge_negative_fd(loop, method):
    args = (print,) if method.startswith('add') else ()
    with pytest.raises(ValueError,
                       match='^Invalid file descriptor: -1099511627776$'):
        getattr(loop, method)(-2**40, *args)


@pytest.mark.parametrize('method', ['remove_reader', 'remove_writer'])
def test_remove_fd_beyond_c_int(loop, method):
    assert getattr(loop, method)(2**40) is False


@pytest.mark.parametrize('method', ['add_reader', 'add_writer'])
def test_add_fileno_raising(loop, method):
    with pytest.raises(ValueError, match='Invalid file object'):
        getattr(loop, method)(BadFileno(), print)


@pytest.mark.parametrize('method', ['add_reader', 'add_writer'])
def test_add_closed_socket_object(loop, method):
    s = socket.socket()
    s.close()               # fileno() is now -1
    with pytest.raises(ValueError, match='Invalid file descriptor: -1'):
        getattr(loop, method)(s, print)


@pytest.mark.parametrize('method', ['remove_reader', 'remove_writer'])
@pytest.mark.parametrize('fd', ['x', None, BadFileno()],
                         ids=['str', 'None', 'fileno-raises'])
def test_remove_invalid_file_object(loop, method, fd):
    with pytest.raises(ValueError, match='Invalid file object'):
        getattr(loop, method)(fd)


@pytest.mark.parametrize('method', ['remove_reader', 'remove_writer'])
def test_remove_closed_socket_never_registered(loop, method):
    s = socket.socket()
    s.close()
    with pytest.raises(ValueError, match='Invalid file descriptor: -1'):
        getattr(loop, method)(s)


@pytest.mark.parametrize('method', ['remove_reader', 'remove_writer'])
def test_remove_negative_fd(loop, method):
    with pytest.raises(ValueError, match='Invalid file descriptor: -1'):
        getattr(loop, method)(-1)


def test_remove_closed_socket_object_that_was_registered(loop):
    # A socket closed after registration has fileno() -1: it is found by
    # identity and removed.
    a, b = socket.socketpair()
    loop.add_reader(a, print)
    a.close()
    b.close()
    assert loop.remove_reader(a) is True


@pytest.mark.parametrize('method', ['add_reader', 'add_writer'])
def test_add_fd_not_open(loop, method):
    fd = os.open(os.devnull, os.O_RDONLY)
    os.close(fd)
    with pytest.raises(OSError) as info:
        getattr(loop, method)(fd, print)
    assert info.value.errno == 9          # EBADF
    assert getattr(loop, 'remove_' + method[4:])(fd) is False


@pytest.mark.parametrize('method', ['add_reader', 'add_writer'])
def test_regular_file_refused(loop, tmp_path, method):
    # epoll cannot watch regular files (EPERM), as asyncio's epoll selector
    # reports.
    path = tmp_path / 'regular'
    path.write_bytes(b'data')
    with open(path, 'rb') as f:
        with pytest.raises(PermissionError):
            getattr(loop, method)(f, print)
        # The failed registration left nothing behind.
        assert getattr(loop, 'remove_' + method[4:])(f) is False
    run_briefly(loop)


# -- fds closed or reused behind the loop's back ------------------------------

def test_registered_fd_closed_loop_idles(loop):
    # The fd is closed without remove_reader(): the kernel drops the
    # registration with the last reference to the file.  No spin, no crash.
    a, b = socket.socketpair()
    fd = a.fileno()
    got = []
    loop.add_reader(fd, got.append, 'old')
    b.send(b'x')
    a.close()
    assert_idles(loop)
    assert got == []
    assert loop.remove_reader(fd) is True
    b.close()


@pytest.mark.asyncio_differs(
    "asyncio's selector cannot unregister an fd number that is closed "
    '(EBADF is ignored), while a dup() keeps the file open; the kernel '
    'keeps reporting the stale registration, the selector skips the '
    'unknown fd and epoll_wait returns at once, forever: 100% CPU.  Ours '
    'recognizes the stranger event and rebuilds its epoll set.')
def test_closed_fd_with_dup_alive_does_not_spin(loop):
    a, b = socket.socketpair()
    fd = a.fileno()
    dup = os.dup(fd)
    try:
        loop.add_reader(fd, print)
        b.send(b'pending data')       # the file stays readable
        a.close()
        assert loop.remove_reader(fd) is True
        assert_idles(loop)
    finally:
        os.close(dup)
        b.close()


def test_closed_fd_number_reused_after_remove(loop):
    a, b = socket.socketpair()
    fd = a.fileno()
    c, d = nonblocking_pair()         # made first: a's number stays free
    loop.add_reader(fd, print)
    a.close()
    assert loop.remove_reader(fd) is True
    # The fd number now names a new socket.
    os.dup2(c.fileno(), fd)
    try:
        got = []
        loop.add_reader(fd, lambda: (got.append(read_or_eagain(fd)),
                                     loop.remove_reader(fd)))
        d.send(b'new')
        wait_until(loop, lambda: got)
        assert got == [b'new']
    finally:
        os.close(fd)
        for s in (b, c, d):
            s.close()


@pytest.mark.asyncio_differs(
    "the old file's registration survives in the kernel (a dup keeps it "
    "open); asyncio maps its events by fd number alone, so they reach the "
    "new socket's reader (and spin).  Ours tags events with a watcher "
    'generation and drops the stranger.')
def test_reused_fd_number_gets_no_events_of_the_old_file(loop):
    a, b = socket.socketpair()
    fd = a.fileno()
    dup = os.dup(fd)
    c, d = nonblocking_pair()
    try:
        loop.add_reader(fd, print)
        b.send(b'old data')           # readable forever: nobody reads it
        a.close()
        assert loop.remove_reader(fd) is True
        os.dup2(c.fileno(), fd)
        got = []
        loop.add_reader(fd, lambda: got.append(read_or_eagain(fd)))
        run_for(loop, 0.05)
        assert got == []               # nothing for the new socket yet
        assert_idles(loop, 0.2)
        d.send(b'new')
        wait_until(loop, lambda: got)
        assert got == [b'new']
        assert loop.remove_reader(fd)
    finally:
        os.close(fd)
        os.close(dup)
        for s in (b, c, d):
            s.close()


@pytest.mark.asyncio_differs(
    'asyncio has the same bug: selectors.modify() with unchanged events '
    'only swaps the data, so the new file is never registered')
def test_fd_closed_without_remove_then_reused(loop):
    a, b = socket.socketpair()
    fd = a.fileno()
    c, d = nonblocking_pair()
    loop.add_reader(fd, print)
    a.close()                          # no remove_reader()
    os.dup2(c.fileno(), fd)
    try:
        got = []
        loop.add_reader(fd, lambda: (got.append(read_or_eagain(fd)),
                                     loop.remove_reader(fd)))
        d.send(b'new')
        wait_until(loop, lambda: got, timeout=0.5)
        assert got == [b'new']
    finally:
        loop.remove_reader(fd)
        os.close(fd)
        for s in (b, c, d):
            s.close()


@pytest.mark.asyncio_differs('asyncio has the same bug (see above)')
def test_fd_closed_without_remove_dup_alive_then_reused(loop):
    a, b = socket.socketpair()
    fd = a.fileno()
    dup = os.dup(fd)
    c, d = nonblocking_pair()
    try:
        loop.add_reader(fd, print)
        b.send(b'old data')
        a.close()                      # no remove_reader()
        os.dup2(c.fileno(), fd)
        got = []
        loop.add_reader(fd, lambda: got.append(read_or_eagain(fd)))
        run_for(loop, 0.05)
        assert got == []
        d.send(b'new')
        wait_until(loop, lambda: got, timeout=0.5)
        assert got == [b'new']
    finally:
        loop.remove_reader(fd)
        os.close(fd)
        os.close(dup)
        for s in (b, c, d):
            s.close()


@pytest.mark.asyncio_differs(
    'asyncio never registers the new file (see above): the new reader '
    'gets nothing')
@pytest.mark.parametrize('polled', [False, True],
                         ids=['close-before-poll', 'close-after-poll'])
def test_callbacks_of_a_closed_fd_do_not_serve_its_reused_number(loop,
                                                                 polled):
    # A reader and a writer registered for a socket that is then closed
    # without remove_*(): when its number names a new socket, they must
    # not fire for it (the writer would, at once: a new socket is
    # writable), only what is registered for the new socket does.
    a, b = socket.socketpair()
    fd = a.fileno()
    c, d = nonblocking_pair()
    stale = []
    loop.add_reader(fd, stale.append, 'old reader')
    loop.add_writer(fd, stale.append, 'old writer')
    b.send(b'old data')
    if polled:
        loop.remove_reader(fd)         # batched: applied at the next poll
        loop.add_reader(fd, stale.append, 'old reader')
        run_briefly(loop)
        stale.clear()
    a.close()                          # no remove_reader/remove_writer()
    run_briefly(loop)
    os.dup2(c.fileno(), fd)
    try:
        got = []
        loop.add_reader(fd, lambda: got.append(read_or_eagain(fd)))
        d.send(b'new')
        wait_until(loop, lambda: got, timeout=0.5)
        assert got == [b'new']
        assert stale == []
        assert not loop.remove_writer(fd)      # the old writer is gone
    finally:
        loop.remove_reader(fd)
        os.close(fd)
        for s in (b, c, d):
            s.close()


def test_fd_closed_by_an_earlier_callback_of_the_batch(loop):
    # One callback closes (and removes) another fd that is ready in the
    # same batch: the other callback must not run, the loop goes on.
    a1, b1 = socket.socketpair()
    a2, b2 = socket.socketpair()
    ran = []

    def closer():
        ran.append('closer')
        loop.remove_reader(a1)
        loop.remove_reader(a2)
        a2.close()

    def victim():
        ran.append('victim')
        loop.remove_reader(a2)

    try:
        loop.add_reader(a2, victim)
        loop.add_reader(a1, closer)
        b1.send(b'x')
        b2.send(b'x')
        time.sleep(0.01)
        run_briefly(loop)
        # Either may come first in the batch; the victim never runs after
        # the closer.
        assert ran in (['closer'], ['victim', 'closer'])
        assert_idles(loop, 0.1)
    finally:
        for s in (a1, b1, a2, b2):
            s.close()
