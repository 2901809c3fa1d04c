#!/usr/bin/env bash
# Runs every test of the project: formatting, lints, the Rust workspace (core, server,
# fixtures, CLI and its scenarios, FFI), the server's tests again on PostgreSQL with photos
# in an S3-compatible store, and the Kotlin tests on the JVM against the host library.
# Installs what it needs (JDK tools, kotlinc, JNA, JUnit, moto's S3 server) into .tools/ and
# PostgreSQL from Debian's packages on a fresh Debian machine with Rust. This is what CI runs (.ci/run).
set -euo pipefail
cd "$(dirname "$0")/.."

# PostgreSQL for the server's conformance pass: GRIDWORKER_TEST_DATABASE_URL, or a
# throwaway cluster started (and installed if missing) by with-postgres.sh.
if [ -z "${GRIDWORKER_TEST_DATABASE_URL:-}" ]; then
  exec scripts/with-postgres.sh bash "$0" "$@"
fi

# A one-off run gains nothing from incremental caches (4.5 GB on a clean clone); a developer
# who wants them sets CARGO_INCREMENTAL=1.
export CARGO_INCREMENTAL="${CARGO_INCREMENTAL:-0}"

step() { printf '\n==> %s\n' "$*"; }

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy (all targets, warnings are errors)"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "Rust tests"
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --locked --no-fail-fast
  cargo test --workspace --locked --doc
else
  cargo test --workspace --locked --no-fail-fast
fi

step "Server conformance on PostgreSQL with photos in S3 (every server test again; two nodes on one database and one bucket; the device's sync and residents-answer tests)"
# with-s3.sh: moto's S3-compatible server from PyPI on a free loopback port.
# --workspace with a filter, not -p: the same feature set as above, so nothing is rebuilt.
GRIDWORKER_TEST_BACKEND=postgres scripts/with-s3.sh cargo nextest run --workspace --locked --no-fail-fast \
  -E 'package(gridworker-server)'
GRIDWORKER_TEST_BACKEND=postgres cargo nextest run --workspace --locked --no-fail-fast \
  -E 'package(gridworker-core) & (binary(sync_engine) | binary(residents_answers))'

step "SIGKILL tests (client killed at each protocol step; needs the failpoints feature)"
cargo test -p gridworker-core --locked --features failpoints --test sync_kill --test encryption_kill

if [ -x scripts/test-kotlin.sh ]; then
  step "Kotlin tests on the JVM"
  scripts/test-kotlin.sh
fi
