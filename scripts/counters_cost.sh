#!/usr/bin/env bash
# The cost of loop.stats()' always-on counters, in instructions: builds a
# copy of the committed tree with every counter update deleted, then counts
# the instructions of a few micro-benchmarks under callgrind with both
# builds (repeatable on a noisy machine, unlike timings).
#   bash scripts/counters_cost.sh [N]      (N operations per benchmark)
#   bash scripts/counters_cost.sh --net [ROUNDS]
#       the same two builds through the network benchmarks instead, in one
#       interleaved run (scripts/counters_net.py; about 1 minute per round)
set -euo pipefail
cd "$(dirname "$0")/.."
NET=
if [ "${1:-}" = --net ]; then NET=1; shift; fi
N=${1:-20000}
PY=${PY:-$PWD/.venv/bin/python}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
for variant in with without; do
  mkdir -p "$work/$variant"
  git archive HEAD | tar -x -C "$work/$variant"
done
# The counter updates are whole statements of these forms: each becomes
# `pass` (a deleted line could leave an if-block empty).
sed -i -E 's/^( *)[a-z._]*(_iterations|_callbacks_run|_timers_scheduled|_timers_cancelled|_timers_fired|waits|_bytes_read|_bytes_written|_connections) [+-]= (1|n)$/\1pass/' \
  "$work"/without/src/core/*.pyx "$work"/without/src/core/transports/*.pyx
for variant in with without; do
  (cd "$work/$variant" && "$PY" setup.py -q build_ext --inplace >/dev/null)
done
if [ -n "$NET" ]; then
  "$PY" scripts/counters_net.py "$work/with/src" "$work/without/src" \
    --rounds "${1:-5}"
  exit
fi
cat > "$work/bench.py" <<'PYEOF'
import asyncio, sys
import loop
bench, n = sys.argv[1], int(sys.argv[2])
ev = loop.new_event_loop()
async def sleep0():
    for _ in range(n):
        await asyncio.sleep(0)
async def timers():
    fut = ev.create_future()
    left = [n // 2]
    def fire():
        left[0] -= 1
        if not left[0]:
            fut.set_result(None)
    handles = [ev.call_later(0.001 * (i % 5), fire) for i in range(n)]
    for h in handles[1::2]:
        h.cancel()
    await fut
async def call_soon():
    fut = ev.create_future()
    for _ in range(n):
        ev.call_soon(len, ())
    ev.call_soon(fut.set_result, None)
    await fut
async def nothing():
    pass
ev.run_until_complete({'sleep0': sleep0, 'timers': timers,
                       'call_soon': call_soon, 'none': nothing}[bench]())
ev.close()
PYEOF
count() {  # instructions of bench.py with the given build
  PYTHONPATH="$work/$1/src" valgrind --tool=callgrind \
    --callgrind-out-file=/dev/null "$PY" "$work/bench.py" "$2" "$3" 2>&1 |
    awk '/refs:/ {gsub(",", "", $4); print $4}'
}
printf '| benchmark | with counters | without | cost |\n|---|---|---|---|\n'
for bench in call_soon sleep0 timers; do
  with=$(( ($(count with "$bench" "$N") - $(count with none 0)) / N ))
  without=$(( ($(count without "$bench" "$N") - $(count without none 0)) / N ))
  printf '| %s | %d | %d | %+.1f%% |\n' "$bench" "$with" "$without" \
    "$(echo "($with - $without) * 100 / $without" | bc -l)"
done
