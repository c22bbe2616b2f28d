"""Hypothesis fuzzing of fd interest (issue 8): random sequences of
add_reader / remove_reader / add_writer / remove_writer, sockets closed and
reopened under the same fd number, data sent by the peer, loop iterations,
and call_soon / call_later / cancel (whose callbacks may themselves add or
remove readers and writers).  Each sequence runs on stdlib asyncio and on
our loop; the observable results must be the same: which callbacks ran,
with what arguments and data, in which iteration; what every add/remove
returned or raised (type and message); what reached the exception handler.

How one sequence runs: a few "slots", each a connected socketpair whose
local end is watched by fd number (or, sometimes, through the socket
object) and whose peer sits at a high fd number out of the way.  A `run`
step is exactly one loop iteration (`call_soon(stop)` + `run_forever()`),
so everything is deterministic: data sent to a unix socketpair is readable
at once, timers are either already due (a negative delay, distinct by
scheduling order) or an hour away.  Within one iteration the I/O callbacks
run in the order epoll lists the ready fds, which depends on each loop's
history of epoll_ctl calls, not on asyncio's rules: that stretch of each
iteration is compared as a sorted list.  Callbacks queued before the poll
run before it, due timers after it, in order, on both loops.

Where the two loops differ on purpose (modelled by `Tracker.stale`): a
socket closed while it is registered.  epoll drops the registration with
the file, behind the loop's back.  asyncio's selector still holds its key
and finds out only at its next epoll_ctl on that number: EBADF (or ENOENT
once the number names a new socket) is raised and the key is dropped
without the handle being cancelled, while a call that changes no event
mask makes no syscall and succeeds; a reader added that way on a reused
number never fires (the new file is never registered).  Ours keeps its fd
table, checks a reused number's registration with EPOLL_CTL_MOD and
registers the new file under a new generation (docs/architecture.md,
tests/test_fds.py), so its return values, exceptions and callbacks on that
number legitimately differ from asyncio's.  From such a close until the
sequence cleans the slot up (`cleanup`: remove_reader and remove_writer,
as a program that got an error would), what happens on that number is
checked against what both loops must do, not compared: add/remove either
succeed or raise OSError(EBADF/ENOENT) (or refuse a closed socket object),
nothing else; after the cleanup
neither loop has a reader or writer left there and the two are compared
exactly again.

Sizes: LOOP_FUZZ_EXAMPLES scales the example counts (default 1: about
20 s for the file on a loaded 2-core machine).
"""
import asyncio
import errno
import fcntl
import os
import socket

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

import loop as eloop

SLOTS = 3
SCALE = float(os.environ.get('LOOP_FUZZ_EXAMPLES', '1'))
# Peers live at or above this fd number, so that they never take the number
# of a slot's closed socket (the numbers are reused on purpose, by dup2).
PEER_FD_MIN = 200

settings.register_profile(
    'loop-fuzz',
    # No deadline: a loaded machine may be slow; no database, so that a run
    # is reproducible from its seed alone.
    deadline=None, database=None, max_examples=100,
    suppress_health_check=[HealthCheck.too_slow,
                           HealthCheck.data_too_large])


def fuzz_settings(examples):
    return settings(settings.get_profile('loop-fuzz'),
                    max_examples=max(1, int(examples * SCALE)))


# -- the operations -----------------------------------------------------------

slot = st.integers(0, SLOTS - 1)
tag = st.integers(0, 99)
fd_op = st.one_of(
    st.tuples(st.sampled_from(['add_reader', 'add_writer']), slot, tag,
              st.booleans()),           # by socket object instead of number
    st.tuples(st.sampled_from(['remove_reader', 'remove_writer']), slot,
              st.booleans()),
)
send = st.tuples(st.just('send'), slot, st.integers(1, 64))
run = st.tuples(st.just('run'))
# fd operations, sends and iterations weigh more than closes and reopens,
# so that most examples have callbacks to compare.
io_ops = st.one_of(
    fd_op, fd_op, send, run, run,
    st.tuples(st.just('close'), slot),
    st.tuples(st.just('reopen'), slot),
    st.tuples(st.just('cleanup'), slot),
)
# A callback's action: nothing, or one fd operation when it runs.
action = st.one_of(st.none(), fd_op)
timer_ops = st.one_of(
    st.tuples(st.just('soon'), tag, action),
    st.tuples(st.just('later'), st.booleans(), tag, action),   # due / far
    st.tuples(st.just('cancel'), st.integers(0, 1000)),
)


