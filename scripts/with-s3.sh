#!/usr/bin/env bash
# Runs a command with an S3-compatible server for the photo store's tests: moto's server
# (PyPI `moto[server]`, pinned; installed into a virtualenv under .tools/) on a free loopback
# port, with an empty bucket, stopped at the end. The command sees GRIDWORKER_TEST_PHOTOS
# (s3://BUCKET?endpoint=URL) and throwaway AWS_* credentials.
#   scripts/with-s3.sh cargo nextest run -p gridworker-server
# GRIDWORKER_TEST_PHOTOS already set: the command runs against that bucket instead.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ -n "${GRIDWORKER_TEST_PHOTOS:-}" ]; then
  exec "$@"
fi

MOTO_VERSION=5.2.5
venv=.tools/moto-$MOTO_VERSION
if [ ! -x "$venv/bin/moto_server" ]; then
  echo "==> installing moto[server] $MOTO_VERSION from PyPI into $venv" >&2
  if ! python3 -m venv "$venv" >/dev/null 2>&1; then
    # Debian splits venv (and its pip) into python3-venv.
    rm -rf "$venv"
    sudo_cmd=""
    [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
    $sudo_cmd apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq python3-venv >/dev/null
    python3 -m venv "$venv"
  fi
  "$venv/bin/pip" install -q "moto[server]==$MOTO_VERSION"
fi

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
log=$(mktemp /tmp/gridworker-s3.XXXXXX.log)
"$venv/bin/moto_server" -H 127.0.0.1 -p "$port" >"$log" 2>&1 &
pid=$!
stop() {
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  rm -f "$log"
}
trap stop EXIT

export AWS_ACCESS_KEY_ID=gridworker-test AWS_SECRET_ACCESS_KEY=gridworker-test AWS_REGION=us-east-1
endpoint="http://127.0.0.1:$port"
ready=0
for _ in $(seq 1 150); do
  if "$venv/bin/python" - "$endpoint" <<'PY' 2>/dev/null
import sys, boto3
boto3.client("s3", endpoint_url=sys.argv[1], region_name="us-east-1").create_bucket(Bucket="gridworker-test")
PY
  then
    ready=1
    break
  fi
  sleep 0.2
done
if [ "$ready" != 1 ]; then
  echo "moto's S3 server did not start; its log:" >&2
  cat "$log" >&2
  exit 1
fi
export GRIDWORKER_TEST_PHOTOS="s3://gridworker-test?endpoint=$endpoint"
echo "==> S3-compatible photo store: moto $MOTO_VERSION on $endpoint (bucket gridworker-test)" >&2
"$@"
