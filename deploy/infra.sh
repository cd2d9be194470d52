#!/usr/bin/env bash
# Local infrastructure without Docker: RabbitMQ and PostgreSQL (Debian packages), FerretDB v1.24.2 (on that PostgreSQL)
# and Jaeger v1.76.0, both built from the Go module proxy through the tool modules deploy/tools/{ferretdb,jaeger}. Idempotent: re-running starts only what is not running,
# and `stop` stops only what this script started (by pid file, never by process name).
#
#   deploy/infra.sh start | stop | status | build | clean
#
# Environment: FISHBRIDGE_DATA (default <repo>/.data), FISHBRIDGE_CACHE (default ~/.cache/fishbridge),
# FERRETDB_ADDR (127.0.0.1:27017), FISHBRIDGE_PG_PORT (54329), PYTHON (the venv's python, for the Mongo readiness ping).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
DATA=${FISHBRIDGE_DATA:-$ROOT/.data}
CACHE=${FISHBRIDGE_CACHE:-$HOME/.cache/fishbridge}
PIDS=$DATA/pids
LOGS=$DATA/logs
FERRETDB_ADDR=${FERRETDB_ADDR:-127.0.0.1:27017}
PG_PORT=${FISHBRIDGE_PG_PORT:-54329}
PG_DATA=$DATA/postgres
PG_RUN=$DATA/postgres-run
PG_LOG=$LOGS/postgres.log
PG_URL="postgres://postgres@127.0.0.1:$PG_PORT/ferretdb"
PYTHON=${PYTHON:-$ROOT/.venv/bin/python}
export PATH=$PATH:/usr/local/go/bin:/usr/sbin
mkdir -p "$PIDS" "$LOGS"

say() { printf '[infra] %s\n' "$*"; }
die() { printf '[infra] ERROR: %s\n' "$*" >&2; exit 1; }

