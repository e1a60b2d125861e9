#!/usr/bin/env bash
# A throwaway PostgreSQL 15 cluster for the tests, on a free loopback port.
#   eval "$(scripts/pg-test-cluster.sh start)"   # exports XUNCHA_TEST_DATABASE_URL
#   scripts/pg-test-cluster.sh stop
# Tests create one database per test from that URL (the role may CREATE DATABASE).
set -euo pipefail
cd "$(dirname "$0")/.."
dir="$(pwd)/target/pg-test"
bindir=/usr/lib/postgresql/15/bin
[ -x "$bindir/initdb" ] || bindir=$(pg_config --bindir)

as_pg() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

case "${1:-}" in
start)
  if [ -f "$dir/port" ] && as_pg "$bindir/pg_ctl" -D "$dir/data" status >/dev/null 2>&1; then
    port=$(cat "$dir/port")
  else
    rm -rf "$dir"; mkdir -p "$dir"
    [ "$(id -u)" = 0 ] && chown postgres "$dir"
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    as_pg "$bindir/initdb" -D "$dir/data" -U xuncha --auth=trust -E UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1
    # fsync off: a test cluster that dies is thrown away anyway.
    as_pg "$bindir/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w \
      -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c max_connections=300" \
      start >/dev/null
    echo "$port" >"$dir/port"
  fi
  echo "export XUNCHA_TEST_DATABASE_URL=postgres://xuncha@127.0.0.1:$port/postgres"
  ;;
stop)
  [ -d "$dir/data" ] && as_pg "$bindir/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null 2>&1 || true
  ;;
*)
  echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