def _high_fd(sock):
    """`sock` moved to a free fd number >= PEER_FD_MIN."""
    fd = fcntl.fcntl(sock.fileno(), fcntl.F_DUPFD_CLOEXEC, PEER_FD_MIN)
    sock.close()
    moved = socket.socket(fileno=fd)
    moved.setblocking(False)
    return moved


class Slot:
    """A watched socket at a fixed fd number, and its peer."""

    def __init__(self):
        a, b = socket.socketpair()
        a.setblocking(False)
        self.sock, self.peer = a, _high_fd(b)
        self.fd = a.fileno()
        self.generation = 0     # bumped by every reopen

    @property
    def closed(self):
        return self.sock is None

    def close(self):
        self.closed_obj = self.sock     # fileno() -1 from now on
        self.sock.close()
        self.sock = None

    def reopen(self):
        """A new socket under the same fd number (the number a closed fd
        leaves is the next one handed out; dup2 makes it certain)."""
        a, b = socket.socketpair()
        a.setblocking(False)
        # The peer first: it may have been handed our number.
        b = _high_fd(b)
        if a.fileno() != self.fd:
            os.dup2(a.fileno(), self.fd, inheritable=False)
            a.close()
            a = socket.socket(fileno=self.fd)
        self.peer.close()
        self.sock, self.peer = a, b
        self.generation += 1

    def target(self, by_object):
        """What add_*/remove_* get: the socket object (even closed), or
        the fd number."""
        if by_object:
            return self.sock if self.sock is not None else self.closed_obj
        return self.fd

    def dispose(self):
        for s in (self.sock, self.peer):
            if s is not None:
                s.close()


def _outcome(call, *args):
    """What a call returned, or the type and message it raised."""
    try:
        return ('=', call(*args))
    except Exception as exc:        # noqa: BLE001 - compared, not hidden
        return ('!', type(exc).__name__, str(exc))


