#!/usr/bin/env bash
# Runs every test of the project: formatting, lints, the Rust workspace (core, server,
# fixtures, CLI and its scenarios, FFI), and the Kotlin tests on the JVM against the host
# library. Installs what it needs (JDK tools, kotlinc, JNA, JUnit) into .tools/ on a fresh
# Debian machine with Rust. This is what CI runs (.ci/run).
set -euo pipefail
cd "$(dirname "$0")/.."

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

step "SIGKILL tests (client killed at each protocol step; needs the failpoints feature)"
cargo test -p gridworker-core --locked --features failpoints --test sync_kill --test encryption_kill

if [ -x scripts/test-kotlin.sh ]; then
  step "Kotlin tests on the JVM"
  scripts/test-kotlin.sh
fi
