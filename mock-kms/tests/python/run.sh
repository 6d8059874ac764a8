#!/usr/bin/env bash
# Cross-check the mock KMS with the Python clients our users' tools use (boto3, google-cloud-kms,
# azure-keyvault-keys + azure-identity): makes a venv under ${CARGO_TARGET_DIR:-target}/pyenv,
# installs the pinned requirements, builds and starts the `mock-kms` binary on port 0, runs pytest
# on this directory with MOCK_HTTP / MOCK_HTTPS (host:port) and MOCK_CA_CERT (path) set, and
# stops the mock. Extra arguments go to pytest.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../../.." && pwd)"
cd "$root"
target="${CARGO_TARGET_DIR:-target}"
case "$target" in /*) ;; *) target="$root/$target" ;; esac
venv="$target/pyenv"

if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
fi
stamp="$venv/.requirements.sha256"
want="$(sha256sum "$here/requirements.txt" | cut -d' ' -f1)"
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$here/requirements.txt"
  echo "$want" > "$stamp"
fi

locked=()
if [ -n "${CI:-}" ]; then locked=(--locked); fi
cargo build --quiet "${locked[@]}" -p ekm-mock-kms --bin mock-kms

work="$(mktemp -d)"
"$target/debug/mock-kms" --http 127.0.0.1:0 --https 127.0.0.1:0 --ca-cert "$work/ca.pem" \
  > "$work/start.json" 2> "$work/mock.log" &
pid=$!
cleanup() {
  kill -TERM "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

for _ in $(seq 1 300); do
  if [ -s "$work/start.json" ]; then break; fi
  if ! kill -0 "$pid" 2>/dev/null; then
    cat "$work/mock.log" >&2
    echo "mock-kms exited before printing its start line" >&2
    exit 1
  fi
  sleep 0.1
done
start="$(head -n 1 "$work/start.json")"
field() { "$venv/bin/python" -c 'import json,sys; print(json.loads(sys.argv[1])[sys.argv[2]])' "$start" "$1"; }
MOCK_HTTP="$(field http)"
MOCK_HTTPS="$(field https)"
MOCK_CA_CERT="$(field ca_cert)"
export MOCK_HTTP MOCK_HTTPS MOCK_CA_CERT

status=0
"$venv/bin/python" -m pytest -q -p no:cacheprovider "$here" "$@" || status=$?
if [ "$status" -ne 0 ]; then
  echo "--- mock-kms log ---" >&2
  tail -n 50 "$work/mock.log" >&2
fi
exit "$status"
