#!/usr/bin/env bash
# Start a throwaway PostgreSQL server on loopback for the tests; prints the URL to use.
#   eval "$(bash scripts/start_postgres.sh)"   # exports PLURALIS_TEST_POSTGRES_URL
set -euo pipefail
PORT=${PGPORT_TEST:-54329}
BIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n1)
DATA=${PGDATA_TEST:-/tmp/pluralis-pg}
RUN_AS=()
if [[ $(id -u) -eq 0 ]]; then RUN_AS=(runuser -u postgres --); fi
if ! "${RUN_AS[@]}" "$BIN/pg_isready" -h 127.0.0.1 -p "$PORT" >/dev/null 2>&1; then
  rm -rf "$DATA"; mkdir -p "$DATA"
  [[ $(id -u) -eq 0 ]] && chown postgres:postgres "$DATA"
  "${RUN_AS[@]}" "$BIN/initdb" -D "$DATA" -U postgres --auth=trust >/dev/null
  "${RUN_AS[@]}" "$BIN/pg_ctl" -D "$DATA" -o "-p $PORT -k /tmp -c listen_addresses=127.0.0.1 -c fsync=off" -l "$DATA/log" -w start >/dev/null
fi
"${RUN_AS[@]}" "$BIN/psql" -h 127.0.0.1 -p "$PORT" -U postgres -tc "SELECT 1 FROM pg_database WHERE datname='pluralis_test'" | grep -q 1 \
  || "${RUN_AS[@]}" "$BIN/psql" -h 127.0.0.1 -p "$PORT" -U postgres -qc "CREATE DATABASE pluralis_test" >/dev/null
echo "export PLURALIS_TEST_POSTGRES_URL=postgresql+psycopg://postgres@127.0.0.1:$PORT/pluralis_test"
