# Shared by the benchmark and drill scripts: a throwaway PostgreSQL 15 cluster on a free
# loopback port, run as the postgres user (the scripts run as root).
#
#   . scripts/lib/postgres.sh
#   start_postgres DIR      # sets PG_ADMIN (the URL of its `postgres` database) and PG_STARTED
#   stop_postgres DIR       # in the EXIT trap; does nothing when none was started

PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}
PG_STARTED=""

start_postgres() { # dir
  local port
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()')
  mkdir -p "$1/pg" && chown postgres:postgres "$1/pg"
  runuser -u postgres -- "$PG_BIN/initdb" -D "$1/pg/data" -U postgres --auth=trust -E UTF8 >/dev/null
  runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$1/pg/data" -l "$1/pg/log" -o "-p $port -k $1/pg -c listen_addresses=127.0.0.1" -w start >/dev/null
  PG_STARTED=1
  PG_ADMIN="postgres://postgres@127.0.0.1:$port/postgres"
}

stop_postgres() { # dir
  if [ -n "$PG_STARTED" ]; then runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$1/pg/data" stop -m fast >/dev/null 2>&1 || true; fi
}
