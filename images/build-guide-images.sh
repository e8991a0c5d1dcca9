#!/usr/bin/env bash
# Build the "guide" images OFFLINE: Azure ML inference server images whose
# entry script starts a debugger itself, as the Azure ML debugging guide
# tells users to, on top of dockdap/azureml-score:stock (build-images.sh):
#
#   dockdap/guide:debugpy  score.py starts with debugpy.listen(("0.0.0.0", 5678))
#                          + debugpy.wait_for_client(); debugpy installed
#   dockdap/guide:ptvsd    score.py starts with ptvsd.enable_attach(...) +
#                          ptvsd.wait_for_attach(timeout=30); ptvsd 4.3.2 installed
#
# Both run `azmlinfsrv --entry_script score.py` on port 5001 and expose only
# 5001: what dockdap's `debugger: "auto"` knows about the debugger, it must
# read from the image's files. The entry scripts are
# examples/azureml-guide/{debugpy,ptvsd}/score.py (the tests' workspaces).
#
# One layer each (docker create + cp + commit on the stock image, nothing
# pulled), labelled dockdap.recipe=<sha256 of this script, the wheel list,
# score.py and the parent's recipe>; an image whose label matches is skipped.
# Wheels come from PyPI into ${DOCKDAP_CACHE:-$HOME/.cache/dockdap}/wheels
# (shared with build-images.sh), only when the cache lacks them.
#
# Usage: images/build-guide-images.sh [--force]
# Environment: DOCKDAP_CACHE, DOCKER (default docker), PYTHON (default python3).
set -euo pipefail

SCRIPT_PATH=$(readlink -f "${BASH_SOURCE[0]}")
IMAGES_DIR=$(dirname "$SCRIPT_PATH")
REPO_ROOT=$(dirname "$IMAGES_DIR")
GUIDE_DIR=$REPO_ROOT/examples/azureml-guide
CACHE_DIR=${DOCKDAP_CACHE:-$HOME/.cache/dockdap}
WHEEL_DIR=$CACHE_DIR/wheels
DOCKER=${DOCKER:-docker}
PYTHON=${PYTHON:-python3}

PARENT=dockdap/azureml-score:stock
APP_ROOT=/var/azureml-app
SITE_PACKAGES=/usr/local/lib/python3.11/dist-packages
PIP_PLATFORM_ARGS=(--only-binary=:all: --implementation cp --python-version 3.11
  --platform manylinux2014_x86_64 --platform manylinux_2_17_x86_64)
GUIDE_CMD='["azmlinfsrv", "--entry_script", "score.py", "--port", "5001"]'

FORCE=0
for arg in "$@"; do
  case $arg in
    --force) FORCE=1 ;;
    -h|--help) sed -n '2,/^set -euo/p' "$SCRIPT_PATH" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "build-guide-images.sh: unknown argument: $arg (try --help)" >&2; exit 2 ;;
  esac
done

START=$SECONDS
log() { printf '[build-guide-images %4ss] %s\n' "$((SECONDS - START))" "$*" >&2; }
die() { printf 'build-guide-images.sh: ERROR: %s\n' "$*" >&2; exit 1; }
export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_ROOT_USER_ACTION=ignore PIP_BREAK_SYSTEM_PACKAGES=1 PIP_NO_INPUT=1

"$DOCKER" version --format '{{.Server.Version}}' >/dev/null 2>&1 \
  || die "cannot talk to the Docker daemon with '$DOCKER' (is dockerd running, may this user use it?)"
label() { "$DOCKER" image inspect --format "{{index .Config.Labels \"$2\"}}" "$1" 2>/dev/null || true; }
PARENT_RECIPE=$(label "$PARENT" dockdap.recipe)
[ -n "$PARENT_RECIPE" ] || die "$PARENT is missing: run images/build-images.sh first"
"$PYTHON" -m pip --version >/dev/null 2>&1 || die "pip is missing for '$PYTHON': apt-get install python3-pip, or set PYTHON"

