#!/usr/bin/env bash
# Three devora-server processes on ports 8081-8083 sharing one Postgres database
# and one Redis (no load balancer: clients address each node). They share a fixed
# development JWT secret, so a token from one node is accepted by the others.
# Ctrl-C stops all three.
#
#   DATABASE_URL   default postgres://postgres@127.0.0.1:5432/devora_cluster (created if missing)
#   REDIS_URL      default redis://127.0.0.1:6379
#   REDIS_KEY_PREFIX default devora-cluster:
#   CLUSTER_PORTS  default "8081 8082 8083"
#   DEVORA_SERVER_BIN  a server binary to run instead of building one
#   Any other server variable (RATE_LIMIT_*, GENERATION_*, LLM_*...) is passed through.
set -euo pipefail
cd "$(dirname "$0")/.."

export DATABASE_URL="${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/devora_cluster}"
export REDIS_URL="${REDIS_URL:-redis://127.0.0.1:6379}"
export REDIS_KEY_PREFIX="${REDIS_KEY_PREFIX:-devora-cluster:}"
# A development secret, the same on every node. Never use it in production.
export JWT_SECRET="${JWT_SECRET:-devora-cluster-dev-secret-0123456789abcdef}"
export RUST_LOG="${RUST_LOG:-info}"
ports=(${CLUSTER_PORTS:-8081 8082 8083})
target="${CARGO_TARGET_DIR:-target}"
logs="$(mktemp -d)"

if [ -n "${DEVORA_SERVER_BIN:-}" ]; then
  binary="$DEVORA_SERVER_BIN"
else
  echo "cluster: building devora-server"
  cargo build --quiet -p devora-server
  binary="$target/debug/devora-server"
fi

# The database: created if missing, through the server's maintenance database.
database="${DATABASE_URL##*/}"
database="${database%%\?*}"
admin_url="${DATABASE_URL%/*}/postgres"
if ! [[ "$database" =~ ^[A-Za-z_][A-Za-z0-9_]*$ ]]; then
  echo "cluster: cannot tell the database name from DATABASE_URL ($DATABASE_URL)" >&2
  exit 1
fi
if [ "$(psql "$admin_url" -tAc "SELECT 1 FROM pg_database WHERE datname = '$database'")" != "1" ]; then
  echo "cluster: creating database $database"
  psql "$admin_url" -qc "CREATE DATABASE \"$database\""
fi

pids=()
stop() {
  trap - INT TERM EXIT
  if [ "${#pids[@]}" -gt 0 ]; then
    echo
    echo "cluster: stopping ${pids[*]}"
    kill -TERM "${pids[@]}" 2>/dev/null || true
    wait "${pids[@]}" 2>/dev/null || true
  fi
  echo "cluster: logs were in $logs"
}
trap 'stop; exit 0' INT TERM
trap stop EXIT

for port in "${ports[@]}"; do
  PORT="$port" HOST="${HOST:-127.0.0.1}" "$binary" > "$logs/node-$port.log" 2>&1 &
  pids+=($!)
  # One at a time: the first node applies the migrations.
  up=""
  for _ in $(seq 1 300); do
    if curl -sf "http://127.0.0.1:$port/health/live" > /dev/null; then up=1; break; fi
    if ! kill -0 "${pids[-1]}" 2>/dev/null; then break; fi
    sleep 0.1
  done
  if [ -z "$up" ]; then
    echo "cluster: the node on port $port did not come up; its log:" >&2
    tail -n 30 "$logs/node-$port.log" >&2
    exit 1
  fi
done

echo "cluster: three nodes on one database ($DATABASE_URL) and one Redis ($REDIS_URL, prefix $REDIS_KEY_PREFIX)"
for i in "${!ports[@]}"; do
  echo "  node $((i + 1)): http://127.0.0.1:${ports[$i]}  (pid ${pids[$i]}, log $logs/node-${ports[$i]}.log)"
done
echo "cluster: Ctrl-C stops all three"
# Until Ctrl-C, or until a node exits by itself (then the others are stopped too).
wait -n "${pids[@]}" || true
echo "cluster: a node exited" >&2
