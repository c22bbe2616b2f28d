#!/usr/bin/env bash
# Run another project's own test suite on stdlib asyncio or on our loop.
#
#   scripts/foreign_suites/run.sh PROJECT MODE [pytest args...]
#
#   PROJECT  websockets (15.0.1) | anyio (4.16.0) | aiohttp (3.14.5) |
#            uvloop (0.23.0) | uvicorn (0.54.0) | asyncpg (0.32.0) |
#            redis (8.1.0, redis-py's tests/test_asyncio) | asyncssh (2.24.1) |
#            tornado (6.6.1) | starlette (1.7.0)
#   MODE     asyncio (the reference) | ourloop (asyncio's policy makes
#            loop.EventLoop; see plugins/foreign_loop.py)
#
# Sets up what is missing under the work dir, then runs pytest in the
# project's source tree.  Setup: a venv per project and Python, with the
# pinned packages of requirements/PROJECT.txt (reinstalled when that file
# changes); the project's test sources (the PyPI sdist fetched with pip, or
# for websockets, whose sdist has no tests/, Debian's orig tarball fetched
# from the machine's configured Debian mirror), checked against a SHA-256.
# Arguments given are added to pytest's; when one of them names a test path
# (tests or tests/..., tornado/test or tornado/test/... for tornado), it
# replaces the default selection and the results
# are tagged "subset" (unless RUN_TAG is set), so a full run's are kept.
#
# Writes, in WORK/results/:
#   PROJECT-pyX.Y-MODE[-TAG].xml    junit xml (compare two with diff.py)
#   PROJECT-pyX.Y-MODE[-TAG].log    pytest's output
#   PROJECT-pyX.Y-MODE[-TAG].loops  which loops ran (plugins/foreign_loop.py)
# and exits with pytest's status (suites fail some tests on either loop).
#
# Environment:
#   LOOP_FOREIGN_DIR  work dir (default /tmp/loop-foreign)
#   PYTHON            interpreter for the venv (default: the base interpreter
#                     of the repo's .venv, else python3.11)
#   LOOP_SRC          directory holding the `loop` package to test, built for
#                     that Python (default: the repo's src)
#   TIMEOUT           pytest-timeout per test, seconds (default 60)
#   RUN_TAG           suffix of the result files' names
#   HOSTS6            1: run pytest in a private mount namespace (unshare -m,
#                     needs root) whose /etc/hosts is the machine's plus
#                     "::1 localhost", for machines where localhost has no
#                     IPv6 address (anyio's ipv6 tests then fail on both
#                     loops); 0: never; auto (default for anyio; the others
#                     default to 0): when localhost has no IPv6 address and
#                     unshare works
#   DEBIAN_MIRROR     Debian archive URL for websockets' tarball (default:
#                     the first .../debian/ repository apt is configured with)
#   FOREIGN_POLICY, ANYIO_EAGER, ANYIO_DEBUG: see the plugins.
set -euo pipefail

usage() {
  echo "usage: $0 websockets|anyio|aiohttp|uvloop|uvicorn|asyncpg|redis|asyncssh|tornado|starlette asyncio|ourloop [pytest args]" >&2
  exit 2
}
[ $# -ge 2 ] || usage
project=$1 mode=$2
shift 2
case "$mode" in asyncio|ourloop) ;; *) usage ;; esac

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
work=${LOOP_FOREIGN_DIR:-/tmp/loop-foreign}
loop_src=$(cd "${LOOP_SRC:-$repo/src}" && pwd) \
  || { echo "foreign_suites: LOOP_SRC=${LOOP_SRC:-} is no directory" >&2; exit 2; }
log() { echo "foreign_suites: $*" >&2; }
die() { log "$*"; exit 2; }