# The binary's name carries a hash of the tool module, so changing a pinned version rebuilds it.
tool_bin() {
  local name=$1 dir=$ROOT/deploy/tools/$1
  local hash
  hash=$(cat "$dir"/go.mod "$dir"/go.sum "$dir"/*.go 2>/dev/null | sha256sum | cut -c1-12)
  echo "$CACHE/bin/$name-$hash"
}

build_tool() {
  local name=$1 pkg=$2 bin
  bin=$(tool_bin "$name")
  if [ -x "$bin" ]; then say "$name: binary cached at $bin"; return; fi
  command -v go >/dev/null || die "Go is needed to build $name (see ARCHITECTURE.md, Infrastructure)"
  say "$name: building $pkg with $(go version | cut -d' ' -f3) (first time only, takes minutes)"
  mkdir -p "$CACHE/bin"
  (cd "$ROOT/deploy/tools/$name" && GOFLAGS=-mod=mod go build -trimpath -o "$bin.tmp" "$pkg")
  mv "$bin.tmp" "$bin"
  say "$name: built $bin"
}

build() {
  build_tool ferretdb .
  build_tool jaeger github.com/jaegertracing/jaeger/cmd/jaeger
}

# A pid file counts only if that pid still runs the expected program (pids get reused).
running() {
  local pidfile=$PIDS/$1.pid pattern=$2 pid
  [ -f "$pidfile" ] || return 1
  pid=$(cat "$pidfile")
  [ -n "$pid" ] && [ -r "/proc/$pid/cmdline" ] && tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q -- "$pattern"
}

wait_for() {
  local what=$1 seconds=$2; shift 2
  local deadline=$((SECONDS + seconds))
  while ((SECONDS < deadline)); do
    if "$@" >/dev/null 2>&1; then say "$what: ready"; return 0; fi
    sleep 0.2
  done
  die "$what: not ready after ${seconds}s (logs in $LOGS)"
}

rabbit_up() { rabbitmqctl -q await_startup --timeout 1 >/dev/null 2>&1; }

start_rabbitmq() {
  if ! command -v rabbitmq-server >/dev/null; then
    say "rabbitmq: installing Debian's rabbitmq-server"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq rabbitmq-server >/dev/null
  fi
  if rabbit_up; then
    say "rabbitmq: already running"
    return
  fi
  say "rabbitmq: starting (rabbitmq-server -detached)"
  rabbitmq-server -detached >>"$LOGS/rabbitmq-start.log" 2>&1 </dev/null
  # await_startup fails at once while the Erlang node itself is still booting, so ask again until a deadline.
  local i
  for ((i = 0; i < 120; i++)); do
    if timeout 60 rabbitmqctl -q await_startup >/dev/null 2>&1; then break; fi
    sleep 0.5
  done
  rabbit_up || die "rabbitmq: did not start (see /var/log/rabbitmq/)"
  rabbitmqctl eval 'os:getpid().' | tr -d '"' >"$PIDS/rabbitmq.pid"
  say "rabbitmq: ready (pid $(cat "$PIDS/rabbitmq.pid"))"
}

stop_rabbitmq() {
  if [ -f "$PIDS/rabbitmq.pid" ]; then
    say "rabbitmq: stopping pid $(cat "$PIDS/rabbitmq.pid")"
    rabbitmqctl -q stop "$PIDS/rabbitmq.pid" >/dev/null 2>&1 || true
    rm -f "$PIDS/rabbitmq.pid"
  else
    say "rabbitmq: not started by this script; left alone"
  fi
}

# PostgreSQL: a cluster of our own under $DATA, on a port and socket directory of ours, so the Debian package's default
# cluster (if any) is never touched. PostgreSQL refuses to run as root, so as root the cluster belongs to `postgres`.
pg_bin() {
  local dir
  dir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
  [ -n "$dir" ] && [ -x "$dir/initdb" ] && echo "$dir"
}

as_pg() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

# Over TCP, so that a cluster another checkout started on the port (with its socket elsewhere) is reached the same way.
# The cluster lives under $DATA, unless the `postgres` user cannot reach it (a checkout under a directory closed to
# others, such as /root): then in a directory of its own under /var/tmp, named after $DATA, with its log linked
# from $LOGS/postgres.log so that it is found where the others are.
PG_ELSEWHERE=
pg_locate() {
  if [ "$(id -u)" = 0 ] && id postgres >/dev/null 2>&1 && ! runuser -u postgres -- test -x "$DATA"; then
    PG_ELSEWHERE=/var/tmp/fishbridge-postgres-$(printf '%s' "$DATA" | sha256sum | cut -c1-12)
    PG_DATA=$PG_ELSEWHERE/data
    PG_RUN=$PG_ELSEWHERE/run
    PG_LOG=$PG_ELSEWHERE/postgres.log
  fi
}
pg_locate

pg_place() {
  pg_locate  # again: the postgres user may have come with the package just installed
  [ -n "$PG_ELSEWHERE" ] || return 0
  mkdir -p "$PG_ELSEWHERE"
  chown postgres:postgres "$PG_ELSEWHERE"
  touch "$PG_LOG"
  ln -sfn "$PG_LOG" "$LOGS/postgres.log"
  say "postgres: $DATA is closed to the postgres user; the cluster lives in $PG_ELSEWHERE"
}

pg_up() { as_pg "$(pg_bin)/pg_isready" -q -h 127.0.0.1 -p "$PG_PORT"; }

psql_pg() { as_pg "$(pg_bin)/psql" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PG_PORT" -U postgres "$@"; }

pg_ours_running() { [ -s "$PG_DATA/PG_VERSION" ] && as_pg "$1/pg_ctl" -D "$PG_DATA" status >/dev/null 2>&1; }

start_postgres() {
  if ! pg_bin >/dev/null; then
    say "postgres: installing Debian's postgresql"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
  fi
  local bin
  bin=$(pg_bin) || die "postgres: no initdb under /usr/lib/postgresql"
  pg_place
  mkdir -p "$PG_RUN"
  touch "$PG_LOG"
  if [ "$(id -u)" = 0 ]; then chown postgres:postgres "$PG_RUN" "$PG_LOG"; fi
  if ! pg_ours_running "$bin" && pg_up; then
    # Another checkout's cluster on the port: use it (set up below like ours), and leave it alone on stop.
    say "postgres: 127.0.0.1:$PG_PORT already answers (not started here); using it"
    setup_ferretdb_database
    return
  fi
  if [ ! -s "$PG_DATA/PG_VERSION" ]; then
    say "postgres: creating the cluster in $PG_DATA ($("$bin/postgres" --version))"
    mkdir -p "$PG_DATA"
    if [ "$(id -u)" = 0 ]; then chown postgres:postgres "$PG_DATA"; fi
    chmod 700 "$PG_DATA"
    # FerretDB needs UTF8 with the C, POSIX or en_US.UTF8 locale. Local connections only, trusted.
    as_pg "$bin/initdb" -D "$PG_DATA" -U postgres -E UTF8 --locale=C --auth=trust --no-sync >>"$PG_LOG"
    echo "include_if_exists = 'fishbridge.conf'" | as_pg tee -a "$PG_DATA/postgresql.conf" >/dev/null
  fi
  # Our settings, copied on every start so that a change to deploy/postgres/postgresql.conf reaches the cluster.
  as_pg tee "$PG_DATA/fishbridge.conf" <"$ROOT/deploy/postgres/postgresql.conf" >/dev/null
  if pg_ours_running "$bin"; then
    say "postgres: already running (port $PG_PORT)"
    as_pg "$bin/pg_ctl" -D "$PG_DATA" reload >/dev/null
  else
    say "postgres: starting on 127.0.0.1:$PG_PORT"
    as_pg "$bin/pg_ctl" -D "$PG_DATA" -l "$PG_LOG" -w -t 60 \
      -o "-p $PG_PORT -k $PG_RUN -c listen_addresses=127.0.0.1" start >/dev/null ||
      die "postgres: did not start (see $PG_LOG)"
    head -1 "$PG_DATA/postmaster.pid" >"$PIDS/postgres.pid"
  fi
  wait_for postgres 60 pg_up
  setup_ferretdb_database
}

setup_ferretdb_database() {
  if [ -z "$(psql_pg -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname = 'ferretdb'")" ]; then
    psql_pg -d postgres -c "CREATE DATABASE ferretdb"
  fi
  # Idempotent: the GIN event trigger and plan_cache_mode (deploy/postgres/ferretdb.sql says why).
  psql_pg -d ferretdb <"$ROOT/deploy/postgres/ferretdb.sql"
}

stop_postgres() {
  local bin
  if [ -f "$PIDS/postgres.pid" ] && bin=$(pg_bin) && pg_ours_running "$bin"; then
    say "postgres: stopping pid $(cat "$PIDS/postgres.pid")"
    as_pg "$bin/pg_ctl" -D "$PG_DATA" -m fast -w -t 60 stop >/dev/null || true
  else
    say "postgres: not started by this script; left alone"
  fi
  rm -f "$PIDS/postgres.pid"
}

mongo_ping() {
  "$PYTHON" -c "import sys, pymongo; pymongo.MongoClient('mongodb://$FERRETDB_ADDR/', serverSelectionTimeoutMS=500).admin.command('ping')"
}

start_ferretdb() {
  local bin
  bin=$(tool_bin ferretdb)
  if running ferretdb "$bin"; then say "ferretdb: already running (pid $(cat "$PIDS/ferretdb.pid"))"; return; fi
  # Another checkout's FerretDB (or a MongoDB) on the port: use it, and leave it alone on stop.
  if mongo_ping 2>/dev/null; then say "ferretdb: $FERRETDB_ADDR already answers (not started here); using it"; return; fi
  [ -x "$bin" ] || build_tool ferretdb .
  say "ferretdb: starting on $FERRETDB_ADDR (PostgreSQL database ferretdb on port $PG_PORT)"
  # Our launcher (deploy/tools/ferretdb/main.go) embeds FerretDB: no state file, no debug listener, no telemetry.
  nohup "$bin" --postgresql-url="$PG_URL" --listen-addr="$FERRETDB_ADDR" --log-level=warn \
    >>"$LOGS/ferretdb.log" 2>&1 </dev/null &
  echo $! >"$PIDS/ferretdb.pid"
  wait_for ferretdb 60 mongo_ping
}

jaeger_ready() { "$PYTHON" -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:13133/status', timeout=1)"; }

start_jaeger() {
  local bin
  bin=$(tool_bin jaeger)
  if running jaeger "$bin"; then say "jaeger: already running (pid $(cat "$PIDS/jaeger.pid"))"; return; fi
  if jaeger_ready 2>/dev/null; then say "jaeger: :13133 already answers (not started here); using it"; return; fi
  [ -x "$bin" ] || build_tool jaeger github.com/jaegertracing/jaeger/cmd/jaeger
  say "jaeger: starting (embedded all-in-one config: memory store, OTLP 4317/4318, API 16686)"
  nohup "$bin" >>"$LOGS/jaeger.log" 2>&1 </dev/null &
  echo $! >"$PIDS/jaeger.pid"
  wait_for jaeger 60 jaeger_ready
}

stop_pid() {
  local name=$1 pattern=$2 pid i
  if running "$name" "$pattern"; then
    pid=$(cat "$PIDS/$name.pid")
    say "$name: stopping pid $pid"
    kill "$pid" 2>/dev/null || true
    for ((i = 0; i < 50; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    kill -9 "$pid" 2>/dev/null || true
  else
    say "$name: not running from this script's pid file"
  fi
  rm -f "$PIDS/$name.pid"
}

status() {
  if rabbit_up; then say "rabbitmq: running"; else say "rabbitmq: down"; fi
  if pg_bin >/dev/null && pg_up; then say "postgres: running (port $PG_PORT)"; else say "postgres: down"; fi
  if running ferretdb "$(tool_bin ferretdb)"; then say "ferretdb: running (pid $(cat "$PIDS/ferretdb.pid"))"; else say "ferretdb: down"; fi
  if running jaeger "$(tool_bin jaeger)"; then say "jaeger: running (pid $(cat "$PIDS/jaeger.pid"))"; else say "jaeger: down"; fi
}

case "${1:-}" in
  build) build ;;
  start) build; start_rabbitmq; start_postgres; start_ferretdb; start_jaeger ;;
  stop) stop_pid jaeger "$(tool_bin jaeger)"; stop_pid ferretdb "$(tool_bin ferretdb)"; stop_postgres; stop_rabbitmq ;;
  status) status ;;
  clean) rm -rf "$DATA" ${PG_ELSEWHERE:+"$PG_ELSEWHERE"} ;;  # after stop: every data directory this script made
  *) echo "usage: $0 start|stop|status|build|clean" >&2; exit 2 ;;
esac
