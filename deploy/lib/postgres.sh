# Starts a private PostgreSQL cluster from the machine's binaries.
# Sourced by deploy/test.sh and deploy/run-local.sh.
#
#   zg_pg_start DIR PORT [EXTRA_SERVER_OPTIONS]   initialises DIR/data if needed, starts the server,
#                                                  exports DATABASE_URL
#   zg_pg_stop                                     stops it again

zg_pg_bin() {
  if command -v initdb >/dev/null 2>&1 && command -v pg_ctl >/dev/null 2>&1; then
    dirname "$(command -v initdb)"
  else
    ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1
  fi
}

zg_pg_start() {
  local dir="$1" port="$2" extra="${3:-}"
  ZG_PG_BIN="$(zg_pg_bin)"
  if [ -z "$ZG_PG_BIN" ] || [ ! -x "$ZG_PG_BIN/initdb" ]; then
    echo "no PostgreSQL binaries (initdb, pg_ctl): install them (Debian: apt-get install postgresql) or set DATABASE_URL" >&2
    return 1
  fi
  ZG_PG_AS=()
  mkdir -p "$dir"
  if [ "$(id -u)" = "0" ]; then
    # PostgreSQL refuses to run as root: run the cluster as the postgres user.
    id postgres >/dev/null 2>&1 || useradd --system --no-create-home postgres
    chown postgres "$dir"
    ZG_PG_AS=(runuser -u postgres --)
    if ! "${ZG_PG_AS[@]}" test -w "$dir"; then
      echo "the postgres user cannot reach $dir (a folder above it is closed to other users, as /root is);" \
           "choose a data folder it can reach, e.g. ZG_DATA_DIR=/var/lib/zhenggai" >&2
      return 1
    fi
  fi
  if [ ! -f "$dir/data/PG_VERSION" ]; then
    "${ZG_PG_AS[@]}" "$ZG_PG_BIN/initdb" -D "$dir/data" -U postgres --auth=trust --encoding=UTF8 --locale=C.UTF-8 \
      >"$dir/initdb.log" 2>&1 || { cat "$dir/initdb.log" >&2; return 1; }
  fi
  ZG_PG_DIR="$dir"
  # Crashed clients must not hold row locks for long.
  "${ZG_PG_AS[@]}" "$ZG_PG_BIN/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
    -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c max_connections=400 -c idle_in_transaction_session_timeout=60s -c client_connection_check_interval=10s $extra" \
    start >/dev/null || { tail -n 20 "$dir/server.log" >&2; return 1; }
  export DATABASE_URL="postgres://postgres@127.0.0.1:$port/postgres"
}

zg_pg_stop() {
  [ -n "${ZG_PG_DIR:-}" ] || return 0
  "${ZG_PG_AS[@]}" "$ZG_PG_BIN/pg_ctl" -D "$ZG_PG_DIR/data" -m fast -w stop >/dev/null 2>&1 || true
}

zg_free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])' 2>/dev/null || echo "$1"
}
