#!/usr/bin/env bash
# A throw-away PostgreSQL for the tests: Debian's server binaries, a cluster of our own under
# $PGROOT, 127.0.0.1:$PGPORT, trust auth for local connections only. Idempotent.
#   scripts/postgres.sh start|stop|status|url
set -euo pipefail
PGPORT=${PGPORT:-55432}
PGROOT=${PGROOT:-/tmp/rust-on-aws-pg-$PGPORT}
bindir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
url="postgres://postgres@127.0.0.1:$PGPORT/postgres"

as_postgres() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

need_server() {
  if [ -z "$bindir" ] || [ ! -x "$bindir/pg_ctl" ]; then
    echo "postgres.sh: no PostgreSQL server binaries under /usr/lib/postgresql/*/bin; install them: apt-get install -y postgresql" >&2
    exit 1
  fi
}

case "${1:-}" in
  start)
    need_server
    if as_postgres "$bindir/pg_ctl" -D "$PGROOT/data" status >/dev/null 2>&1; then
      echo "postgres.sh: already running on 127.0.0.1:$PGPORT"; exit 0
    fi
    mkdir -p "$PGROOT"
    [ "$(id -u)" = 0 ] && chown postgres "$PGROOT"
    if [ ! -s "$PGROOT/data/PG_VERSION" ]; then
      as_postgres "$bindir/initdb" -D "$PGROOT/data" -U postgres --auth=trust -E UTF8 >/dev/null
    fi
    as_postgres "$bindir/pg_ctl" -D "$PGROOT/data" -l "$PGROOT/log" -w \
      -o "-h 127.0.0.1 -p $PGPORT -k $PGROOT -c fsync=off -c max_connections=200" start >/dev/null
    echo "postgres.sh: started on 127.0.0.1:$PGPORT ($url)"
    ;;
  stop)
    need_server
    as_postgres "$bindir/pg_ctl" -D "$PGROOT/data" -m fast stop >/dev/null 2>&1 || true
    echo "postgres.sh: stopped"
    ;;
  status)
    need_server
    as_postgres "$bindir/pg_ctl" -D "$PGROOT/data" status
    ;;
  url) echo "$url" ;;
  *) echo "usage: scripts/postgres.sh start|stop|status|url" >&2; exit 2 ;;
esac
