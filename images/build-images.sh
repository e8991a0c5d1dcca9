#!/usr/bin/env bash
# Build dockdap's test/example images OFFLINE (no container registry needed):
#
#   dockdap/python:3.11-bookworm   debootstrap --variant=minbase bookworm + python3
#   dockdap/azureml-score:stock    + Azure ML inference server + examples/azureml-score
#   dockdap/azureml-score:debug    + debugpy, listening on 0.0.0.0:5678 and waiting
#                                  for a DAP client before init() runs
#
# Layers: the base is a `docker import` of the debootstrap tarball; stock and
# debug each add one layer with docker create + cp + commit (no Dockerfile, no
# BuildKit, nothing pulled). examples/azureml-score/Dockerfile* are the
# equivalent recipes for machines that can pull python:3.11-slim.
#
# Needs: root, docker, debootstrap, a python3 with pip (see apt-packages.txt);
# reaches only Debian's mirror and PyPI, and only when its caches are cold.
#
# Each image carries the label dockdap.recipe=<sha256 of its inputs>: this
# script, the files copied into the image, the pinned wheel lists and the
# parent image's recipe. An image whose label already matches is skipped, so a
# second run is a no-op. Caches live under ${DOCKDAP_CACHE:-$HOME/.cache/dockdap}:
# the debootstrap root as a tarball (rootfs/), the wheels (wheels/).
#
# Usage: images/build-images.sh [--force] [--rebuild-rootfs]
#   --force           rebuild all three images even if their labels match
#   --rebuild-rootfs  redo debootstrap even if the cached tarball exists (implies --force)
# Environment: DOCKDAP_CACHE, DOCKER (default docker), PYTHON (default python3,
#   used for pip), DOCKDAP_DEBIAN_MIRROR (default http://deb.debian.org/debian).
set -euo pipefail

SCRIPT_PATH=$(readlink -f "${BASH_SOURCE[0]}")
IMAGES_DIR=$(dirname "$SCRIPT_PATH")
REPO_ROOT=$(dirname "$IMAGES_DIR")
EXAMPLE_DIR=$REPO_ROOT/examples/azureml-score
CACHE_DIR=${DOCKDAP_CACHE:-$HOME/.cache/dockdap}
DOCKER=${DOCKER:-docker}
PYTHON=${PYTHON:-python3}
MIRROR=${DOCKDAP_DEBIAN_MIRROR:-http://deb.debian.org/debian}

SUITE=bookworm
DEBOOTSTRAP_INCLUDE=python3
BASE_IMAGE=dockdap/python:3.11-bookworm
STOCK_IMAGE=dockdap/azureml-score:stock
DEBUG_IMAGE=dockdap/azureml-score:debug
APP_ROOT=/var/azureml-app
MODEL_NAME=dockdap-linear-demo
MODEL_DIR=$APP_ROOT/azureml-models/$MODEL_NAME/1
SITE_PACKAGES=/usr/local/lib/python3.11/dist-packages
DEBUG_PORT=5678
# Wheels for the image's interpreter (Debian bookworm: CPython 3.11, glibc 2.36),
# whatever python runs pip on the host.
PIP_PLATFORM_ARGS=(--only-binary=:all: --implementation cp --python-version 3.11
  --platform manylinux2014_x86_64 --platform manylinux_2_17_x86_64)

FORCE=0
REBUILD_ROOTFS=0
for arg in "$@"; do
  case $arg in
    --force) FORCE=1 ;;
    --rebuild-rootfs) REBUILD_ROOTFS=1; FORCE=1 ;;
    -h|--help) sed -n '2,/^set -euo/p' "$SCRIPT_PATH" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "build-images.sh: unknown argument: $arg (try --help)" >&2; exit 2 ;;
  esac
done

START=$SECONDS
log() { printf '[build-images %4ss] %s\n' "$((SECONDS - START))" "$*" >&2; }
die() { printf 'build-images.sh: ERROR: %s\n' "$*" >&2; exit 1; }

