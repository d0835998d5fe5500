#!/usr/bin/env bash
# Runs every test of the workspace against a real PostgreSQL.
#
# With DATABASE_URL set, the tests use that server (each test stack makes its
# own databases there, named zgt_<random>_<service>). Without it, this script
# starts a throwaway PostgreSQL cluster from the machine's binaries in a
# temporary folder and removes it afterwards. Extra arguments go to `cargo test`.
set -euo pipefail
cd "$(dirname "$0")/.."
. deploy/lib/postgres.sh

if [ -z "${DATABASE_URL:-}" ]; then
  scratch="$(mktemp -d -t zhenggai-test-pg.XXXXXX)"
  trap 'zg_pg_stop; rm -rf "$scratch"' EXIT
  port="$(zg_free_port 55433)"
  zg_pg_start "$scratch" "$port" "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
  echo "deploy/test.sh: throwaway PostgreSQL on 127.0.0.1:$port"
fi

# The fault tests (tests/tests/system/faults.rs) run the service binaries as
# processes they can signal: build them first, so they are never stale.
cargo build --workspace --locked --bins
cargo test --workspace --locked "$@"
