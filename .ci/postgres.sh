# A throwaway PostgreSQL for the test suites: Debian's package, a data directory of its own in a
# temp dir, loopback only, a port of its own, a random password. Sourced by .ci/run; usable by hand:
#
#   source .ci/postgres.sh && postgres_start   # exports GATEHOUSE_TEST_DATABASE_URL
#   npx vitest run packages/sql
#   postgres_stop
#
# Needs root or sudo (apt-get, and running the server as the `postgres` user).

GATEHOUSE_PG_PORT="${GATEHOUSE_PG_PORT:-55432}"

_pg_as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

_pg_as_postgres() {
  if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else sudo -u postgres "$@"; fi
}

postgres_install() {
  if ! ls -d /usr/lib/postgresql/*/bin >/dev/null 2>&1; then
    echo "== installing postgresql (Debian package)"
    _pg_as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    _pg_as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
  fi
}

_pg_port_busy() {
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

postgres_start() {
  postgres_install
  # A port of its own: the first free one from GATEHOUSE_PG_PORT on.
  local tries=0
  while _pg_port_busy "$GATEHOUSE_PG_PORT"; do
    tries=$((tries + 1))
    if [ "$tries" -ge 20 ]; then echo "no free port for postgres" >&2; return 1; fi
    GATEHOUSE_PG_PORT=$((GATEHOUSE_PG_PORT + 1))
  done
  GATEHOUSE_PG_BIN="$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)"
  GATEHOUSE_PG_DIR="$(mktemp -d /tmp/gatehouse-pg.XXXXXX)"
  _pg_as_root chown postgres "$GATEHOUSE_PG_DIR"
  local password
  password="$(head -c 18 /dev/urandom | base64 | tr '+/' '-_')"
  printf '%s\n' "$password" | _pg_as_postgres tee "$GATEHOUSE_PG_DIR/pwfile" >/dev/null
  _pg_as_postgres "$GATEHOUSE_PG_BIN/initdb" -D "$GATEHOUSE_PG_DIR/data" -U postgres \
    --pwfile="$GATEHOUSE_PG_DIR/pwfile" --auth-local=peer --auth-host=scram-sha-256 >/dev/null
  _pg_as_postgres rm -f "$GATEHOUSE_PG_DIR/pwfile"
  # A test cluster: durability off for speed, enough connections for the multi-process suites.
  _pg_as_postgres "$GATEHOUSE_PG_BIN/pg_ctl" -D "$GATEHOUSE_PG_DIR/data" -l "$GATEHOUSE_PG_DIR/server.log" -w \
    -o "-c listen_addresses=127.0.0.1 -p $GATEHOUSE_PG_PORT -k $GATEHOUSE_PG_DIR -c max_connections=300 -c fsync=off -c synchronous_commit=off -c full_page_writes=off" \
    start >/dev/null
  _pg_as_postgres "$GATEHOUSE_PG_BIN/createdb" -h "$GATEHOUSE_PG_DIR" -p "$GATEHOUSE_PG_PORT" gatehouse_test
  export GATEHOUSE_PG_BIN GATEHOUSE_PG_DIR
  export GATEHOUSE_TEST_DATABASE_URL="postgres://postgres:${password}@127.0.0.1:${GATEHOUSE_PG_PORT}/gatehouse_test"
  echo "== postgres $("$GATEHOUSE_PG_BIN/postgres" --version | awk '{print $3}') on 127.0.0.1:$GATEHOUSE_PG_PORT (data in $GATEHOUSE_PG_DIR)"
}

postgres_stop() {
  if [ -n "${GATEHOUSE_PG_DIR:-}" ] && [ -d "$GATEHOUSE_PG_DIR/data" ]; then
    _pg_as_postgres "$GATEHOUSE_PG_BIN/pg_ctl" -D "$GATEHOUSE_PG_DIR/data" -m fast -w stop >/dev/null 2>&1 || true
    _pg_as_root rm -rf "$GATEHOUSE_PG_DIR"
    echo "== postgres stopped"
  fi
}
