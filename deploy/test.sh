#!/usr/bin/env bash
# Runs every test of the workspace against a real PostgreSQL.
#
# With DATABASE_URL set, the tests use that server (each test makes its own
# databases there). Without it, this script starts a throwaway PostgreSQL
# cluster from the machine's binaries (initdb, pg_ctl) in a temporary folder
# and removes it afterwards. Extra arguments go to `cargo test`.
set -euo pipefail
cd "$(dirname "$0")/.."

cleanup() { :; }
trap 'cleanup' EXIT

if [ -z "${DATABASE_URL:-}" ]; then
  pg_bin=""
  if command -v initdb >/dev/null 2>&1 && command -v pg_ctl >/dev/null 2>&1; then
    pg_bin="$(dirname "$(command -v initdb)")"
  else
    pg_bin="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)"
  fi
  if [ -z "$pg_bin" ] || [ ! -x "$pg_bin/initdb" ]; then
    echo "deploy/test.sh: no PostgreSQL binaries (initdb, pg_ctl); install them (apt-get install postgresql) or set DATABASE_URL" >&2
    exit 1
  fi
  data_dir="$(mktemp -d -t zhenggai-test-pg.XXXXXX)"
  port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])' 2>/dev/null || echo 55432)"
  as_owner=()
  if [ "$(id -u)" = "0" ]; then
    # PostgreSQL refuses to run as root: run the cluster as the postgres user.
    id postgres >/dev/null 2>&1 || useradd --system --no-create-home postgres
    chown postgres "$data_dir"
    as_owner=(runuser -u postgres --)
  fi
  "${as_owner[@]}" "$pg_bin/initdb" -D "$data_dir/data" -U postgres --auth=trust --encoding=UTF8 --locale=C.UTF-8 >"$data_dir/initdb.log" 2>&1 \
    || { cat "$data_dir/initdb.log" >&2; exit 1; }
  "${as_owner[@]}" "$pg_bin/pg_ctl" -D "$data_dir/data" -l "$data_dir/server.log" -w -t 60 \
    -o "-p $port -k $data_dir -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=400" \
    start >/dev/null
  cleanup() {
    "${as_owner[@]}" "$pg_bin/pg_ctl" -D "$data_dir/data" -m immediate stop >/dev/null 2>&1 || true
    rm -rf "$data_dir"
  }
  export DATABASE_URL="postgres://postgres@127.0.0.1:$port/postgres"
  echo "deploy/test.sh: throwaway PostgreSQL on port $port"
fi

cargo test --workspace --locked "$@"
