#!/usr/bin/env bash
# make valgrind: a smoke subset under memcheck (issue 8).
#
# Runs the scheduling tests (our loop's parametrization, no hypothesis) and
# a small TCP echo under valgrind with PYTHONMALLOC=malloc, so that every
# Python object is a malloc block memcheck can see.  CPython itself is not
# memcheck-clean (e.g. conditional jumps on uninitialised values in its own
# code, memory kept until exit), so valgrind's own exit code cannot be the
# verdict: the log is read instead and the script fails only on an error or
# a definite leak whose stack goes through loop._epoll (or when the tests
# themselves fail).
#
# Environment: PY (python, default .venv/bin/python), VALGRIND_LOG (where to
# keep the log, default a temporary file), VALGRIND_K (the -k expression
# choosing the scheduling tests).
set -u
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
LOG=${VALGRIND_LOG:-$(mktemp /tmp/loop-valgrind.XXXXXX)}
# Code of ours in a stack frame: the extension's file, or its C/Cython
# sources (the module is built with debug info).  select.epoll is CPython's
# and is not matched (its functions are select_epoll_*, its file
# selectmodule.c).
OURS='_epoll\.cpython|_epoll\.(c|pyx|pxd)|src/core/'
VG_EXIT=97      # valgrind's exit code when it found errors of any kind

command -v valgrind >/dev/null || { echo 'valgrind not installed' >&2; exit 2; }

ECHO=$(cat <<'PYEOF'
import asyncio, os
import loop

async def main():
    async def handle(reader, writer):
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
        writer.close()
    server = await asyncio.start_server(handle, '127.0.0.1', 0)
    port = server.sockets[0].getsockname()[1]
    for _ in range(5):
        reader, writer = await asyncio.open_connection('127.0.0.1', port)
        for size in (1, 1000, 100_000):
            data = os.urandom(size)
            writer.write(data)
            assert await reader.readexactly(size) == data
        writer.close()
        await writer.wait_closed()
    # Timers, some cancelled, and a callback from another thread.
    ev = asyncio.get_running_loop()
    handles = [ev.call_later(i / 1000, lambda: None) for i in range(100)]
    for h in handles[::2]:
        h.cancel()
    await ev.run_in_executor(None, ev.call_soon_threadsafe, lambda: None)
    await asyncio.sleep(0.15)
    server.close()
    await server.wait_closed()
    print('echo ok')

loop.run(main())
PYEOF
)

vg() {
    PYTHONMALLOC=malloc PYTHONPATH=src valgrind --tool=memcheck \
        --error-exitcode=$VG_EXIT --leak-check=full \
        --show-leak-kinds=definite --errors-for-leak-kinds=definite \
        --num-callers=40 --log-file="$LOG.$1" "${@:2}"
}

status=0
echo "valgrind: scheduling tests (log $LOG.tests)"
vg tests "$PY" -m pytest -q -p no:cacheprovider tests/test_scheduling.py \
    -k "${VALGRIND_K:-not hypothesis and not asyncio}"
rc=$?
if [ $rc -ne 0 ] && [ $rc -ne $VG_EXIT ]; then
    echo "the tests failed under valgrind (exit $rc)" >&2
    status=1
fi
echo "valgrind: echo (log $LOG.echo)"
vg echo "$PY" -c "$ECHO"
rc=$?
if [ $rc -ne 0 ] && [ $rc -ne $VG_EXIT ]; then
    echo "the echo failed under valgrind (exit $rc)" >&2
    status=1
fi

# Split each log into error records (valgrind separates them with a line
# holding only its ==pid== prefix) and keep those that go through our code.
"$PY" - "$LOG.tests" "$LOG.echo" "$OURS" <<'PYEOF' || status=1
import re, sys
*logs, ours = sys.argv[1:]
ours = re.compile(ours)
found = others = 0
for path in logs:
    text = open(path).read()
    records = re.split(r'^==\d+== *\n', text, flags=re.M)
    for rec in records:
        lines = [re.sub(r'^==\d+== ?', '', ln) for ln in rec.splitlines()]
        if not lines or not re.search(
                r'^(Invalid|Conditional jump|Use of uninitialised|Syscall '
                r'param|Mismatched|Source and destination|.*definitely lost)',
                lines[0]):
            continue
        if any(ours.search(ln) for ln in lines):
            found += 1
            print(f'--- {path}\n' + '\n'.join(lines))
        else:
            others += 1
print(f'valgrind: {found} error(s) in loop._epoll, {others} elsewhere '
      '(CPython, ignored)')
sys.exit(1 if found else 0)
PYEOF
exit $status
