#!/usr/bin/env bash
# Builds dockdap (library and binary) for Windows, where many users run
# their editor, and runs the library's unit tests there, under Wine:
# cfg(unix)-only code (Unix sockets, the SSH master's control socket, file
# modes) must have a Windows side, and the Windows side must work (paths
# with `\`, no procfs, COMPOSE_FILE split on `;`, the named pipe as the
# default engine). Installs the Rust target, the MinGW C compiler (ring's
# build script compiles C for the target) and Wine when missing; apt waits
# for its lock when scripts/setup.sh runs beside it. Output goes to
# target/windows (kept apart so the Linux build is not invalidated), Wine's
# prefix to target/windows/wine. The Windows dockdap.exe it leaves there is
# what tests/windows_wine.rs debugs a remote engine's container with.
#
#   bash scripts/check-windows.sh
set -euo pipefail
cd "$(dirname "$0")/.."
TARGET=x86_64-pc-windows-gnu
OUT=target/windows
DEPS="$OUT/$TARGET/debug/deps"

rustup target list --installed | grep -qx "$TARGET" || rustup target add "$TARGET"
wine=$(command -v wine64 || echo /usr/lib/wine/wine64)
if ! command -v x86_64-w64-mingw32-gcc >/dev/null || [ ! -x "$wine" ]; then
  if [ "$(id -u)" -eq 0 ]; then SUDO=""; else SUDO="sudo"; fi
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=900 install -y -qq \
    --no-install-recommends gcc-mingw-w64-x86-64 wine64 >/dev/null
fi

# The unit tests of the library and of the binary, and the binary itself
# (tests/windows_wine.rs runs it against a remote engine).
CARGO_TARGET_DIR=$OUT cargo test --locked --target "$TARGET" --lib --bins --no-run
CARGO_TARGET_DIR=$OUT cargo build --locked --target "$TARGET" --bins

# Wine 8.0 lacks ProcessPrng, which Rust's standard library needs (see the C
# file); Windows looks for a DLL beside the program first.
x86_64-w64-mingw32-gcc -shared -O2 -o "$DEPS/bcryptprimitives.dll" \
  scripts/windows/bcryptprimitives.c scripts/windows/bcryptprimitives.def -ladvapi32
cp "$DEPS/bcryptprimitives.dll" "$OUT/$TARGET/debug/"
export WINEPREFIX="$PWD/$OUT/wine" WINEDEBUG=-all
for test in $(CARGO_TARGET_DIR=$OUT cargo test --locked --target "$TARGET" --lib --bins --no-run --message-format=json 2>/dev/null \
  | python3 -c 'import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m.get("executable"):
        print(m["executable"])'); do
  echo "check-windows: $(basename "$test") under Wine"
  "$wine" "$test" --quiet
done