need_docker() {
  command -v "$DOCKER" >/dev/null 2>&1 \
    || die "'$DOCKER' not found: install the Docker Engine and CLI (apt-get install docker.io)"
  "$DOCKER" version --format '{{.Server.Version}}' >/dev/null 2>&1 \
    || die "cannot talk to the Docker daemon with '$DOCKER' (is dockerd running, may this user use it?)"
}
need_debootstrap() {
  command -v debootstrap >/dev/null 2>&1 \
    || die "debootstrap not found: apt-get install debootstrap (see images/apt-packages.txt)"
  [ "$(id -u)" -eq 0 ] || die "debootstrap must run as root (run this script as root)"
}
need_pip() {
  command -v "$PYTHON" >/dev/null 2>&1 || die "'$PYTHON' not found: apt-get install python3-pip, or set PYTHON=/path/to/python3"
  "$PYTHON" -m pip --version >/dev/null 2>&1 \
    || die "pip is missing for '$PYTHON': apt-get install python3-pip, or set PYTHON to a python with pip"
}

# Quiet, predictable pip; PEP 668 does not apply: we only install with --target.
export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_ROOT_USER_ACTION=ignore PIP_BREAK_SYSTEM_PACKAGES=1 PIP_NO_INPUT=1

sha256_of_stdin() { sha256sum | cut -d' ' -f1; }

# recipe_hash PARENT_HASH FILE...: sha256 over the parent's hash and each
# file's repo-relative path and content hash.
recipe_hash() {
  local parent=$1 f
  shift
  {
    echo "dockdap-recipe-v1 parent=$parent"
    for f in "$@"; do
      printf '%s  %s\n' "$(sha256_of_stdin <"$f")" "${f#"$REPO_ROOT"/}"
    done
  } | sha256_of_stdin
}

image_recipe() { # prints the dockdap.recipe label of an image, or nothing
  "$DOCKER" image inspect --format '{{index .Config.Labels "dockdap.recipe"}}' "$1" 2>/dev/null || true
}
image_id() { "$DOCKER" image inspect --format '{{.Id}}' "$1" 2>/dev/null || true; }

OLD_IDS=()
# up_to_date IMAGE HASH: 0 when the image exists with that recipe (and no --force)
up_to_date() {
  local have
  have=$(image_recipe "$1")
  if [ "$FORCE" -eq 0 ] && [ "$have" = "$2" ]; then
    log "$1 is up to date (dockdap.recipe=${2:0:12}), skipping"
    return 0
  fi
  if [ -n "$have" ]; then
    if [ "$have" = "$2" ]; then log "$1: --force, rebuilding"; else log "$1 has recipe ${have:0:12}, want ${2:0:12}: rebuilding"; fi
    OLD_IDS=("$(image_id "$1")" "${OLD_IDS[@]}")
  else
    log "$1 does not exist: building"
  fi
  return 1
}

# commit_layer PARENT ROOTFS_DIR TAG MESSAGE [--change LINE]...: one new layer
# holding ROOTFS_DIR's tree on top of PARENT, plus image config changes.
# docker create + docker cp + docker commit: no registry, no BuildKit/buildx,
# no container is ever started, and it is several times faster than a
# classic `docker build` (which commits one layer per Dockerfile step).
commit_layer() {
  local parent=$1 tree=$2 tag=$3 message=$4 cid t0=$SECONDS
  shift 4
  cid=$("$DOCKER" create "$parent") || die "docker create $parent failed"
  CONTAINERS+=("$cid")
  "$DOCKER" cp "$tree/." "$cid:/" || die "docker cp into a container of $parent failed"
  "$DOCKER" commit --message "$message" "$@" "$cid" "$tag" >/dev/null || die "docker commit $tag failed"
  "$DOCKER" rm "$cid" >/dev/null
  log "committed $tag in $((SECONDS - t0))s"
}

# ---------------------------------------------------------------------------
need_docker
mkdir -p "$CACHE_DIR"
exec 9>"$CACHE_DIR/.build-images.lock"
if command -v flock >/dev/null 2>&1; then
  flock -n 9 || { log "another build-images.sh holds $CACHE_DIR/.build-images.lock, waiting"; flock 9; }
