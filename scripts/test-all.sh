#!/usr/bin/env bash
# Runs every test suite of the project on a fresh machine: Rust (SQLite and a real PostgreSQL),
# the generated Kotlin on the JVM, the generated Python, and the browser tests in headless Chromium.
# It installs and starts what the tests need itself. CI (.ci/run) calls exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
export CARGO_TERM_COLOR=never
# A one-shot run gains nothing from incremental caches (3.7 GB of a cold CI target folder).
export CARGO_INCREMENTAL="${CARGO_INCREMENTAL:-0}"
mkdir -p test-output

echo "== disk: $(df -h --output=avail . | tail -1 | tr -d ' ') free here (a cold run writes about 4 GB)"

echo "== system packages"
bash scripts/install-test-deps.sh

echo "== PostgreSQL test cluster"
# Starts a throwaway cluster on a free loopback port and prints its URL; stopped on exit.
eval "$(bash scripts/pg-test-cluster.sh start)"
trap 'bash scripts/pg-test-cluster.sh stop || true' EXIT
echo "PostgreSQL at ${XUNCHA_TEST_DATABASE_URL%%@*}@…"

echo "== cargo fmt / clippy"
cargo fmt --all -- --check
cargo clippy --workspace --all-targets -- -D warnings

echo "== server layers: no upward imports"
bash scripts/check-layers.sh

echo "== Rust tests (SQLite and PostgreSQL, browser tests included)"
cargo test --workspace

echo "== generated bindings: Kotlin on the JVM, Python, Swift generated"
bash bindings/scripts/test-bindings.sh

echo "== phone library: no HTTP/TLS stack in the mobile build, aarch64 size"
# Its own target folder: a different target triple and profile share nothing with the test build.
CARGO_TARGET_DIR="$root/target/mobile-cross" bash bindings/scripts/mobile-library.sh

echo "== all suites passed"