# -- the project ---------------------------------------------------------------
# Its version, where its tests come from (the archive and its SHA-256),
# and its own plugins and pytest options.
hosts6_default=0
needs_postgres=0
needs_redis=0
project_plugins=()
project_opts=()
tests_dir=tests
default_paths=(tests)
case "$project" in
  websockets)
    version=15.0.1
    origin=debian
    archive=python-websockets_$version.orig.tar.gz
    pool_path=pool/main/p/python-websockets
    sha256=8451495265af3e368f794c4dc15c99ce90c771d95560f542bff8c64b5455af3b
    # tests/sync tests the threading implementation: no event loop, so the
    # same on both by construction, and a few of its tests fail now and
    # then here on either (give `tests` to run it too).
    default_paths=(tests --ignore=tests/sync)
    ;;
  anyio)
    version=4.16.0
    origin=pypi
    archive=anyio-$version.tar.gz
    sha256=59bb03251907983d1603d27c3087ddb1e93299ea2163adcdba37899a4fb12ffb
    project_plugins=(-p anyio_params)
    hosts6_default=auto
    ;;
  aiohttp)
    version=3.14.5
    origin=pypi
    archive=aiohttp-$version.tar.gz
    sha256=5558a7f5a05af9ecf744af91e5baefc436f93c9333e656c27ec253f9a6bbe178
    # Its pytest.ini's addopts want xdist, pytest-cov and doctests: drop
    # them, keep its marker selection; no captured logs in the junit xml.
    project_opts=(-o addopts= -m "not dev_mode and not autobahn and not internal"
                  -o junit_logging=no)
    ;;
  uvloop)
    # Its tests, with a stand-in uvloop module (plugins/uvloop_shim.py);
    # the files left out test libuv's and uvloop's own APIs.
    version=0.23.0
    origin=pypi
    archive=uvloop-$version.tar.gz
    sha256=28d160f51ab4da3b187063652e643dea6831072add4adc1e6d62afbe73b6be27
    project_plugins=(-p uvloop_shim)
    default_paths=(tests --ignore=tests/test_libuv_api.py
                   --ignore=tests/test_cython.py
                   --ignore=tests/test_sourcecode.py
                   --ignore=tests/test_fs_event.py)
    ;;
  uvicorn)
    version=0.54.0
    origin=pypi
    archive=uvicorn-$version.tar.gz
    sha256=a2e33cbfaa0306f8e6b0c13e0cb89d7d7a2da3e62b90c66e18c33d9807b28620
    # Its addopts want xdist (-n 8); its warning filters ("error") stay.
    project_opts=(-o addopts=-rxXs)
    ;;
  asyncpg)
    # Its tests need a PostgreSQL server: a throwaway one, below.
    version=0.32.0
    origin=pypi
    archive=asyncpg-$version.tar.gz
    sha256=45e64e56714d888330b884aad1dfb363d0bf43fb343e3d1a8968525f3bade478
    needs_postgres=1
    # Its addopts, less --capture=no and --tb=native; test__sourcecode
    # runs its linters.
    project_opts=(-o "addopts=--assert=plain --strict-markers --import-mode=importlib")
    default_paths=(tests --ignore=tests/test__sourcecode.py)
    ;;
  redis)
    # redis-py's asyncio tests against a throwaway Redis server (below).
    # Left out, as redis-py's own standalone CI job leaves them out: what
    # needs a cluster, Redis modules (Redis Stack), a TLS server, replicas
    # or Entra ID; the fault-injection scenarios and multidb integration
    # need their docker setups.  Its addopts (-s) and live logs are off.
    version=8.1.0
    origin=pypi
    archive=redis-$version.tar.gz
    sha256=6e1a19beef9225c83efd689c7e6b7da2d5215b1f42cd13b7fc3714d0a09c7b25
    needs_redis=1
    project_opts=(-o addopts= -o log_cli=false
                  -m "not onlycluster and not redismod and not ssl and not replica and not cp_integration and not multidb_integration")
    default_paths=(tests/test_asyncio --ignore=tests/test_asyncio/test_scenario)
    ;;
  asyncssh)
    # Its unittest suite: SSH clients and servers over loopback TCP and
    # Unix sockets, port forwarding, SFTP/SCP, agents, subprocesses.
    version=2.24.1
    origin=pypi
    archive=asyncssh-$version.tar.gz
    sha256=efcd36e9b35f79873535b06444a7c9b0a3c61d97081b208c7fdd3fd8a40f1eca
    ;;
  tornado)
    # Its unittest suite (tornado/test/*_test.py), run by pytest from the
    # sdist's tree: tornado is imported from there (pure Python; its C
    # speedup is optional).  -p tornado_setup does what its own runner
    # (tornado.test.runtests) does that the tests rely on.
    version=6.6.1
    origin=pypi
    archive=tornado-$version.tar.gz
    sha256=28e6311402af59c8b02e3fa0f5e7d8eb465b25081381803b127d97e6a4395d5a
    project_plugins=(-p tornado_setup)
    project_opts=(-o "python_files=*_test.py")
    tests_dir=tornado/test
    default_paths=(tornado/test)
    ;;
  starlette)
    # Its suite: apps driven by its TestClient (which runs them on a loop
    # in a thread, through anyio's blocking portal) and by httpx; trio's
    # parameters are deselected (-p anyio_params), as for anyio.
    version=1.7.0
    origin=pypi
    archive=starlette-$version.tar.gz
    sha256=c79f74ea63cff761804fbbfb182f1e0b440c2d07b164d24700c5a1bab5d6ff5d
    project_plugins=(-p anyio_params)
    ;;
  *) usage ;;
