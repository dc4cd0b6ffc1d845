#!/usr/bin/env bash
# Runs the whole test suite (the command .ci/run calls). Exit code 5 (no tests) fails.
set -euo pipefail
cd "$(dirname "$0")/.."
# `scripts/setup.sh --up` installs the platform only: the first test run installs the rest
# (test tools, the encoder's build tools, the OpenID test server, chromium).
if [ ! -f .venv/.osp-test-tools ] || [ pyproject.toml -nt .venv/.osp-test-tools ]; then
  echo "==> the test tools are missing or older than pyproject.toml: running scripts/setup.sh first"
  bash scripts/setup.sh
fi
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
