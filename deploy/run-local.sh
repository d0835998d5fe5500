#!/usr/bin/env bash
# The whole stack without Docker, in the foreground: PostgreSQL (unless
# DATABASE_URL is set), the four gRPC services and the gateway.
#
#   DATABASE_URL                 use this server (each service creates its own database there)
#   ZG_DATA_DIR                  where the private cluster and the token keys live (default ./.zhenggai)
#   ZG_HTTP_PORT                 the gateway's port (default 8080)
#   ZG_BOOTSTRAP_ADMIN_PASSWORD  the password of the first account, admin (else one is generated and printed once)
#   ZG_PROFILE                   release (default) or debug build
#
# Ctrl-C or SIGTERM stops everything it started.
set -euo pipefail
cd "$(dirname "$0")/.."
. deploy/lib/postgres.sh

data_dir="$(mkdir -p "${ZG_DATA_DIR:-.zhenggai}" && cd "${ZG_DATA_DIR:-.zhenggai}" && pwd)"
profile="${ZG_PROFILE:-release}"
http_port="${ZG_HTTP_PORT:-8080}"

if [ "$profile" = "release" ]; then
  cargo build --release --locked --bins
else
  cargo build --locked --bins
fi
bin="target/$profile"

pids=()
stop_all() {
  trap - INT TERM EXIT
  stopping=1
  echo "run-local: stopping" >&2
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  zg_pg_stop
}
trap stop_all INT TERM EXIT

if [ -z "${DATABASE_URL:-}" ]; then
  zg_pg_start "$data_dir/postgres" "${ZG_PG_PORT:-55432}"
  echo "run-local: PostgreSQL on 127.0.0.1:${ZG_PG_PORT:-55432}, data in $data_dir/postgres" >&2
fi

export ZG_JWT_PRIVATE_KEY_FILE="${ZG_JWT_PRIVATE_KEY_FILE:-$data_dir/keys/jwt-private.pem}"
export ZG_JWT_PUBLIC_KEY_FILE="${ZG_JWT_PUBLIC_KEY_FILE:-$data_dir/keys/jwt-public.pem}"
export ZG_SERVICE_PRIVATE_KEY_FILE="${ZG_SERVICE_PRIVATE_KEY_FILE:-$data_dir/keys/service-private.pem}"
export ZG_SERVICE_PUBLIC_KEY_FILE="${ZG_SERVICE_PUBLIC_KEY_FILE:-$data_dir/keys/service-public.pem}"
"$bin/zhenggai-gateway" --generate-keys >/dev/null

export ZG_CATALOGUE_ADDR="${ZG_CATALOGUE_ADDR:-127.0.0.1:50051}"
export ZG_LEDGER_ADDR="${ZG_LEDGER_ADDR:-127.0.0.1:50052}"
export ZG_SCHEDULER_ADDR="${ZG_SCHEDULER_ADDR:-127.0.0.1:50053}"
export ZG_NOTIFIER_ADDR="${ZG_NOTIFIER_ADDR:-127.0.0.1:50054}"
export ZG_CATALOGUE_URL="${ZG_CATALOGUE_URL:-http://$ZG_CATALOGUE_ADDR}"
export ZG_LEDGER_URL="${ZG_LEDGER_URL:-http://$ZG_LEDGER_ADDR}"
export ZG_SCHEDULER_URL="${ZG_SCHEDULER_URL:-http://$ZG_SCHEDULER_ADDR}"
export ZG_NOTIFIER_URL="${ZG_NOTIFIER_URL:-http://$ZG_NOTIFIER_ADDR}"
export ZG_HTTP_ADDR="${ZG_HTTP_ADDR:-0.0.0.0:$http_port}"

for service in catalogue ledger scheduler notifier gateway; do
  "$bin/zhenggai-$service" &
  pids+=("$!")
done

ready=0
for _ in $(seq 1 120); do
  if python3 - "$http_port" <<'PY' 2>/dev/null; then ready=1; break; fi
import sys, urllib.request
urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/readyz", timeout=1)
PY
  sleep 0.5
done
if [ "$ready" != 1 ]; then
  echo "run-local: the gateway did not become ready within 60 s; see the logs above" >&2
  exit 1
fi
echo "run-local: zhenggai is up: http://localhost:$http_port (API /api/v1, docs /docs); Ctrl-C stops it" >&2
stopping=0
wait -n "${pids[@]}" || true
[ "$stopping" = 1 ] || echo "run-local: a service exited; stopping the rest" >&2
