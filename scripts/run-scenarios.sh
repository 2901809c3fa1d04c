#!/usr/bin/env bash
# Replays every committed scenario (fixtures/scenarios/*.json) with the gridworker CLI against
# an in-process reference server and prints each JSON report's verdict. Exits non-zero if any
# scenario misses its expectations. CI runs the same check as `cargo test -p gridworker-cli
# --test scenarios`; this script is for QA at the terminal.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build -q -p gridworker-cli
failed=0
for f in fixtures/scenarios/*.json; do
  if out=$(target/debug/gridworker --json scenario "$f"); then
    echo "ok    $f"
  else
    failed=1
    echo "FAIL  $f"
    printf '%s\n' "$out" | grep -A20 '"mismatches"' || true
  fi
done
exit "$failed"