class Tracker:
    """One run of a sequence on one loop: the log, and the slots' state.

    `registered[i]` is the set of 'r'/'w' the loop told us slot i has;
    `stale[i]` is true from a close of slot i while it was registered until
    its cleanup (see the module docstring).
    """

    def __init__(self, ev):
        self.ev = ev
        self.log = []           # compared between the loops
        self.stale_log = []     # checked, not compared
        self.slots = [Slot() for _ in range(SLOTS)]
        self.registered = [set() for _ in range(SLOTS)]
        self.stale = [False] * SLOTS
        self.handles = []
        self.iteration = 0
        ev.set_exception_handler(self._exception_handler)

    def _exception_handler(self, ev, context):
        exc = context.get('exception')
        self.log.append(('handler', context.get('message'),
                         type(exc).__name__ if exc else None))

    # -- fd operations (from the test body or from callbacks) --------------

    def fd_op(self, op):
        name, i = op[0], op[1]
        s = self.slots[i]
        by_object = op[-1]
        target = s.target(by_object)
        direction = 'r' if name.endswith('reader') else 'w'
        if name.startswith('add'):
            tag_ = op[2]
            callback = self._reader if direction == 'r' else self._writer
            result = _outcome(getattr(self.ev, name), target, callback,
                              i, tag_)
            if result[0] == '=':
                self.registered[i].add(direction)
        else:
            result = _outcome(getattr(self.ev, name), target)
            if result[0] == '=' and not self.stale[i]:
                self.registered[i].discard(direction)
        if self.stale[i]:
            # Both loops must either succeed or report the closed/reused fd
            # as asyncio's selector does (or refuse a closed socket object,
            # fileno() -1); which one happens differs.
            self.stale_log.append((name, i, result))
            assert result[0] == '=' or result[1] in (
                'OSError', 'FileNotFoundError') or result[1:] == (
                'ValueError', 'Invalid file descriptor: -1'), (name, result)
        else:
            self.log.append((name, i, by_object, result))

    def _reader(self, i, tag_):
        s = self.slots[i]
        try:
            data = os.read(s.fd, 4096)
        except OSError as exc:
            data = errno.errorcode.get(exc.errno, exc.errno)
        record = ('io', 'r', i, tag_, s.generation, data)
        (self.stale_log if self.stale[i] else self.log).append(record)

    def _writer(self, i, tag_):
        s = self.slots[i]
        record = ('io', 'w', i, tag_, s.generation)
        (self.stale_log if self.stale[i] else self.log).append(record)

    def _callback(self, kind, tag_, act):
        self.log.append((kind, tag_))
        if act is not None:
            self.fd_op(act)

    # -- the sequence ------------------------------------------------------

    def step(self, op):
        name = op[0]
        if name in ('add_reader', 'add_writer', 'remove_reader',
                    'remove_writer'):
            self.fd_op(op)
        elif name == 'send':
            s = self.slots[op[1]]
            if s.closed:
                return          # the peer's fate is not the loop's business
            s.peer.send(bytes([65 + op[1]]) * op[2])
            self.log.append(('send', op[1], op[2]))
        elif name == 'close':
            s = self.slots[op[1]]
            if s.closed:
                return
            s.close()
            if self.registered[op[1]]:
                self.stale[op[1]] = True
            self.log.append(('close', op[1], self.stale[op[1]]))
        elif name == 'reopen':
            s = self.slots[op[1]]
            if not s.closed:
                return
            s.reopen()
            self.log.append(('reopen', op[1]))
        elif name == 'cleanup':
            self.cleanup(op[1])
        elif name == 'run':
            self.iteration += 1
            self.log.append(('run', self.iteration))
            self.ev.call_soon(self.ev.stop)
            self.ev.run_forever()
        elif name == 'soon':
            self.handles.append(self.ev.call_soon(
                self._callback, 'soon', op[1], op[2]))
        elif name == 'later':
            # Due: a negative delay, later for each new timer (the clock
            # only moves forward), so the deadlines are distinct and in
            # scheduling order.  Far: never due during the sequence.
            delay = -1 + len(self.handles) * 1e-6 if op[1] else 3600
            self.handles.append(self.ev.call_later(
                delay, self._callback, 'later', op[2], op[3]))
        elif name == 'cancel':
            if self.handles:
                self.handles[op[1] % len(self.handles)].cancel()
        else:
            raise AssertionError(op)

    def cleanup(self, i):
        """remove_reader + remove_writer, whatever they say; afterwards the
        loop must hold nothing for the slot (compared between loops)."""
        s = self.slots[i]
        for name in ('remove_reader', 'remove_writer'):
            result = _outcome(getattr(self.ev, name), s.fd)
            if self.stale[i]:
                self.stale_log.append(('cleanup', name, i, result))
        # Data the loops may have treated differently while the slot was
        # stale (ours read it, asyncio never heard of the socket) is gone.
        while not s.closed:
            try:
                if not s.sock.recv(65536):
                    break
            except BlockingIOError:
                break
        self.stale[i] = False
        self.registered[i].clear()
        after = (_outcome(self.ev.remove_reader, s.fd),
                 _outcome(self.ev.remove_writer, s.fd))
        self.log.append(('cleanup', i, after))

    def finish(self):
        try:
            for i in range(SLOTS):
                self.cleanup(i)
        finally:
            self.ev.close()
            for s in self.slots:
                s.dispose()


def normalized(log):
    """The log with each stretch of I/O callbacks sorted (their order within
    one iteration is epoll's, see the module docstring)."""
    out, stretch = [], []
    for record in log:
        if record[0] == 'io':
            stretch.append(record)
            continue
        out.extend(sorted(stretch, key=repr))
        stretch = []
        out.append(record)
    out.extend(sorted(stretch, key=repr))
    return out


def run_sequence(factory, ops):
    ev = factory()
    tracker = Tracker(ev)
    try:
        for op in ops:
            tracker.step(op)
        tracker.step(('run',))
    finally:
        tracker.finish()
    return tracker


