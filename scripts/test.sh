#!/usr/bin/env bash
# The test command: installs what the tests need (scripts/setup.sh: Debian
# packages, debugpy for the host's python3, the example images built
# offline; each step a no-op when already done), then runs every test.
#
#   bash scripts/test.sh                 # everything
#   bash scripts/test.sh --test cli      # arguments go to `cargo test`
#
# Under CI=true, tests whose prerequisites are missing fail instead of
# skipping. .ci/run calls this after formatting and lint checks.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh
cargo test "$@"