fi
WHEEL_DIR=$CACHE_DIR/wheels
BUILD_DIR=$CACHE_DIR/build
mkdir -p "$WHEEL_DIR" "$CACHE_DIR/rootfs"

ROOTFS_TMP=
CONTAINERS=()
cleanup() {
  local c
  for c in "${CONTAINERS[@]}"; do "$DOCKER" rm -f "$c" >/dev/null 2>&1 || true; done
  if [ -n "$ROOTFS_TMP" ] && [ -d "$ROOTFS_TMP" ]; then
    local m
    for m in proc sys dev/pts dev; do
      mountpoint -q "$ROOTFS_TMP/root/$m" 2>/dev/null && umount -l "$ROOTFS_TMP/root/$m" 2>/dev/null || true
    done
    rm -rf --one-file-system "$ROOTFS_TMP"
  fi
  rm -rf "$BUILD_DIR"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Wheels: use the cache offline when it already has everything, else PyPI.
fetch_wheels() { # REQUIREMENTS_FILE
  need_pip
  if "$PYTHON" -m pip download -q --no-index --find-links "$WHEEL_DIR" -d "$WHEEL_DIR" \
      "${PIP_PLATFORM_ARGS[@]}" -r "$1" >/dev/null 2>&1; then
    log "wheels for ${1#"$REPO_ROOT"/} are in the cache $WHEEL_DIR"
  else
    log "downloading wheels for ${1#"$REPO_ROOT"/} from PyPI into $WHEEL_DIR"
    "$PYTHON" -m pip download -q -d "$WHEEL_DIR" "${PIP_PLATFORM_ARGS[@]}" -r "$1" >&2 \
      || die "pip download failed for $1"
  fi
}

# Install wheels into TREE/usr/local/lib/python3.11/dist-packages, console
# scripts into TREE/usr/local/bin.
install_wheels() { # REQUIREMENTS_FILE TREE
  local compile=--no-compile f site=$2$SITE_PACKAGES bin=$2/usr/local/bin
  # .pyc written by the host's python are valid in the image only for the same
  # minor version (docker cp keeps mtimes, so they are not rewritten at run time).
  if [ "$("$PYTHON" -c 'import sys; print("%d.%d" % sys.version_info[:2])')" = 3.11 ]; then compile=--compile; fi
  "$PYTHON" -m pip install -q --no-index --find-links "$WHEEL_DIR" "${PIP_PLATFORM_ARGS[@]}" \
      --target "$site" $compile --no-warn-conflicts -r "$1" >&2 \
    || die "pip install --target failed for $1"
  mkdir -p "$bin"
  if [ -d "$site/bin" ]; then
    for f in "$site/bin"/*; do
      # console scripts get the host python's path as shebang: point them at the image's
      sed '1s|^#!.*python.*$|#!/usr/bin/python3|' "$f" >"$bin/$(basename "$f")"
      chmod 755 "$bin/$(basename "$f")"
    done
    rm -rf "$site/bin"
  fi
}

# ---------------------------------------------------------------------------
# 1. dockdap/python:3.11-bookworm
ROOTFS_KEY=$(printf 'suite=%s variant=minbase include=%s trim=v1' "$SUITE" "$DEBOOTSTRAP_INCLUDE" | sha256_of_stdin)
ROOTFS_TAR=$CACHE_DIR/rootfs/$SUITE-minbase-python3-${ROOTFS_KEY:0:12}.tar.gz
BASE_HASH=$(recipe_hash "rootfs=$ROOTFS_KEY" "$SCRIPT_PATH")

if ! up_to_date "$BASE_IMAGE" "$BASE_HASH"; then
  if [ "$REBUILD_ROOTFS" -eq 1 ] || [ ! -s "$ROOTFS_TAR" ]; then
    need_debootstrap
    ROOTFS_TMP=$(mktemp -d "$CACHE_DIR/rootfs/tmp.XXXXXX")
    t0=$SECONDS
    log "debootstrap --variant=minbase --include=$DEBOOTSTRAP_INCLUDE $SUITE from $MIRROR (about a minute)"
    debootstrap --variant=minbase --include="$DEBOOTSTRAP_INCLUDE" "$SUITE" "$ROOTFS_TMP/root" "$MIRROR" \
        >"$ROOTFS_TMP/debootstrap.log" 2>&1 \
      || { tail -n 30 "$ROOTFS_TMP/debootstrap.log" >&2; die "debootstrap failed (log above)"; }
    log "debootstrap done in $((SECONDS - t0))s; trimming apt caches, docs, man pages, locales"
    r=$ROOTFS_TMP/root
    rm -rf "$r"/var/cache/apt/archives/*.deb "$r"/var/cache/apt/*.bin "$r"/var/lib/apt/lists/* \
      "$r"/usr/share/man/* "$r"/usr/share/info/* "$r"/var/log/*.log "$r"/var/log/apt/*
    find "$r/usr/share/locale" -mindepth 1 -maxdepth 1 ! -name locale.alias -exec rm -rf {} +
    find "$r/usr/share/doc" -type f ! -name copyright -delete
    : >"$r/etc/machine-id" 2>/dev/null || true
    log "writing the root filesystem cache $ROOTFS_TAR"
    tar --numeric-owner --one-file-system -C "$r" -c . | gzip -1 >"$ROOTFS_TAR.partial"
    mv "$ROOTFS_TAR.partial" "$ROOTFS_TAR"
    rm -rf --one-file-system "$ROOTFS_TMP"
    ROOTFS_TMP=
  else
    log "using the cached root filesystem $ROOTFS_TAR"
  fi
  t0=$SECONDS
  "$DOCKER" import \
    --change "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" \
    --change "ENV LANG=C.UTF-8 PYTHONUNBUFFERED=1" \
    --change 'CMD ["python3"]' \
    --change "LABEL dockdap.recipe=$BASE_HASH" \
    --change "LABEL org.opencontainers.image.description=\"Debian $SUITE (debootstrap minbase) with python3 3.11, built offline by dockdap images/build-images.sh\"" \
    --message "dockdap build-images.sh: debootstrap $SUITE minbase + $DEBOOTSTRAP_INCLUDE" \
    "$ROOTFS_TAR" "$BASE_IMAGE" >/dev/null \
    || die "docker import of $ROOTFS_TAR failed"
  log "imported $BASE_IMAGE in $((SECONDS - t0))s"
fi

# ---------------------------------------------------------------------------
# 2. dockdap/azureml-score:stock
REQ_IMAGE=$IMAGES_DIR/requirements-image.txt
mapfile -t MODEL_FILES < <(find "$EXAMPLE_DIR/model" -type f | LC_ALL=C sort)
[ "${#MODEL_FILES[@]}" -gt 0 ] || die "no model files under $EXAMPLE_DIR/model"
[ -f "$EXAMPLE_DIR/score.py" ] || die "missing $EXAMPLE_DIR/score.py"
STOCK_HASH=$(recipe_hash "$BASE_HASH" "$SCRIPT_PATH" "$REQ_IMAGE" "$EXAMPLE_DIR/score.py" "${MODEL_FILES[@]}")

STOCK_CMD='["python3", "-m", "azureml_inference_server_http.amlserver", "--entry_script", "score.py", "--port", "5001"]'
if ! up_to_date "$STOCK_IMAGE" "$STOCK_HASH"; then
  fetch_wheels "$REQ_IMAGE"
  tree=$BUILD_DIR/stock
  rm -rf "$tree" && mkdir -p "$tree$APP_ROOT" "$tree$MODEL_DIR"
  log "installing the inference server wheels into $tree"
  install_wheels "$REQ_IMAGE" "$tree"
  cp "$EXAMPLE_DIR/score.py" "$tree$APP_ROOT/score.py"
  (cd "$EXAMPLE_DIR/model" && cp -r . "$tree$MODEL_DIR/")
  server_version=$(sed -n 's/^azureml-inference-server-http==//p' "$REQ_IMAGE")
  commit_layer "$BASE_IMAGE" "$tree" "$STOCK_IMAGE" \
    "dockdap build-images.sh: azureml-inference-server-http $server_version + examples/azureml-score" \
    --change "ENV AML_APP_ROOT=$APP_ROOT AZUREML_ENTRY_SCRIPT=score.py AZUREML_MODEL_DIR=$MODEL_DIR PYTHONUNBUFFERED=1" \
    --change "WORKDIR $APP_ROOT" \
    --change "EXPOSE 5001" \
    --change "CMD $STOCK_CMD" \
    --change "LABEL org.opencontainers.image.description=\"Azure ML inference server $server_version serving dockdap examples/azureml-score on port 5001 (no debugger)\" dockdap.app-root=$APP_ROOT dockdap.recipe=$STOCK_HASH"
  rm -rf "$tree"
fi

# ---------------------------------------------------------------------------
# 3. dockdap/azureml-score:debug
REQ_DEBUG=$IMAGES_DIR/requirements-debug.txt
DEBUG_ENTRY=$IMAGES_DIR/debug/debug_entry.py
DEBUG_HASH=$(recipe_hash "$STOCK_HASH" "$SCRIPT_PATH" "$REQ_DEBUG" "$DEBUG_ENTRY")

# debug_entry.py starts debugpy on 0.0.0.0:$DEBUG_PORT in the gunicorn worker,
# waits for the client, then loads $AML_APP_ROOT/$DOCKDAP_ENTRY_SCRIPT. One
# worker, and a worker timeout long enough to sit at a breakpoint. No
# __pycache__/ written next to score.py in /var/azureml-app (files there are
# synced with the workspace).
DEBUG_CMD='["python3", "-m", "azureml_inference_server_http.amlserver", "--entry_script", "/opt/dockdap-debug/debug_entry.py", "--port", "5001"]'
if ! up_to_date "$DEBUG_IMAGE" "$DEBUG_HASH"; then
  fetch_wheels "$REQ_DEBUG"
  tree=$BUILD_DIR/debug
  rm -rf "$tree" && mkdir -p "$tree/opt/dockdap-debug"
  log "installing debugpy into $tree"
  install_wheels "$REQ_DEBUG" "$tree"
  cp "$DEBUG_ENTRY" "$tree/opt/dockdap-debug/debug_entry.py"
  debugpy_version=$(sed -n 's/^debugpy==//p' "$REQ_DEBUG")
  commit_layer "$STOCK_IMAGE" "$tree" "$DEBUG_IMAGE" \
    "dockdap build-images.sh: debugpy $debugpy_version + /opt/dockdap-debug/debug_entry.py" \
    --change "ENV AZUREML_ENTRY_SCRIPT=/opt/dockdap-debug/debug_entry.py DOCKDAP_ENTRY_SCRIPT=score.py DOCKDAP_DEBUG_PORT=$DEBUG_PORT WORKER_COUNT=1 WORKER_TIMEOUT=3600 PYDEVD_DISABLE_FILE_VALIDATION=1 PYTHONDONTWRITEBYTECODE=1" \
    --change "EXPOSE $DEBUG_PORT" \
    --change "CMD $DEBUG_CMD" \
    --change "LABEL org.opencontainers.image.description=\"dockdap/azureml-score:stock + debugpy $debugpy_version listening on 0.0.0.0:$DEBUG_PORT, waiting for a DAP client before init()\" dockdap.debug-port=$DEBUG_PORT dockdap.recipe=$DEBUG_HASH"
  rm -rf "$tree"
fi

# Drop the images this run replaced, when nothing else uses them (best effort).
CURRENT_IDS=" $(image_id "$BASE_IMAGE") $(image_id "$STOCK_IMAGE") $(image_id "$DEBUG_IMAGE") "
for id in "${OLD_IDS[@]}"; do
  [ -n "$id" ] || continue
  case $CURRENT_IDS in *" $id "*) continue ;; esac
  if "$DOCKER" rmi "$id" >/dev/null 2>&1; then log "removed the replaced image ${id:7:12}"; fi
done

log "done: $BASE_IMAGE $STOCK_IMAGE $DEBUG_IMAGE"
