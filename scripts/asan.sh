#!/usr/bin/env bash
# make asan: the test suite against an AddressSanitizer + UndefinedBehavior-
# Sanitizer build of loop._epoll (issue 8).
#
# The extension is built with clang in a temporary copy of the committed
# tree (`git archive HEAD`: uncommitted changes are not tested, and the
# shared build in src/loop is never touched), then tests/ (not tests/stress)
# runs on the stock CPython with the sanitizer runtime LD_PRELOADed:
#
# * PYTHONMALLOC=malloc: every Python object is a malloc block, so a
#   use-after-free or overflow of one (a refcount bug of ours) is caught,
#   not hidden inside a pymalloc arena.
# * ASan halts at the first error (halt_on_error=1); UBSan checks are
#   compiled unrecoverable (-fno-sanitize-recover=all), so any undefined
#   behaviour ends the process too.  One check is off in code Cython
#   generates, see scripts/asan-ignorelist.supp.
# * LeakSanitizer runs at the exit of every process (the pytest process and
#   the Python children some tests start).  CPython's own leaks at exit may
#   be suppressed by scripts/asan-lsan.supp, which names only CPython/libc
#   frames; a leak through our module is always reported.
# * Reports go to files (log_path), so that those of child processes, whose
#   stderr the tests capture, are seen too; any report fails the run.
#
# Environment:
#   ASAN_SHORT=1   the CI subset: our loop's parametrization of the core
#                  test files (a few minutes with the build)
#   PY             the Python (default .venv/bin/python)
#   ASAN_CC        the clang (default clang-14, else clang)
#   ASAN_LOOP_DEBUG=1  build the debug variant too (-O0, Cython bounds
#                  checks, live-object counters checked after each test)
#   ASAN_KEEP=1    keep the temporary tree and the logs
#   extra arguments go to pytest (e.g. -x, -k EXPR, a test file)
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD
PY=${PY:-$REPO/.venv/bin/python}
if [ -z "${ASAN_CC:-}" ] && ! command -v clang >/dev/null; then
  echo 'asan: installing clang and its sanitizer runtime (Debian)'
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
     apt-get install -y -qq clang libclang-rt-14-dev) >/dev/null ||
    echo 'asan: could not install clang' >&2
fi
CC=${ASAN_CC:-$(command -v clang-14 || command -v clang || true)}
[ -n "$CC" ] || { echo 'asan: clang not found (apt-get install clang)' >&2; exit 2; }
RUNTIME=$("$CC" -print-file-name=libclang_rt.asan-x86_64.so)
[ -f "$RUNTIME" ] || { echo "asan: no ASan runtime ($RUNTIME); install libclang-rt-dev" >&2; exit 2; }

tree=$(mktemp -d /tmp/loop-asan.XXXXXX)
logs=$tree/sanitizer-logs
mkdir -p "$logs"
cleanup() { [ "${ASAN_KEEP:-0}" = 1 ] && echo "asan: kept $tree" || rm -rf "$tree"; }
trap cleanup EXIT
git archive HEAD | tar -x -C "$tree"

start=$(date +%s)
echo "asan: building loop._epoll with $CC -fsanitize=address,undefined in $tree"
SAN="-fsanitize=address,undefined -fno-sanitize-recover=all"
(cd "$tree" &&
 CC="$CC" LDSHARED="$CC -shared" \
 CFLAGS="$SAN -fsanitize-ignorelist=$REPO/scripts/asan-ignorelist.supp -fno-omit-frame-pointer -g" \
 LDFLAGS="$SAN -shared-libasan" \
 LOOP_DEBUG=${ASAN_LOOP_DEBUG:-0} \
 "$PY" setup.py -q build_ext --inplace >"$logs/build.txt" 2>&1) || {
    tail -30 "$logs/build.txt" >&2; echo 'asan: build failed' >&2; exit 1; }
built=$(date +%s)

if [ "${ASAN_SHORT:-0}" = 1 ]; then
    # Our loop's runs of the files that drive the core hardest: scheduling,
    # fds (and their fuzzing), threads, streams and servers, transports'
    # error paths.  (The asyncio runs exercise CPython, not our module.)
    mode=short
    set -- tests/test_scheduling.py tests/test_fds.py tests/test_fuzz_fds.py \
        tests/test_threadsafe.py tests/test_servers.py \
        tests/test_exceptions.py tests/test_loop_run.py \
        -k 'not asyncio' "$@"
else
    mode=full
    # tests/integration only runs when named (scripts/integration.sh); its
    # modules import asyncpg, cffi and pyo3 extensions at collection, which
    # leave allocations unreachable at exit: neither CPython's nor ours.
    set -- tests --ignore=tests/stress --ignore=tests/integration "$@"
fi

echo "asan: running pytest ($mode) under the sanitizers"
set +e
(cd "$tree" &&
 LD_PRELOAD=$RUNTIME PYTHONMALLOC=malloc PYTHONPATH=src \
 ASAN_OPTIONS="halt_on_error=1:detect_leaks=1:strict_string_checks=1:check_initialization_order=1:detect_stack_use_after_return=0:log_path=$logs/report" \
 LSAN_OPTIONS="suppressions=$REPO/scripts/asan-lsan.supp:print_suppressions=0" \
 UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1:log_path=$logs/report" \
 LOOP_FUZZ_EXAMPLES=${LOOP_FUZZ_EXAMPLES:-0.25} \
 "$PY" -m pytest -q -p no:cacheprovider "$@" 2>&1 | tee "$logs/pytest.txt")
rc=${PIPESTATUS[0]}
set -e
end=$(date +%s)

# The verdict: the tests' exit code, and any sanitizer report from any
# process.  A report is ours when its stack goes through our module.
reports=$(find "$logs" -name 'report.*' -size +0 | sort)
ours=0
for r in $reports; do
    if grep -qE '_epoll\.(c|pyx)|src/core/|_epoll\.cpython' "$r"; then
        ours=$((ours + 1))
    fi
done
echo
echo "== asan summary ($mode) =="
echo "python:    $("$PY" -c 'import sys; print(sys.version.split()[0])'), $("$CC" --version | head -1)"
echo "tests:     $(grep -E '^[0-9]+ (passed|failed)|^=+ .*(passed|failed)' "$logs/pytest.txt" | tail -1) (pytest exit $rc)"
echo "reports:   $(echo "$reports" | grep -c . || true) sanitizer report(s), $ours through loop._epoll"
for r in $reports; do
    echo "--- $r"
    grep -E 'ERROR: |runtime error|SUMMARY|Direct leak|Indirect leak' "$r" | head -5
done
echo "time:      build $((built - start)) s, tests $((end - built)) s"
if [ -n "$reports" ] || [ "$rc" -ne 0 ]; then
    ASAN_KEEP=1
    echo "asan: FAILED (logs in $logs)"
    exit 1
fi
echo "asan: OK"
