#!/usr/bin/env bash
# Kotlin JVM tests of the generated bindings, run against the host library through JNA.
#
# Installs what it needs into the ignored project folder .tools/ (kotlinc from the npm
# package kotlin-compiler) and from Debian (JNA, JUnit 4); every step is skipped when its
# result is already there. Builds the cdylib, regenerates the bindings (and fails if the
# committed ones are stale), compiles android/src/main + android/src/test (JVM-only sources:
# of the Android helpers under android/src/main/kotlin/org/gridworker/android only the plain-JVM
# SealedKeyStore.kt, TrackBatcher.kt and Changes.kt are in), type-checks the helpers that need
# android.jar against the API stubs in android/src/apiStubs (compiled, never run) and runs
# JUnit. Last line: `kotlin: N passed, M failed`; exit status non-zero on any failure.
#
#   scripts/test-kotlin.sh            all tests
#   scripts/test-kotlin.sh Pattern    only test classes whose name contains Pattern
set -euo pipefail

cd "$(dirname "$0")/.."
root=$(pwd)
tools="$root/.tools"
kotlin_version=2.4.20
kotlin_home="$tools/kotlin/node_modules/kotlin-compiler"
filter="${1:-}"

log() { echo "test-kotlin: $*" >&2; }

# ---- toolchain -------------------------------------------------------------------------
if ! command -v java >/dev/null 2>&1 || [ ! -f /usr/share/java/jna.jar ] || [ ! -f /usr/share/java/junit4.jar ]; then
    log "installing JDK, JNA and JUnit 4 (Debian packages)"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq default-jdk-headless libjna-java junit4 >/dev/null
fi

installed_version() {
    sed -n 's/.*"version": *"\([^"]*\)".*/\1/p' "$kotlin_home/package.json" 2>/dev/null | head -n1
}
if [ ! -x "$kotlin_home/bin/kotlinc" ] || [ "$(installed_version)" != "$kotlin_version" ]; then
    command -v npm >/dev/null 2>&1 || {
        log "installing npm (Debian package)"
        apt-get update -qq && apt-get install -y -qq npm >/dev/null
    }
    log "installing kotlinc $kotlin_version into .tools/kotlin (npm package kotlin-compiler)"
    mkdir -p "$tools/kotlin"
    npm install --prefix "$tools/kotlin" --no-audit --no-fund --silent "kotlin-compiler@$kotlin_version" >/dev/null
fi
kotlinc="$kotlin_home/bin/kotlinc"
klib="$kotlin_home/lib"

# ---- native library and bindings --------------------------------------------------------
log "building the library and checking the generated bindings"
scripts/generate-bindings.sh --check
target_dir="${CARGO_TARGET_DIR:-$root/target}"
libdir="$target_dir/debug"
# The sync tests run the reference server on 127.0.0.1.
cargo build --quiet -p gridworker-server
server_bin="$target_dir/debug/gridworker-server"

# ---- compile ------------------------------------------------------------------------------
out="$target_dir/kotlin-test"
mkdir -p "$out"
classes="$out/classes"
sources=(android/src/main/kotlin/org/gridworker/core/*.kt android/src/test/kotlin/org/gridworker/core/*.kt
    android/src/main/kotlin/org/gridworker/android/SealedKeyStore.kt android/src/main/kotlin/org/gridworker/android/TrackBatcher.kt
    android/src/main/kotlin/org/gridworker/android/Changes.kt
    android/src/test/kotlin/org/gridworker/android/*.kt)
cp_compile="/usr/share/java/jna.jar:/usr/share/java/junit4.jar:/usr/share/java/hamcrest-core.jar:$klib/kotlinx-coroutines-core-jvm.jar:$klib/kotlin-test.jar:$klib/kotlin-test-junit.jar"

# Recompile only when a source changed (kotlinc takes tens of seconds).
stamp="$out/sources.sha256"
sum=$(cat "${sources[@]}" | sha256sum | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$sum" ] || [ ! -d "$classes" ]; then
    log "compiling ${#sources[@]} Kotlin files"
    rm -rf "$classes"
    "$kotlinc" -nowarn -jvm-target 17 -cp "$cp_compile" -d "$classes" "${sources[@]}" 2>&1 |
        grep -v '^warning: ' >&2 || true
    [ -d "$classes/org" ] || {
        log "kotlinc failed"
        echo "kotlin: 0 passed, 1 failed"
        exit 1
    }
    echo "$sum" >"$stamp"
fi

# ---- the Android-only helpers, type-checked against API stubs (android/src/apiStubs) ------
helpers=(android/src/main/kotlin/org/gridworker/android/{PatrolLocationListener,LocationFixes,SyncWorker,NetworkMonitor,StoreKeys}.kt)
mapfile -t stubs < <(find android/src/apiStubs -name '*.java' -o -name '*.kt' | sort)
stub_classes="$out/stub-classes"
stub_stamp="$out/stubs.sha256"
stub_sum=$(cat "$stamp" "${helpers[@]}" "${stubs[@]}" | sha256sum | cut -d' ' -f1)
if [ ! -f "$stub_stamp" ] || [ "$(cat "$stub_stamp")" != "$stub_sum" ]; then
    log "type-checking ${#helpers[@]} Android helpers against the API stubs"
    rm -rf "$stub_classes"
    "$kotlinc" -nowarn -jvm-target 17 -cp "$classes:$cp_compile" -d "$stub_classes" "${stubs[@]}" "${helpers[@]}" 2>&1 |
        grep -v '^warning: ' >&2 || true
    [ -f "$stub_classes/org/gridworker/android/SyncWorker.class" ] || {
        log "the Android helpers do not compile against the API stubs and the bindings"
        echo "kotlin: 0 passed, 1 failed"
        exit 1
    }
    echo "$stub_sum" >"$stub_stamp"
fi

# ---- run ----------------------------------------------------------------------------------
tests=()
for f in android/src/test/kotlin/org/gridworker/core/*Test.kt android/src/test/kotlin/org/gridworker/android/*Test.kt; do
    name=$(basename "$f" .kt)
    if [ -z "$filter" ] || [[ "$name" == *"$filter"* ]]; then
        tests+=("org.gridworker.$(basename "$(dirname "$f")").$name")
    fi
done
[ ${#tests[@]} -gt 0 ] || {
    log "no test class matches '$filter'"
    exit 2
}

report="$out/junit.txt"
set +e
java -Xss4m \
    -Djna.library.path="$libdir" \
    -Dgridworker.repo="$root" \
    -Dgridworker.server="$server_bin" \
    -cp "$classes:$cp_compile:$klib/kotlin-stdlib.jar" \
    org.junit.runner.JUnitCore "${tests[@]}" >"$report" 2>&1
status=$?
set -e
cat "$report"

# JUnitCore ends with "OK (N tests)" or "Tests run: N,  Failures: M".
if ok=$(grep -oE '^OK \(([0-9]+) tests?\)' "$report"); then
    total=$(echo "$ok" | grep -oE '[0-9]+')
    failed=0
elif line=$(grep -E '^Tests run: [0-9]+,  Failures: [0-9]+' "$report"); then
    total=$(echo "$line" | sed -E 's/^Tests run: ([0-9]+).*/\1/')
    failed=$(echo "$line" | sed -E 's/.*Failures: ([0-9]+).*/\1/')
else
    total=0
    failed=1
fi
passed=$((total - failed))
echo "kotlin: $passed passed, $failed failed"
if [ "$status" -ne 0 ] || [ "$failed" -ne 0 ]; then
    exit 1
fi