mkdir -p "$WHEEL_DIR"
BUILD_DIR=$(mktemp -d "${TMPDIR:-/tmp}/dockdap-guide.XXXXXX")
CONTAINER=
cleanup() {
  [ -z "$CONTAINER" ] || "$DOCKER" rm -f "$CONTAINER" >/dev/null 2>&1 || true
  rm -rf "$BUILD_DIR"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# build TAG REQUIREMENTS SCORE DESCRIPTION: one layer on $PARENT with the
# wheels of REQUIREMENTS and SCORE as $APP_ROOT/score.py.
build() {
  local tag=$1 req=$2 score=$3 description=$4 recipe old t0=$SECONDS tree=$BUILD_DIR/tree
  recipe=$({
    echo "dockdap-guide-recipe-v1 parent=$PARENT_RECIPE"
    for f in "$SCRIPT_PATH" "$req" "$score"; do
      printf '%s  %s\n' "$(sha256sum <"$f" | cut -d' ' -f1)" "${f#"$REPO_ROOT"/}"
    done
  } | sha256sum | cut -d' ' -f1)
  old=$(label "$tag" dockdap.recipe)
  if [ "$FORCE" -eq 0 ] && [ "$old" = "$recipe" ]; then
    log "$tag is up to date (dockdap.recipe=${recipe:0:12}), skipping"
    return
  fi
  log "building $tag (recipe ${recipe:0:12}${old:+, was ${old:0:12}})"
  if ! "$PYTHON" -m pip download -q --no-index --find-links "$WHEEL_DIR" -d "$WHEEL_DIR" \
      "${PIP_PLATFORM_ARGS[@]}" -r "$req" >/dev/null 2>&1; then
    log "downloading the wheels of ${req#"$REPO_ROOT"/} from PyPI into $WHEEL_DIR"
    "$PYTHON" -m pip download -q -d "$WHEEL_DIR" "${PIP_PLATFORM_ARGS[@]}" -r "$req" >&2 \
      || die "pip download failed for $req"
  fi
  rm -rf "$tree" && mkdir -p "$tree$APP_ROOT"
  # .pyc as pip writes them, when the host's python has the image's minor
  # version (else the image would write them into the container at run time).
  local compile=--no-compile
  if [ "$("$PYTHON" -c 'import sys; print("%d.%d" % sys.version_info[:2])')" = 3.11 ]; then compile=--compile; fi
  "$PYTHON" -m pip install -q --no-index --find-links "$WHEEL_DIR" "${PIP_PLATFORM_ARGS[@]}" \
      --target "$tree$SITE_PACKAGES" $compile --no-warn-conflicts -r "$req" >&2 \
    || die "pip install --target failed for $req"
  rm -rf "$tree$SITE_PACKAGES/bin"
  cp "$score" "$tree$APP_ROOT/score.py"
  CONTAINER=$("$DOCKER" create "$PARENT") || die "docker create $PARENT failed"
  "$DOCKER" cp "$tree/." "$CONTAINER:/" || die "docker cp into a container of $PARENT failed"
  "$DOCKER" commit --message "dockdap build-guide-images.sh: $description" \
      --change "ENV AZUREML_ENTRY_SCRIPT=score.py" \
      --change "CMD $GUIDE_CMD" \
      --change "LABEL org.opencontainers.image.description=\"$description\" dockdap.recipe=$recipe" \
      "$CONTAINER" "$tag" >/dev/null || die "docker commit $tag failed"
  "$DOCKER" rm "$CONTAINER" >/dev/null
  CONTAINER=
  log "committed $tag in $((SECONDS - t0))s"
  # The replaced image, when nothing else uses it (best effort).
  if [ -n "$old" ]; then "$DOCKER" image prune -f --filter "label=dockdap.recipe=$old" >/dev/null 2>&1 || true; fi
}

build dockdap/guide:debugpy "$IMAGES_DIR/requirements-debug.txt" "$GUIDE_DIR/debugpy/score.py" \
  "Azure ML inference server; score.py starts debugpy on 0.0.0.0:5678 and waits for a client (the guide's pattern with debugpy)"
build dockdap/guide:ptvsd "$IMAGES_DIR/requirements-guide-ptvsd.txt" "$GUIDE_DIR/ptvsd/score.py" \
  "Azure ML inference server; score.py runs ptvsd 4.3.2 enable_attach on 0.0.0.0:5678 and waits 30 s (the guide's pattern)"
log "done: dockdap/guide:debugpy dockdap/guide:ptvsd"
