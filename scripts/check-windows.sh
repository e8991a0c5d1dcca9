#!/usr/bin/env bash
# Type-checks dockdap (library and binary) for Windows, where many users
# run their editor: cfg(unix)-only code (Unix sockets, the SSH master's
# control socket, file modes) must have a Windows side. Installs the Rust
# target and the MinGW C compiler (ring's build script compiles C for the
# target) when missing; the compiler waits for apt's lock when
# scripts/setup.sh runs beside it. Output goes to target/windows (kept
# apart so the Linux build is not invalidated).
#
#   bash scripts/check-windows.sh
set -euo pipefail
cd "$(dirname "$0")/.."
TARGET=x86_64-pc-windows-gnu

rustup target list --installed | grep -qx "$TARGET" || rustup target add "$TARGET"
if ! command -v x86_64-w64-mingw32-gcc >/dev/null; then
  if [ "$(id -u)" -eq 0 ]; then SUDO=""; else SUDO="sudo"; fi
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=900 install -y -qq \
    --no-install-recommends gcc-mingw-w64-x86-64 >/dev/null
fi
CARGO_TARGET_DIR=target/windows cargo check --locked --target "$TARGET" --lib --bins
