# Conveniences over plain cargo; every recipe is a cargo command you can run yourself.

default:
    @just --list

# Run the server on its embedded default (SQLite, in-process cache and limiter).
run:
    cargo run -p devora-server

# Run against the local Postgres and Redis.
run-services:
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/devora REDIS_URL=redis://127.0.0.1:6379 cargo run -p devora-server

# The whole test suite (the README's command).
test:
    cargo test --workspace

# What CI runs: services up, fmt, clippy, tests with every variant mandatory.
ci:
    bash .ci/run

fmt:
    cargo fmt --all

lint:
    cargo clippy --workspace --all-targets -- -D warnings

# Regenerate docs/openapi.yaml from the code.
openapi:
    cargo run -q -p devora-server -- export-openapi docs/openapi.yaml

# Regenerate the TypeScript DTOs from the code.
types:
    cargo run -q -p devora-server -- export-types clients/typescript/src/generated

# Apply migrations to DATABASE_URL (default: ./devora.db).
migrate:
    cargo run -q -p devora-server -- migrate

# Load benchmarks (wrk) of the release server against a bare actix-web baseline;
# env: BENCH_MODES=embedded,services BENCH_SECONDS=8 BENCH_CONNECTIONS=64
# BENCH_WRITE_DOCS=1 (results into docs/benchmarks.md). See docs/benchmarks.md.
bench:
    cargo build --release -p devora-server
    cargo bench -p devora-e2e --bench http

# The API contract checked against the live server with schemathesis.
conformance:
    bash scripts/conformance.sh

# Build the TypeScript client and run its tests against the real server.
client-test:
    cargo build -p devora-server
    cd clients/typescript && npm ci && npm run build && npm test

# Three server processes on ports 8081-8083 sharing one Postgres database and one Redis; Ctrl-C stops them.
cluster:
    bash scripts/cluster.sh

# The many-nodes tests and the faults under load (real server processes; needs Postgres and Redis).
cluster-test:
    cargo test -p devora-e2e --test api -- cluster:: faults::
