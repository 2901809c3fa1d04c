#!/usr/bin/env bash
# Generates the Kotlin and Swift bindings of gridworker-ffi from the built library (uniffi
# library mode) into the committed locations:
#   android/src/main/kotlin/org/gridworker/core/gridworker_ffi.kt
#   ios/Sources/GridWorkerCore/GridWorkerCore.swift
#   ios/include/GridWorkerCoreFFI.h, ios/include/module.modulemap
#
#   scripts/generate-bindings.sh           regenerate in place
#   scripts/generate-bindings.sh --check   regenerate into a temp dir; fail if the committed
#                                          files differ (CI runs this)
#
# Generated files are never edited by hand: change bindings/src and rerun.
set -euo pipefail

cd "$(dirname "$0")/.."
root=$(pwd)

check=0
case "${1:-}" in
--check) check=1 ;;
"") ;;
*)
    echo "usage: $0 [--check]" >&2
    exit 2
    ;;
esac

# The library's metadata is the same in every profile; the debug build shares artifacts with
# `cargo test` and is the cheapest.
cargo build --quiet -p gridworker-ffi -p uniffi-bindgen
debug="${CARGO_TARGET_DIR:-$root/target}/debug"
case "$(uname -s)" in
Darwin) lib="$debug/libgridworker_ffi.dylib" ;;
*) lib="$debug/libgridworker_ffi.so" ;;
esac

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# --no-format: output must not depend on whether ktlint/swiftformat happen to be installed.
"$debug/uniffi-bindgen" generate "$lib" \
    --language kotlin --language swift --no-format --out-dir "$tmp/gen" >/dev/null

stage="$tmp/stage"
mkdir -p "$stage/android/src/main/kotlin/org/gridworker/core" \
    "$stage/ios/Sources/GridWorkerCore" "$stage/ios/include"
cp "$tmp/gen/org/gridworker/core/gridworker_ffi.kt" "$stage/android/src/main/kotlin/org/gridworker/core/"
cp "$tmp/gen/GridWorkerCore.swift" "$stage/ios/Sources/GridWorkerCore/"
cp "$tmp/gen/GridWorkerCoreFFI.h" "$stage/ios/include/"
# An XCFramework's headers directory needs the module map under this exact name.
cp "$tmp/gen/GridWorkerCoreFFI.modulemap" "$stage/ios/include/module.modulemap"

files=(
    android/src/main/kotlin/org/gridworker/core/gridworker_ffi.kt
    ios/Sources/GridWorkerCore/GridWorkerCore.swift
    ios/include/GridWorkerCoreFFI.h
    ios/include/module.modulemap
)

if [ "$check" = 1 ]; then
    stale=0
    for f in "${files[@]}"; do
        if ! cmp -s "$stage/$f" "$root/$f"; then
            echo "stale generated file: $f" >&2
            stale=1
        fi
    done
    if [ "$stale" = 1 ]; then
        echo "bindings are out of date: run scripts/generate-bindings.sh and commit" >&2
        exit 1
    fi
    echo "bindings: generated files up to date"
else
    for f in "${files[@]}"; do
        mkdir -p "$(dirname "$root/$f")"
        cp "$stage/$f" "$root/$f"
    done
    echo "bindings: generated ${#files[@]} files"
fi
