#!/usr/bin/env bash
# Builds ios/GridWorkerCoreFFI.xcframework from gridworker-ffi (release profile, staticlib):
#   ios-arm64                 aarch64-apple-ios       (devices)
#   ios-arm64_x86_64-simulator aarch64-apple-ios-sim + x86_64-apple-ios (one fat library)
# with the generated C header and module map from ios/include. Needs macOS with Xcode and
# rustup. Not run on the project's Linux machines: see README.md.
set -euo pipefail

cd "$(dirname "$0")/.."
root=$(pwd)
out="$root/ios/GridWorkerCoreFFI.xcframework"
lib=libgridworker_ffi.a
export IPHONEOS_DEPLOYMENT_TARGET=15.0

[ "$(uname -s)" = Darwin ] || {
    echo "build-xcframework.sh needs macOS with Xcode" >&2
    exit 1
}

targets=(aarch64-apple-ios aarch64-apple-ios-sim x86_64-apple-ios)
rustup target add "${targets[@]}"
for t in "${targets[@]}"; do
    cargo build --release -p gridworker-ffi --target "$t"
done

# The committed Swift and header must describe exactly this library.
scripts/generate-bindings.sh --check

sim="$root/target/ios-simulator"
mkdir -p "$sim"
lipo -create \
    "$root/target/aarch64-apple-ios-sim/release/$lib" \
    "$root/target/x86_64-apple-ios/release/$lib" \
    -output "$sim/$lib"

headers=$(mktemp -d)
trap 'rm -rf "$headers"' EXIT
cp "$root/ios/include/GridWorkerCoreFFI.h" "$root/ios/include/module.modulemap" "$headers/"

rm -rf "$out"
xcodebuild -create-xcframework \
    -library "$root/target/aarch64-apple-ios/release/$lib" -headers "$headers" \
    -library "$sim/$lib" -headers "$headers" \
    -output "$out"
echo "built $out"
