#!/usr/bin/env bash
# A private PostgreSQL for the test suite: its own cluster, port and socket, started and
# stopped by `make test`. Usage: test-postgres.sh start|stop|url
set -euo pipefail
PORT="${CLOCHER_TEST_PG_PORT:-54329}"
BASE="${TMPDIR:-/tmp}/clocher-test-pg-$(id -u)"
DATA="$BASE/data"
BIN="$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)"
as_pg() {
  if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}
case "${1:-}" in
  start)
    mkdir -p "$BASE"
    [ "$(id -u)" -eq 0 ] && chown postgres: "$BASE"
    if [ ! -f "$DATA/PG_VERSION" ]; then
      as_pg "$BIN/initdb" -D "$DATA" -U clocher --auth=trust -E UTF8 --locale=C.UTF-8 >/dev/null
    fi
    if ! as_pg "$BIN/pg_ctl" -D "$DATA" status >/dev/null 2>&1; then
      as_pg "$BIN/pg_ctl" -D "$DATA" -l "$BASE/server.log" -w -o \
        "-p $PORT -k $BASE -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off" start >/dev/null
    fi
    echo "PostgreSQL de test prêt sur 127.0.0.1:$PORT"
    ;;
  stop)
    as_pg "$BIN/pg_ctl" -D "$DATA" -m fast stop >/dev/null 2>&1 || true
    ;;
  url)
    echo "postgres://clocher@127.0.0.1:$PORT/clocher"
    ;;
  *)
    echo "usage: $0 start|stop|url" >&2; exit 2 ;;
esac
