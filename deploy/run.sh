#!/usr/bin/env bash
# Runs the built services as local processes against the local infrastructure (deploy/infra.sh), configured from
# deploy/local.env. `start` returns once every service answers /readyz; `stop` stops them by pid file.
#
#   deploy/run.sh start | stop | status
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
DATA=${FISHBRIDGE_DATA:-$ROOT/.data}
PIDS=$DATA/pids
LOGS=$DATA/logs
PYTHON=${PYTHON:-$ROOT/.venv/bin/python}
mkdir -p "$PIDS" "$LOGS"

# Services in start order; each is `python -m services.<name>`. Only those built so far are listed.
SERVICES=(sandbox listing payment wallet refund channel_gateway)

say() { printf '[run] %s\n' "$*"; }

running() {
  local pidfile=$PIDS/svc-$1.pid pid
  [ -f "$pidfile" ] || return 1
  pid=$(cat "$pidfile")
  [ -r "/proc/$pid/cmdline" ] && tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q -- "services.$1"
}

start_one() {
  local name=$1 upper port db
  upper=$(echo "$name" | tr '[:lower:]' '[:upper:]')
  port_var=${upper}_PORT
  db_var=${upper}_DB
  port=${!port_var}
  db=${!db_var:-$name}
  if running "$name"; then say "$name: already running on :$port"; return; fi
  say "$name: starting on 127.0.0.1:$port (log $LOGS/$name.log)"
  # A simple command in the background, so $! is the service process itself (nohup execs python).
  SERVICE_NAME=$name HTTP_PORT=$port MONGO_DB=$db nohup "$PYTHON" -m "services.$name" \
    >>"$LOGS/$name.log" 2>&1 </dev/null &
  echo $! >"$PIDS/svc-$name.pid"
  local deadline=$((SECONDS + 30))
  until "$PYTHON" -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:$port/readyz', timeout=1)" 2>/dev/null; do
    if ((SECONDS > deadline)) || ! running "$name"; then
      say "$name: not ready; last log lines:"; tail -20 "$LOGS/$name.log"; exit 1
    fi
    sleep 0.2
  done
  say "$name: ready"
}

stop_one() {
  local name=$1 pid
  if running "$name"; then
    pid=$(cat "$PIDS/svc-$name.pid")
    say "$name: stopping pid $pid"
    kill "$pid"
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
  fi
  rm -f "$PIDS/svc-$name.pid"
}

set -a
# shellcheck source=/dev/null
source "$ROOT/deploy/local.env"
set +a

case "${1:-}" in
  start)
    for s in "${SERVICES[@]}"; do start_one "$s"; done
    say "sandbox  http://127.0.0.1:$SANDBOX_PORT   (WeChat Pay v3, jscode2session, Alipay gateway.do, buyer actions)"
    say "listing  http://127.0.0.1:$LISTING_PORT/internal/v1   (internal token from deploy/local.env)"
    say "jaeger   http://127.0.0.1:16686/api/v3/services"
    say "payment  http://127.0.0.1:$PAYMENT_PORT/internal/v1   (providers notify /notify/wechatpay, /notify/alipay)"
    say "wallet   http://127.0.0.1:$WALLET_PORT/internal/v1   (books, settlement, withdrawals; WeChat notifies /notify/wechatpay)"
    say "refund   http://127.0.0.1:$REFUND_PORT/internal/v1   (after-sale cases, returns, arbitration, timers)"
    say "gateway  http://127.0.0.1:$CHANNEL_GATEWAY_PORT   (the public API: /app/v1, /mp/v1, /admin/v1; /openapi.json)"
    ;;
  stop) for ((i = ${#SERVICES[@]} - 1; i >= 0; i--)); do stop_one "${SERVICES[$i]}"; done ;;
  status) for s in "${SERVICES[@]}"; do if running "$s"; then say "$s: running"; else say "$s: down"; fi; done ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
