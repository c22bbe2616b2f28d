#!/usr/bin/env bash
# make integration: real libraries against real servers, on our loop and on
# asyncio (issue 10; tests/integration/).
#
# Installs what is missing (Debian's postgresql and redis-server, the pinned
# packages of requirements-integration.txt into the venv), starts a
# throwaway PostgreSQL and a throwaway Redis on loopback (free ports, data
# in a temporary directory, nothing persisted), runs
# `pytest -q tests/integration` with their addresses in
#
#   LOOP_TEST_PG_DSN        postgresql://postgres@127.0.0.1:PORT/postgres
#   LOOP_TEST_PG_SOCKET_DIR the directory of PostgreSQL's Unix socket
#   LOOP_TEST_PG_CA         the CA of its TLS certificate (PEM)
#   LOOP_TEST_REDIS_URL     redis://127.0.0.1:PORT/0
#   LOOP_TEST_REDIS_SOCKET  Redis's Unix socket
#
# and stops and removes both servers on exit, whatever the outcome.
#
# Environment: PY (the venv's python, default .venv/bin/python).  Arguments,
# when given, replace `tests/integration` on pytest's command line (e.g.
# tests/integration/test_asyncpg.py -x).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}

log() { echo "integration.sh: $*" >&2; }

pg_bindir() {   # the newest installed PostgreSQL's bin directory
  ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1
}

# -- what is missing ---------------------------------------------------------

missing=()
[ -n "$(pg_bindir)" ] && [ -x "$(pg_bindir)/initdb" ] || missing+=(postgresql)
command -v redis-server >/dev/null || missing+=(redis-server)
if [ ${#missing[@]} -gt 0 ]; then
  log "installing ${missing[*]}"
  apt-get update -qq
  # Whether apt also starts the packages' own services depends on the
  # machine's init; the tests never use them (they get servers of their own
  # on free ports below).
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi
"$PY" -m pip install --disable-pip-version-check -q -r requirements-integration.txt

# -- throwaway servers -------------------------------------------------------

free_port() {
  "$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

tmp=$(mktemp -d /tmp/loop-integration.XXXXXX)
pg_started=
redis_pid=
cleanup() {
  local rc=$?
  if [ -n "$pg_started" ]; then
    runuser -u postgres -- "$(pg_bindir)/pg_ctl" -D "$tmp/pg" -m immediate -w stop >/dev/null 2>&1 || true
  fi
  if [ -n "$redis_pid" ]; then
    kill "$redis_pid" 2>/dev/null || true
    wait "$redis_pid" 2>/dev/null || true
  fi
  rm -rf "$tmp"
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# PostgreSQL refuses to run as root: the cluster belongs to `postgres`.
# fsync and friends are off: nothing here has to survive a crash.
# It also takes TLS (ssl=on), with a certificate for 127.0.0.1 from a
# throwaway CA (trustme, of the test requirements): clients may ask for it.
chown postgres: "$tmp"
"$PY" - "$tmp" <<'PYEOF'
import os, sys, trustme
ca = trustme.CA()
cert = ca.issue_cert('127.0.0.1', 'localhost')
ca.cert_pem.write_to_path(os.path.join(sys.argv[1], 'ca.pem'))
cert.cert_chain_pems[0].write_to_path(os.path.join(sys.argv[1], 'server.crt'))
cert.private_key_pem.write_to_path(os.path.join(sys.argv[1], 'server.key'))
PYEOF
chown postgres: "$tmp/server.crt" "$tmp/server.key"
chmod 600 "$tmp/server.key"
pg_port=$(free_port)
runuser -u postgres -- "$(pg_bindir)/initdb" -D "$tmp/pg" -U postgres \
  --auth=trust --encoding=UTF8 --locale=C --no-sync >/dev/null
runuser -u postgres -- "$(pg_bindir)/pg_ctl" -D "$tmp/pg" -l "$tmp/pg.log" -w -t 60 \
  -o "-c listen_addresses=127.0.0.1 -p $pg_port -k $tmp -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c ssl=on -c ssl_cert_file=$tmp/server.crt -c ssl_key_file=$tmp/server.key" \
  start >/dev/null || { cat "$tmp/pg.log" >&2; exit 1; }
pg_started=1
log "PostgreSQL $("$(pg_bindir)/postgres" --version | awk '{print $3}') on 127.0.0.1:$pg_port"

redis_port=$(free_port)
redis-server --bind 127.0.0.1 --port "$redis_port" --save '' --appendonly no \
  --unixsocket "$tmp/redis.sock" --dir "$tmp" --logfile "$tmp/redis.log" &
redis_pid=$!
for _ in $(seq 100); do   # up to 10 s for it to accept connections
  if "$PY" -c "import socket, sys; socket.create_connection(('127.0.0.1', $redis_port), 1).close()" 2>/dev/null; then
    break
  fi
  kill -0 "$redis_pid" 2>/dev/null || { cat "$tmp/redis.log" >&2; exit 1; }
  sleep 0.1
done
log "$(redis-server --version | awk '{print $1, $2, $3}') on 127.0.0.1:$redis_port"

export LOOP_TEST_PG_DSN="postgresql://postgres@127.0.0.1:$pg_port/postgres"
export LOOP_TEST_PG_SOCKET_DIR="$tmp"
export LOOP_TEST_PG_CA="$tmp/ca.pem"
export LOOP_TEST_REDIS_URL="redis://127.0.0.1:$redis_port/0"
export LOOP_TEST_REDIS_SOCKET="$tmp/redis.sock"

# -- the tests ---------------------------------------------------------------

[ $# -gt 0 ] || set -- tests/integration
# The tests take their loops from tests/conftest.py: the async-test plugins
# installed above are for the sample projects only, which
# test_pytest_plugins.py runs in pytest subprocesses of their own.
PYTHONPATH=src "$PY" -m pytest -q -p no:aiohttp -p no:asyncio -p no:anyio "$@"
