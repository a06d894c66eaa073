#!/usr/bin/env bash
# Sourced by .ci/run: a PostgreSQL server and an MLflow tracking server (on PostgreSQL), both on
# 127.0.0.1 only, for the sweep test that runs two "machines" against real servers. Exports
# AKD_TEST_POSTGRES_URL and AKD_TEST_MLFLOW_URL; torn down when the calling shell exits.
# Usage: source .ci/servers.sh PYTHON_VENV_BIN
akd_servers_start() {
  local venv_bin="$1" pg_bin data port=55432 mlflow_port=55000
  pg_bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
  if [ -z "$pg_bin" ] || [ ! -x "$venv_bin/mlflow" ]; then
    echo "servers: PostgreSQL or MLflow not installed; the server test will say it is skipped"
    return 0
  fi
  data=$(mktemp -d /tmp/akd-servers.XXXXXX)
  as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
  [ "$(id -u)" = 0 ] && chown postgres "$data"
  as_pg "$pg_bin/initdb" -D "$data/pg" -A trust -U akd >/dev/null
  as_pg "$pg_bin/pg_ctl" -D "$data/pg" -o "-h 127.0.0.1 -p $port -k $data/pg" -l "$data/pg/log" -w start >/dev/null
  as_pg "$pg_bin/createdb" -h 127.0.0.1 -p "$port" -U akd optuna
  as_pg "$pg_bin/createdb" -h 127.0.0.1 -p "$port" -U akd mlflow
  MLFLOW_SERVER_ENABLE_JOB_EXECUTION=false "$venv_bin/mlflow" server \
    --backend-store-uri "postgresql://akd@127.0.0.1:$port/mlflow" --artifacts-destination "$data/artifacts" \
    --host 127.0.0.1 --port "$mlflow_port" --workers 1 >"$data/mlflow.log" 2>&1 &
  AKD_MLFLOW_PID=$!
  for _ in $(seq 1 120); do
    curl -sf "http://127.0.0.1:$mlflow_port/health" >/dev/null 2>&1 && break
    sleep 1
  done
  export AKD_TEST_POSTGRES_URL="postgresql://akd@127.0.0.1:$port/optuna"
  export AKD_TEST_MLFLOW_URL="http://127.0.0.1:$mlflow_port"
  AKD_SERVERS_DATA="$data" AKD_PG_BIN="$pg_bin"
  trap akd_servers_stop EXIT
  echo "servers: PostgreSQL on 127.0.0.1:$port, MLflow on 127.0.0.1:$mlflow_port"
}

akd_servers_stop() {
  [ -n "${AKD_MLFLOW_PID:-}" ] && kill "$AKD_MLFLOW_PID" 2>/dev/null && wait "$AKD_MLFLOW_PID" 2>/dev/null
  if [ -n "${AKD_SERVERS_DATA:-}" ]; then
    if [ "$(id -u)" = 0 ]; then
      runuser -u postgres -- "$AKD_PG_BIN/pg_ctl" -D "$AKD_SERVERS_DATA/pg" -m fast stop >/dev/null 2>&1
    else
      "$AKD_PG_BIN/pg_ctl" -D "$AKD_SERVERS_DATA/pg" -m fast stop >/dev/null 2>&1
    fi
    rm -rf "$AKD_SERVERS_DATA"
  fi
  return 0
}
