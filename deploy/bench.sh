#!/usr/bin/env bash
# Measures the stack at county or province scale and writes target/bench/report.json.
#
#   deploy/bench.sh [--scale county|province|national] [--seconds N] [--max-minutes M] [scenario ...]
#
# Scenarios (default: all): fanout write read dashboard export memory reminders deliveries.
# It builds in release, starts a fresh PostgreSQL cluster from the machine's binaries (fsync on, as
# in production), runs `reminders` and `deliveries` (in-process benches) against it, then starts the
# five services as separate processes and drives them over loopback HTTP from a separate load
# generator (zhenggai-loadgen), which runs each baseline in the same go (pgbench with the ledger's
# own statements, a COPY of the same rows) and samples each service's resident memory. It prints a
# table and writes target/bench/report.json. The whole run is bounded by --max-minutes (default 45)
# and everything it started is stopped and removed at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
. deploy/lib/postgres.sh

scale=county
seconds=15
max_minutes=45
scenarios=()
while [ $# -gt 0 ]; do
  case "$1" in
    --scale) scale="$2"; shift 2 ;;
    --seconds) seconds="$2"; shift 2 ;;
    --max-minutes) max_minutes="$2"; shift 2 ;;
    -h|--help) sed -n '2,14p' "$0"; exit 0 ;;
    *) scenarios+=("$1"); shift ;;
  esac
done
case "$scale" in
  county) admin_unit=411081 ;;
  province) admin_unit=41 ;;
  national) admin_unit=00 ;;
  *) echo "bench: --scale county, province or national" >&2; exit 2 ;;
esac
wants() { [ ${#scenarios[@]} -eq 0 ] || [[ " ${scenarios[*]} " == *" $1 "* ]]; }

if [ -z "${ZG_BENCH_BOUNDED:-}" ]; then
  export ZG_BENCH_BOUNDED=1
  exec timeout --signal=TERM --kill-after=30 "$((max_minutes * 60))" "$0" --scale "$scale" --seconds "$seconds" "${scenarios[@]}"
fi

cargo build --release --locked --bins
bin=target/release
out=target/bench
mkdir -p "$out"
rm -f "$out/report.json"

pg_dir="$(mktemp -d -t zhenggai-bench-pg.XXXXXX)"
run_dir="$(mktemp -d -t zhenggai-bench.XXXXXX)"
pids=()
cleanup() {
  trap - EXIT INT TERM
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  zg_pg_stop
  rm -rf "$pg_dir" "$run_dir"
}
trap cleanup EXIT INT TERM

port="$(zg_free_port 55434)"
zg_pg_start "$pg_dir" "$port" "-c shared_buffers=256MB -c max_wal_size=4GB"
echo "bench: fresh PostgreSQL on 127.0.0.1:$port" >&2
pgbench="$ZG_PG_BIN/pgbench"
[ -x "$pgbench" ] || pgbench="$(command -v pgbench || ls -d /usr/lib/postgresql/*/bin/pgbench 2>/dev/null | sort -V | tail -n 1)"
[ -x "$pgbench" ] || { echo "bench: no pgbench (Debian: apt-get install postgresql-contrib or postgresql)" >&2; exit 1; }

merge=()
for bench in reminders deliveries; do
  if wants "$bench"; then
    cargo bench --locked -p zhenggai-system-tests --bench "$bench" | tee "$run_dir/$bench.txt"
    merge+=(--merge "$out/$bench.json")
  fi
done

export ZG_JWT_PRIVATE_KEY_FILE="$run_dir/keys/jwt-private.pem"
export ZG_JWT_PUBLIC_KEY_FILE="$run_dir/keys/jwt-public.pem"
export ZG_SERVICE_PRIVATE_KEY_FILE="$run_dir/keys/service-private.pem"
export ZG_SERVICE_PUBLIC_KEY_FILE="$run_dir/keys/service-public.pem"
"$bin/zhenggai-gateway" --generate-keys >/dev/null
export ZG_BOOTSTRAP_ADMIN_PASSWORD="Bench-admin-$RANDOM-pass"
export ZG_BOOTSTRAP_ADMIN_UNIT="$admin_unit"
export RUST_LOG="${RUST_LOG:-warn}"
# A campaign over the nation writes ten million sections in one request.
export ZG_REQUEST_TIMEOUT_SECS=900
declare -A ports
for service in catalogue ledger scheduler notifier gateway; do ports[$service]="$(zg_free_port 0)"; done
export ZG_CATALOGUE_ADDR="127.0.0.1:${ports[catalogue]}" ZG_LEDGER_ADDR="127.0.0.1:${ports[ledger]}"
export ZG_SCHEDULER_ADDR="127.0.0.1:${ports[scheduler]}" ZG_NOTIFIER_ADDR="127.0.0.1:${ports[notifier]}"
export ZG_CATALOGUE_URL="http://$ZG_CATALOGUE_ADDR" ZG_LEDGER_URL="http://$ZG_LEDGER_ADDR"
export ZG_SCHEDULER_URL="http://$ZG_SCHEDULER_ADDR" ZG_NOTIFIER_URL="http://$ZG_NOTIFIER_ADDR"
export ZG_HTTP_ADDR="127.0.0.1:${ports[gateway]}"
pid_list=""
for service in catalogue ledger scheduler notifier gateway; do
  "$bin/zhenggai-$service" >"$run_dir/$service.log" 2>&1 &
  pids+=("$!")
  pid_list="$pid_list${pid_list:+,}$service=$!"
done
for _ in $(seq 1 240); do
  if python3 -c "import urllib.request,sys; urllib.request.urlopen('http://$ZG_HTTP_ADDR/readyz', timeout=1)" 2>/dev/null; then
    ready=1; break
  fi
  sleep 0.5
done
if [ "${ready:-0}" != 1 ]; then
  echo "bench: the stack did not become ready; its logs:" >&2
  tail -n 20 "$run_dir"/*.log >&2
  exit 1
fi
sleep 2 # let every service settle before its idle memory is read

stack_scenarios=()
for s in fanout write read dashboard export memory; do wants "$s" && stack_scenarios+=("$s"); done
if [ ${#stack_scenarios[@]} -eq 0 ]; then stack_scenarios=(memory); fi
"$bin/zhenggai-loadgen" --gateway "http://$ZG_HTTP_ADDR" --scale "$scale" --seconds "$seconds" \
  --pids "$pid_list" --pgbench "$pgbench" --out "$out/report.json" "${merge[@]}" "${stack_scenarios[@]}" \
  || { echo "bench: the load generator failed; the services' last words:" >&2; tail -n 20 "$run_dir"/*.log >&2; exit 1; }