esac
srcdir=$work/src/$project-$version

# -- the interpreter -----------------------------------------------------------
if [ -z "${PYTHON:-}" ]; then
  if [ -x "$repo/.venv/bin/python" ]; then
    PYTHON=$("$repo/.venv/bin/python" -c \
      'import sys; print(getattr(sys, "_base_executable", sys.executable))')
  else
    PYTHON=python3.11
  fi
fi
# The real executable, not a pyenv shim (the venv must not depend on one).
py=$("$PYTHON" -c 'import sys; print(sys.executable)') \
  || die "PYTHON=$PYTHON does not run"
pyver=$("$py" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
venv=$work/venv/$project-py$pyver

mkdir -p "$work/downloads" "$work/src" "$work/venv" "$work/results"

# -- the venv ------------------------------------------------------------------
reqs=$here/requirements/$project.txt
stamp=$(sha256sum "$reqs" | cut -d' ' -f1)
if [ ! -x "$venv/bin/python" ]; then
  log "creating $venv from $py"
  "$py" -m venv "$venv"
fi
if [ "$(cat "$venv/.foreign-reqs" 2>/dev/null)" != "$stamp" ]; then
  log "installing requirements/$project.txt into $venv"
  "$venv/bin/python" -m pip install --disable-pip-version-check -r "$reqs" \
    > "$venv/pip.log" 2>&1 \
    || { tail -n 20 "$venv/pip.log" >&2; die "pip install failed: $venv/pip.log"; }
  "$venv/bin/python" -m pip freeze --all > "$venv/freeze.txt"
  echo "$stamp" > "$venv/.foreign-reqs"
fi

# -- the test sources ----------------------------------------------------------
if [ ! -d "$srcdir/$tests_dir" ]; then
  file=$work/downloads/$archive
  if [ ! -f "$file" ] || ! echo "$sha256  $file" | sha256sum -c --quiet -; then
    rm -f "$file"
    if [ "$origin" = debian ]; then
      # Debian's pool keeps a file as long as a release refers to it.
      mirror=${DEBIAN_MIRROR:-$(apt-get indextargets --format '$(REPO_URI)' \
                                2>/dev/null | grep -m1 '/debian/$' || true)}
      [ -n "$mirror" ] || die "no Debian mirror configured: set DEBIAN_MIRROR"
      log "fetching $archive from Debian"
      /usr/lib/apt/apt-helper -o APT::Sandbox::User=root download-file \
        "${mirror%/}/$pool_path/$archive" "$file" "SHA256:$sha256"
    else
      log "fetching $archive (sdist) from PyPI"
      "$venv/bin/python" -m pip download --disable-pip-version-check \
        --no-deps --no-binary :all: -d "$work/downloads" "$project==$version" \
        > "$work/downloads/pip-$project.log" 2>&1 \
        || die "pip download failed: $work/downloads/pip-$project.log"
    fi
    echo "$sha256  $file" | sha256sum -c --quiet - \
      || die "$file: SHA-256 mismatch"
  fi
  # The archives' top directory is PROJECT-VERSION.  Unpacked aside and
  # moved in whole, so an interrupted run leaves no half tree behind.
  tmp=$work/src/.unpack.$$
  rm -rf "$srcdir" "$tmp"
  mkdir "$tmp"
  tar -xzf "$file" -C "$tmp"
  [ -d "$tmp/$project-$version/$tests_dir" ] \
    || die "$archive has no $project-$version/$tests_dir"
  mv "$tmp/$project-$version" "$srcdir"
  rm -rf "$tmp"
fi

# -- the loop under test ---------------------------------------------------------
pythonpath=$here/plugins
if [ "$mode" = ourloop ]; then
  pythonpath=$loop_src:$pythonpath
  PYTHONPATH=$loop_src "$venv/bin/python" -c 'import loop' \
    || die "cannot import loop from LOOP_SRC=$loop_src with Python $pyver" \
           "(is it built for $pyver?)"
fi

# -- /etc/hosts with ::1 localhost -----------------------------------------------
hosts6=${HOSTS6:-$hosts6_default}
if [ "$hosts6" = auto ]; then
  hosts6=0
  if ! "$py" -c 'import socket, sys
try:
    socket.getaddrinfo("localhost", None, socket.AF_INET6)
except OSError:
    sys.exit(1)' 2>/dev/null; then
    if unshare -m true 2>/dev/null; then
      hosts6=1
    else
      log "localhost has no IPv6 address and unshare -m fails:" \
          "ipv6 tests will fail on both loops"
    fi
  fi
fi
wrap=()
if [ "$hosts6" = 1 ]; then
  { cat /etc/hosts; echo "::1 localhost ip6-localhost ip6-loopback"; } \
    > "$work/hosts6"
  log "HOSTS6=1: /etc/hosts + '::1 localhost' in a private mount namespace"
  wrap=(unshare -m -- sh -c 'mount --bind "$0" /etc/hosts && exec "$@"'
        "$work/hosts6")
fi

# Throwaway servers started below, stopped when this script exits.
servers=()
stop_servers() {
  local pid
  for pid in "${servers[@]}"; do
    kill "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null || true
  done
}
trap stop_servers EXIT

# -- PostgreSQL (asyncpg) ---------------------------------------------------------
# A throwaway server (benchmarks/apps.py: initdb in a temporary directory as
# the `postgres` user, on a free port), stopped when this script exits.
# asyncpg's test harness uses a running server when PGHOST is set (its own
# would start one with initdb, which refuses to run as root); the tests that
# need a cluster they control skip then.
if [ "$needs_postgres" = 1 ]; then
  pg_out=$work/postgres.out
  "$py" "$repo/benchmarks/apps.py" postgres > "$pg_out" 2>&1 &
  servers+=($!)
  for _ in $(seq 120); do
    [ -s "$pg_out" ] && break
    sleep 0.5
  done
  dsn=$(head -n 1 "$pg_out")
  case "$dsn" in
    postgresql://*) ;;
    *) die "no PostgreSQL server: ${dsn:-none within 60 s}" ;;
  esac
  hostport=${dsn#postgresql://*@}
  hostport=${hostport%%/*}
  export PGHOST=${hostport%:*} PGPORT=${hostport##*:} PGUSER=postgres
  log "PostgreSQL for the tests: $dsn"
fi

# -- Redis (redis) ----------------------------------------------------------------
# On 6379 (REDIS_PORT overrides), where some of redis-py's tests expect it
# (they compare the port a client reports with 6379); no persistence; the
# DEBUG command on, which some tests use.
if [ "$needs_redis" = 1 ]; then
  redis_port=${REDIS_PORT:-6379}
  redis_dir=$(mktemp -d "$work/redis.XXXXXX")
  redis-server --port "$redis_port" --bind "127.0.0.1 -::1" --save "" \
    --appendonly no --dir "$redis_dir" --enable-debug-command yes \
    > "$redis_dir/server.log" 2>&1 &
  servers+=($!)
  for _ in $(seq 100); do
    [ "$(redis-cli -p "$redis_port" ping 2>/dev/null)" = PONG ] && break
    kill -0 "${servers[-1]}" 2>/dev/null \
      || die "redis-server did not start: $redis_dir/server.log"
    sleep 0.1
  done
  [ "$(redis-cli -p "$redis_port" ping 2>/dev/null)" = PONG ] \
    || die "redis-server does not answer on port $redis_port"
  project_opts+=(--redis-url="redis://localhost:$redis_port/0"
                 --redis-mod-url="redis://localhost:$redis_port/0")
  log "Redis for the tests: redis://localhost:$redis_port/0 ($redis_dir)"
fi

# -- pytest ----------------------------------------------------------------------
tag=${RUN_TAG:-}
paths=("${default_paths[@]}")
for a in "$@"; do
  case "$a" in
    "$tests_dir"|"$tests_dir"/*) paths=(); tag=${RUN_TAG:-subset} ;;
  esac
done
out=$work/results/$project-py$pyver-$mode${tag:+-$tag}

cd "$srcdir"
export FOREIGN_LOOP=$mode FOREIGN_LOOP_REPORT=$out.loops
export PYTHONPATH=$pythonpath
# bin/pytest, not python -m pytest: the latter would put the source tree
# first on sys.path, and aiohttp's would shadow the installed wheel.
cmd=("${wrap[@]}" "$venv/bin/pytest" -p foreign_loop "${project_plugins[@]}"
     -p no:cacheprovider "${project_opts[@]}" --timeout="${TIMEOUT:-60}"
     -o junit_family=xunit2 --junitxml="$out.xml" -q -rfE
     "${paths[@]}" "$@")
what="$project $version, $mode, Python $pyver"
if [ "$mode" = ourloop ]; then
  what+=", loop from $loop_src"
  rev=$(git -C "$loop_src" describe --always --dirty 2>/dev/null || true)
  [ -z "$rev" ] || what+=" (git $rev)"
fi
log "$what: results in $out.{xml,log,loops}"
echo "foreign_suites: $what" > "$out.log"
set +e
"${cmd[@]}" 2>&1 | tee -a "$out.log"
rc=${PIPESTATUS[0]}
set -e
log "pytest exited with $rc; results in $out.{xml,log,loops}"
exit "$rc"
