#!/usr/bin/env bash
# Installs what dockdap's tests and demo need on a fresh Debian machine that
# already runs a Docker Engine, and builds the example images offline:
#   - debootstrap (for the image recipe), and lua5.4, emacs-nox,
#     elpa-dap-mode and nodejs (for tests/editors.rs), from Debian's packages;
#   - podman, openssh-server, openssl, iproute2 (for scripts/engines.sh, the
#     test engines of tests/engines.rs);
#   - debugpy for the host's python3 (the DAP core tests run a real debugpy),
#     and the official Kubernetes Python client (tests/kube_sim.rs checks the
#     Kubernetes API simulation with it; kubectl itself comes with the machine);
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

# Debian packages, each only when what it provides is missing. emacs-nox goes
# in the same call as elpa-dap-mode, or apt satisfies dap-mode's `emacs`
# dependency with the X11 build; the test tools skip recommended packages.
apt_install() { # [--no-install-recommends] PACKAGE...
  say "installing ${*/--no-install-recommends/}"
  if [ "$(id -u)" -eq 0 ]; then SUDO=""; else SUDO="sudo"; fi
  if [ -z "${apt_updated:-}" ]; then $SUDO apt-get update -qq; apt_updated=1; fi
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}
command -v debootstrap >/dev/null || apt_install debootstrap      # the image recipe
tools=()
command -v lua5.4 >/dev/null || tools+=(lua5.4)                   # tests/editors.rs: Neovim Lua
command -v emacs >/dev/null || tools+=(emacs-nox)                 # tests/editors.rs: Emacs Lisp
dpkg -s elpa-dap-mode >/dev/null 2>&1 || tools+=(elpa-dap-mode)   # tests/editors.rs: a real DAP client
command -v node >/dev/null || tools+=(nodejs)                     # tests/editors.rs: the VS Code extension
# tests/compose.rs: the Compose tool (Docker's plugin, else Debian's docker-compose)
docker compose version >/dev/null 2>&1 || command -v docker-compose >/dev/null || tools+=(docker-compose)
if [ ${#tools[@]} -gt 0 ]; then apt_install --no-install-recommends "${tools[@]}"; fi

# >>> engines (issue 16): the test engines of scripts/engines.sh: a second
# dockerd reached over TLS (openssl makes the certificates) and SSH
# (openssh-server), and Podman's API. None of their services may start on
# install (an sshd on every interface): a policy-rc.d says so while apt runs,
# where the machine has none of its own.
engine_tools=()
command -v podman >/dev/null || engine_tools+=(podman)
[ -x /usr/sbin/sshd ] || engine_tools+=(openssh-server)
command -v openssl >/dev/null || engine_tools+=(openssl)
command -v ip >/dev/null || engine_tools+=(iproute2)
command -v nsenter >/dev/null || engine_tools+=(util-linux)
command -v curl >/dev/null || engine_tools+=(curl)
if [ ${#engine_tools[@]} -gt 0 ]; then
  made_policy=""
  if [ ! -e /usr/sbin/policy-rc.d ] && [ "$(id -u)" -eq 0 ]; then
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d && made_policy=1
  fi
  apt_install --no-install-recommends "${engine_tools[@]}"
  [ -z "$made_policy" ] || rm -f /usr/sbin/policy-rc.d
fi
# <<< engines

PYTHON=${PYTHON:-python3}
debugpy_pin=$(grep -E '^debugpy==' images/requirements-debug.txt)
if ! "$PYTHON" -c 'import debugpy' 2>/dev/null; then
  say "installing $debugpy_pin for $PYTHON (used by the tests)"
  "$PYTHON" -m pip install -q --disable-pip-version-check "$debugpy_pin"
fi

kubernetes_pin="kubernetes==37.0.2"
if ! "$PYTHON" -c 'import kubernetes' 2>/dev/null; then
  say "installing $kubernetes_pin for $PYTHON (used by tests/kube_sim.rs)"
  "$PYTHON" -m pip install -q --disable-pip-version-check "$kubernetes_pin"
fi

say "building the example images (a no-op when they are up to date)"
bash images/build-images.sh
