#!/usr/bin/env bash
# A throw-away PostgreSQL for the tests: Debian's server binaries, a cluster of our own under
# $PGROOT, 127.0.0.1:$PGPORT. Idempotent.
#   scripts/postgres.sh start|stop|status|url|ca
#
# TLS is on, with a certificate for 127.0.0.1 and localhost signed by a CA made for the tests
# at the first start (openssl CLI, under $PGROOT/tls; `ca` prints the CA's path), so clients can
# run with sslmode=verify-full as on RDS. Authentication (pg_hba.conf, ours): the superuser
# `postgres` is trusted on 127.0.0.1 and the local socket (the tests' admin connection); every
# other role needs its password (scram-sha-256), which is what makes the least-privilege and
# rotation tests real. A cluster started by an older version of this script (no TLS, trust for
# all) is restarted with these settings.
set -euo pipefail
PGPORT=${PGPORT:-55432}
PGROOT=${PGROOT:-/tmp/rust-on-aws-pg-$PGPORT}
bindir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
url="postgres://postgres@127.0.0.1:$PGPORT/postgres"
tls="$PGROOT/tls"
hba="$PGROOT/pg_hba.conf"

as_postgres() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

need_server() {
  if [ -z "$bindir" ] || [ ! -x "$bindir/pg_ctl" ]; then
    echo "postgres.sh: no PostgreSQL server binaries under /usr/lib/postgresql/*/bin; install them: apt-get install -y postgresql" >&2
    exit 1
  fi
}

need_openssl() {
  if ! command -v openssl >/dev/null; then
    echo "postgres.sh: openssl not found: the test CA and server certificate are made with it; install it: apt-get install -y openssl" >&2
    exit 1
  fi
}

# The test CA and the server certificate (SAN 127.0.0.1 and localhost), made once.
make_tls() {
  [ -s "$tls/server.crt" ] && [ -s "$tls/server.key" ] && [ -s "$tls/ca.crt" ] && return 0
  need_openssl
  mkdir -p "$tls"
  local ext="$tls/server.ext"
  openssl req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 3650 \
    -subj "/O=rust-on-aws tests/CN=rust-on-aws test CA" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
    -keyout "$tls/ca.key" -out "$tls/ca.crt" 2>/dev/null
  openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
    -subj "/O=rust-on-aws tests/CN=localhost" -keyout "$tls/server.key" -out "$tls/server.csr" 2>/dev/null
  printf '%s\n' "basicConstraints=critical,CA:FALSE" "keyUsage=critical,digitalSignature" \
    "extendedKeyUsage=serverAuth" "subjectAltName=IP:127.0.0.1,DNS:localhost" >"$ext"
  openssl x509 -req -in "$tls/server.csr" -CA "$tls/ca.crt" -CAkey "$tls/ca.key" -CAcreateserial \
    -days 825 -extfile "$ext" -out "$tls/server.crt" 2>/dev/null
  rm -f "$tls/server.csr" "$ext"
  chmod 0644 "$tls/ca.crt" "$tls/server.crt"
  chmod 0600 "$tls/ca.key" "$tls/server.key"
}

write_hba() {
  cat >"$hba" <<'EOF'
# Written by scripts/postgres.sh. TYPE DATABASE USER ADDRESS METHOD
local all postgres              trust
host  all postgres 127.0.0.1/32 trust
host  all all      127.0.0.1/32 scram-sha-256
EOF
}

# Does the running server already use our TLS and pg_hba settings?
configured() {
  local got
  got=$(as_postgres psql -X -A -t -h 127.0.0.1 -p "$PGPORT" -U postgres -d postgres \
    -c "SELECT current_setting('ssl') || ' ' || current_setting('hba_file')" 2>/dev/null || true)
  [ "$got" = "on $hba" ]
}

case "${1:-}" in
  start)
    need_server
    mkdir -p "$PGROOT"
    [ "$(id -u)" = 0 ] && chown postgres "$PGROOT"
    as_postgres bash -c "$(declare -f make_tls need_openssl write_hba); tls='$tls' hba='$hba'; make_tls; write_hba"
    if as_postgres "$bindir/pg_ctl" -D "$PGROOT/data" status >/dev/null 2>&1; then
      if configured; then
        echo "postgres.sh: already running on 127.0.0.1:$PGPORT"; exit 0
      fi
      echo "postgres.sh: restarting 127.0.0.1:$PGPORT with TLS and password auth for roles other than postgres"
      as_postgres "$bindir/pg_ctl" -D "$PGROOT/data" -m fast -w stop >/dev/null
    fi
    if [ ! -s "$PGROOT/data/PG_VERSION" ]; then
      as_postgres "$bindir/initdb" -D "$PGROOT/data" -U postgres --auth=trust -E UTF8 >/dev/null
    fi
    as_postgres "$bindir/pg_ctl" -D "$PGROOT/data" -l "$PGROOT/log" -w \
      -o "-h 127.0.0.1 -p $PGPORT -k $PGROOT -c fsync=off -c max_connections=200 -c ssl=on -c ssl_cert_file=$tls/server.crt -c ssl_key_file=$tls/server.key -c hba_file=$hba -c password_encryption=scram-sha-256" \
      start >/dev/null
    echo "postgres.sh: started on 127.0.0.1:$PGPORT ($url; TLS CA $tls/ca.crt)"
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
  ca)
    if [ ! -s "$tls/ca.crt" ]; then
      echo "postgres.sh: no test CA at $tls/ca.crt: run \`PGPORT=$PGPORT scripts/postgres.sh start\` first" >&2
      exit 1
    fi
    echo "$tls/ca.crt"
    ;;
  *) echo "usage: scripts/postgres.sh start|stop|status|url|ca" >&2; exit 2 ;;
esac
