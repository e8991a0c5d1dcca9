#!/usr/bin/env bash
# Installs what dockdap's tests and demo need on a fresh Debian machine that
# already runs a Docker Engine, and builds the example images offline:
#   - debootstrap (for the image recipe), from Debian's packages;
#   - debugpy for the host's python3 (the DAP core tests run a real debugpy);
#   - the images dockdap/python, dockdap/azureml-score:{stock,debug}
#     (skipped when their recipe hash label is unchanged).
# Safe to run again: every step checks before it acts.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf 'setup: %s\n' "$*" >&2; }

if ! command -v docker >/dev/null || ! docker info >/dev/null 2>&1; then
  say "no Docker Engine answers; install and start it first (e.g. apt-get install docker.io)"
  exit 1
fi

if ! command -v debootstrap >/dev/null; then
  say "installing debootstrap"
  if [ "$(id -u)" -eq 0 ]; then SUDO=""; else SUDO="sudo"; fi
  $SUDO apt-get update -qq
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null
fi

PYTHON=${PYTHON:-python3}
debugpy_pin=$(grep -E '^debugpy==' images/requirements-debug.txt)
if ! "$PYTHON" -c 'import debugpy' 2>/dev/null; then
  say "installing $debugpy_pin for $PYTHON (used by the tests)"
  "$PYTHON" -m pip install -q --disable-pip-version-check "$debugpy_pin"
fi

say "building the example images (a no-op when they are up to date)"
bash images/build-images.sh
