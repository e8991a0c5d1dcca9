#!/usr/bin/env bash
# The test command: installs what the tests need (scripts/setup.sh: Debian
# packages, debugpy for the host's python3, the example images built
# offline; each step a no-op when already done), starts the test engines
# (scripts/engines.sh), builds dockdap for Windows (scripts/check-windows.sh),
# then runs every test.
#
#   bash scripts/test.sh                 # everything
#   bash scripts/test.sh --test cli      # arguments go to `cargo test`
#
# Under CI=true, tests whose prerequisites are missing fail instead of
# skipping. .ci/run calls this after formatting and lint checks.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh
# The test engines (a remote Docker Engine over TLS and SSH, Podman's API
# service), started once and shared by every test that needs them; about
# 30 s the first time, most of it copying the example images in.
bash scripts/engines.sh up
# dockdap's Windows build, for tests/windows_wine.rs (its unit tests run
# under Wine on the way); rebuilt only where the sources changed, a few
# seconds when .ci/run has just made it.
bash scripts/check-windows.sh
cargo test --no-fail-fast "$@"
