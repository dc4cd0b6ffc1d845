#!/usr/bin/env bash
# Runs the whole test suite (the command .ci/run calls). Exit code 5 (no tests) fails.
set -euo pipefail
cd "$(dirname "$0")/.."
export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-/tmp/osp-runtime-$(id -u)}"
mkdir -p "$XDG_RUNTIME_DIR"; chmod 700 "$XDG_RUNTIME_DIR"
# A private base temp dir: pytest's shared numbered dirs are pruned by any other pytest run
# on the machine, which would delete the embedded Postgres under a running session.
BASETEMP="$(mktemp -d /tmp/osp-tests.XXXXXX)"
chmod 755 "$BASETEMP"
set +e
.venv/bin/python -m pytest --basetemp="$BASETEMP" -p no:cacheprovider "$@"
rc=$?
set -e
rm -rf "$BASETEMP"
if [ "$rc" -eq 5 ]; then echo "no tests were collected: failing" >&2; exit 1; fi
exit "$rc"
