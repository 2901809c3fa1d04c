#!/usr/bin/env bash
# Runs a command with a PostgreSQL server for the tests: GRIDWORKER_TEST_DATABASE_URL if it
# is set, otherwise a throwaway cluster in a temporary directory on a free loopback port
# (installing Debian's postgresql package if it is missing), stopped and deleted at the end.
#   scripts/with-postgres.sh cargo nextest run -p gridworker-server
# The throwaway cluster trades durability for speed (fsync off): it is for tests only. The
# rush benchmark's figures come from a cluster with default settings (GW_PG_DURABLE=1).
set -euo pipefail

if [ -n "${GRIDWORKER_TEST_DATABASE_URL:-}" ]; then
  exec "$@"
fi

find_bin() {
  ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1
}

bin=$(find_bin)
if [ -z "$bin" ]; then
  echo "==> installing PostgreSQL from Debian's packages" >&2
  sudo_cmd=""
  [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
  # The package's own cluster is not used; keep it from starting.
  $sudo_cmd mkdir -p /etc/postgresql-common/createcluster.d
  echo "create_main_cluster = false" | $sudo_cmd tee /etc/postgresql-common/createcluster.d/gridworker.conf >/dev/null
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq postgresql >/dev/null
  bin=$(find_bin)
fi

dir=$(mktemp -d /tmp/gridworker-pg.XXXXXX)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
as_pg=()
if [ "$(id -u)" -eq 0 ]; then
  # PostgreSQL refuses to run as root.
  chown postgres: "$dir"
  as_pg=(runuser -u postgres --)
fi

settings="-c listen_addresses=127.0.0.1 -c port=$port -c unix_socket_directories=$dir -c max_connections=300"
if [ "${GW_PG_DURABLE:-0}" != "1" ]; then
  settings="$settings -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
fi
# Extra server settings, e.g. for profiling: GW_PG_SETTINGS="-c shared_preload_libraries=pg_stat_statements"
settings="$settings ${GW_PG_SETTINGS:-}"

"${as_pg[@]}" "$bin/initdb" -D "$dir/data" -U postgres -A trust -E UTF8 --locale=C.UTF-8 >/dev/null
"${as_pg[@]}" "$bin/pg_ctl" -D "$dir/data" -l "$dir/log" -o "$settings" -w start >/dev/null
stop() {
  "${as_pg[@]}" "$bin/pg_ctl" -D "$dir/data" -m immediate stop >/dev/null 2>&1 || true
  rm -rf "$dir"
}
trap stop EXIT

export GRIDWORKER_TEST_DATABASE_URL="postgres://postgres@127.0.0.1:$port/postgres"
echo "==> PostgreSQL $("$bin/postgres" --version | awk '{print $3}') on 127.0.0.1:$port (throwaway cluster in $dir)" >&2
"$@"
