"""A signal storm while the loop serves connections and timers.

Another process sends bursts of SIGUSR1, SIGUSR2 and SIGCHLD (as a child
exiting would) to this one, as fast as os.kill() goes, while echo clients
and a timer chain keep the loop busy.  The two sides go in lock step over a
socketpair that the loop itself serves: the loop asks for a burst, the
sender sends it and reports which signals it sent, and the loop waits until
each of them has reached its handler.  Signals may be coalesced, as
asyncio's do (the C-level handler only sets a flag and writes the signal
number to the wakeup fd, dropping it when the fd is full), so the check is
at least one handler call per kind per burst, never more calls than
signals.  The last burst is sent to a loop with no traffic and no timers
left, blocked in its poll: only the signal can wake it (a lost wakeup would
hang there until the bound fails the test).
"""
import asyncio
import collections
import hashlib
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time

from ._util import HOST, close_server, echo_server, fds, run, size

SIGNALS = (signal.SIGUSR1, signal.SIGUSR2, signal.SIGCHLD)
CLIENTS = 8

SENDER = textwrap.dedent('''
    import os, random, signal, socket, sys
    target, fd, seed = map(int, sys.argv[1:])
    sigs = [signal.SIGUSR1, signal.SIGUSR2, signal.SIGCHLD]
    rng = random.Random(seed)
    with socket.socket(fileno=fd) as sock, sock.makefile('rwb', 0) as f:
        while True:
            n = int(f.readline())      # how many signals in this burst
            if n == 0:
                break
            sent = {}
            for i in range(n):
                sig = rng.choice(sigs)
                os.kill(target, sig)
                if i % 8 == 7:
                    os.sched_yield()   # let some be delivered one by one
                sent[int(sig)] = sent.get(int(sig), 0) + 1
            # What was sent: "signum:count ..."
            f.write((' '.join(f'{k}:{v}' for k, v in sent.items())
                     + '\\n').encode())
''')


def test_signal_storm(loop, figure):
    bursts, per_burst = size(300, 30), size(200, 50)
    fds_before = fds()
    saved = {s: signal.getsignal(s) for s in SIGNALS}
    ours, theirs = socket.socketpair()
    sender = subprocess.Popen(
        [sys.executable, '-c', SENDER, str(os.getpid()),
         str(theirs.fileno()), '8'], pass_fds=[theirs.fileno()])
    theirs.close()
    try:
        stats = run(loop, _storm(loop, ours, bursts, per_burst),
                    size(600, 60))
    finally:
        ours.close()
        try:
            sender.wait(30)
        finally:
            if sender.returncode is None:
                sender.kill()
                sender.wait()
            for s, handler in saved.items():
                signal.signal(s, handler)
    assert sender.returncode == 0
    handled, sent = stats['handled'], stats['sent']
    # Our loop opens its signal sockets on the first add_signal_handler and
    # keeps them until it is closed (asyncio's self-pipe is there from the
    # start): count the fds with the loop closed.
    loop.close()
    fds_after = fds()
    assert fds_after <= fds_before, f'fds leaked: {fds_after - fds_before}'
    for s in SIGNALS:
        # Coalescing is allowed; inventing signals is not.
        assert 1 <= handled[s] <= sent[s], (s.name, handled[s], sent[s])
    assert stats['round_trips'] > 0 and stats['timers'] > 0
    figure('bursts / signals sent', f"{bursts} / {sum(sent.values())}")
    figure('handler calls (USR1, USR2, CHLD)',
           ', '.join(str(handled[s]) for s in SIGNALS))
    figure('signals reaching a handler',
           100 * sum(handled.values()) / sum(sent.values()), '%')
    figure('signal rate', sum(sent.values()) / stats['elapsed'],
           'signals/s')
    figure('echo round trips / timers fired during the storm',
           f"{stats['round_trips']} / {stats['timers']}")
    figure('fds: before -> after (loop closed)',
           f'{len(fds_before)} -> {len(fds_after)}')


async def _storm(loop, sock, bursts, per_burst):
    handled = collections.Counter()
    sent = collections.Counter()
    waiting = {'future': None, 'missing': set()}

    def handler(sig):
        handled[sig] += 1
        waiting['missing'].discard(sig)
        fut = waiting['future']
        if fut is not None and not waiting['missing'] and not fut.done():
            fut.set_result(None)

    for s in SIGNALS:
        loop.add_signal_handler(s, handler, s)
    reader, writer = await asyncio.open_connection(sock=sock)
    server, port = await echo_server(loop)
    stop = asyncio.Event()
    counters = {'round_trips': 0, 'timers': 0}

    def tick():
        counters['timers'] += 1
        if not stop.is_set():
            loop.call_later(0.001, tick)

    async def client(i):
        r, w = await asyncio.open_connection(HOST, port)
        try:
            n = 0
            while not stop.is_set():
                n += 1
                body = os.urandom(100 + (i * 997 + n) % 4000)
                payload = hashlib.sha256(body).digest() + body
                w.write(payload)
                echoed = await r.readexactly(len(payload))
                # The echo is intact, on the right connection.
                assert echoed == payload
                assert hashlib.sha256(echoed[32:]).digest() == echoed[:32]
                counters['round_trips'] += 1
        finally:
            w.close()
            await w.wait_closed()

    loop.call_soon(tick)
    clients = [asyncio.ensure_future(client(i)) for i in range(CLIENTS)]
    t0 = time.monotonic()
    try:
        for _ in range(bursts - 1):
            await _one_burst(loop, waiting, handled, sent, reader, writer,
                             per_burst)
        elapsed = time.monotonic() - t0
        stop.set()
        await asyncio.gather(*clients)
        await asyncio.sleep(0.01)      # the last tick sees `stop`
        # The last burst: nothing else can wake the loop now.
        await _one_burst(loop, waiting, handled, sent, reader, writer,
                         per_burst)
        # Before the sender exits: its exit sends us a real SIGCHLD.
        for s in SIGNALS:
            loop.remove_signal_handler(s)
        writer.write(b'0\n')
        await writer.drain()
        writer.close()
        await writer.wait_closed()
    finally:
        stop.set()
        for c in clients:
            c.cancel()
        await asyncio.gather(*clients, return_exceptions=True)
        await close_server(server)
        for s in SIGNALS:
            loop.remove_signal_handler(s)
    return dict(counters, handled=handled, sent=sent, elapsed=elapsed)


async def _one_burst(loop, waiting, handled, sent, reader, writer, n):
    """Ask for `n` signals; return once each kind sent was handled."""
    before = dict(handled)
    fut = waiting['future'] = loop.create_future()
    writer.write(b'%d\n' % n)
    line = await reader.readline()
    kinds = set()
    for item in line.split():
        signum, count = map(int, item.split(b':'))
        kinds.add(signal.Signals(signum))
        sent[signal.Signals(signum)] += count
    # Kinds already handled since the burst began need no more waiting.
    waiting['missing'] = {k for k in kinds if handled[k] == before.get(k, 0)}
    if not waiting['missing'] and not fut.done():
        fut.set_result(None)
    await asyncio.wait_for(fut, 30)
    waiting['future'] = None