def compare(ops, events=True):
    """Run `ops` on both loops; the compared logs must be equal."""
    ref = run_sequence(asyncio.new_event_loop, ops)
    ours = run_sequence(eloop.new_event_loop, ops)
    expected, got = normalized(ref.log), normalized(ours.log)
    if expected != got:
        for n, (a, b) in enumerate(zip(expected, got)):
            if a != b:
                break
        else:
            n = min(len(expected), len(got))
        pytest.fail(f'first difference at record {n}:\n'
                    f'  asyncio: {expected[n:n + 3]}\n'
                    f'  loop:    {got[n:n + 3]}\n'
                    f'ops: {ops}')
    if not events:
        return ref, ours
    # What the examples reached (pytest --hypothesis-show-statistics).
    event(f'I/O callbacks compared: {min(len(io_records(ref.log)), 5)}+')
    if ref.stale_log or ours.stale_log:
        event('a slot closed while registered (stale)')
    if any(r[0] == 'handler' for r in ref.log):
        event('exception handler called')
    return ref, ours


# -- the tests ------------------------------------------------------------------

@fuzz_settings(400)
@given(st.lists(io_ops, max_size=40))
def test_fd_sequences(ops):
    compare(ops)


@fuzz_settings(400)
@given(st.lists(st.one_of(io_ops, timer_ops), max_size=40))
def test_fd_and_timer_sequences(ops):
    compare(ops)


# Examples that pin the cases the strategies above reach only by chance,
# with the I/O callbacks each loop must run: (compared log, stale log).

def io_records(log):
    return [r for r in log if r[0] == 'io']


PINNED = {
    # A reader fed, then removed by a callback queued before the poll: the
    # I/O handle queued by that poll is cancelled before its turn.
    'removed-before-poll': (
        [('add_reader', 0, 1, False), ('send', 0, 3),
         ('soon', 7, ('remove_reader', 0, False)), ('run',), ('send', 0, 2),
         ('run',)],
        [], [], []),
    # A reader replaced from a due timer, after it ran in that iteration.
    'replaced-by-timer': (
        [('add_reader', 0, 1, True), ('send', 0, 3),
         ('later', True, 5, ('add_reader', 0, 2, False)), ('run',),
         ('send', 0, 1), ('run',)],
        [('io', 'r', 0, 1, 0, b'AAA'), ('io', 'r', 0, 2, 0, b'A')], [], []),
    # Closed while registered, the number reused, a reader added again:
    # asyncio's selector swaps the handle without a syscall and never hears
    # of the new socket; ours registers it (the deliberate difference).  The
    # writer registered for the closed socket (never removed) is dropped:
    # it must not serve the new socket.  After the cleanup both serve the
    # number alike.
    'stale-then-clean': (
        [('add_reader', 1, 1, False), ('add_writer', 1, 2, False),
         ('close', 1), ('run',), ('reopen', 1), ('add_reader', 1, 3, False),
         ('send', 1, 4), ('run',), ('cleanup', 1),
         ('add_reader', 1, 4, False), ('send', 1, 5), ('run',)],
        [('io', 'r', 1, 4, 1, b'BBBBB')],
        [], [('io', 'r', 1, 3, 1, b'BBBB')]),
    # Closed with nothing registered: both raise EBADF on add by number and
    # refuse the closed object; reopened, the number works.
    'closed-unregistered': (
        [('close', 2), ('add_reader', 2, 1, False), ('add_writer', 2, 1, True),
         ('remove_reader', 2, True), ('reopen', 2), ('add_reader', 2, 2, True),
         ('send', 2, 1), ('run',)],
        [('io', 'r', 2, 2, 1, b'C')], [], []),
    # Found by the fuzzer: a socket registered, closed, its reader removed
    # by number; removing by the closed socket object must then fail as
    # selectors does (nothing is registered under that object any more),
    # not return False because our fd table forgets the entry only at the
    # next poll.
    'closed-object-after-remove': (
        [('add_reader', 0, 0, True), ('close', 0), ('cleanup', 0),
         ('remove_reader', 0, True), ('remove_writer', 0, True),
         ('reopen', 0), ('add_reader', 0, 1, False), ('send', 0, 1),
         ('run',)],
        [('io', 'r', 0, 1, 1, b'A')], [], []),
}


@pytest.mark.parametrize('name', PINNED)
def test_pinned_sequences(name):
    ops, io, asyncio_stale, loop_stale = PINNED[name]
    ref, ours = compare(ops, events=False)
    assert io_records(ref.log) == io
    assert normalized(io_records(ref.stale_log)) == asyncio_stale
    assert normalized(io_records(ours.stale_log)) == loop_stale
