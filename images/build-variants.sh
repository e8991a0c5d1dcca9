#!/usr/bin/env bash
# Build the "images users really have" (issue 14) OFFLINE, beside the images of
# images/build-images.sh (run that first: the bookworm variants start from its
# images):
#
#   dockdap/python:3.9-bullseye     debootstrap --variant=minbase bullseye + python3 (3.9)
#   dockdap/python:3.13-trixie      debootstrap --variant=minbase trixie + python3 (3.13)
#   dockdap/azureml-score:py3.9     the Azure ML inference server + examples/azureml-score on 3.9
#   dockdap/azureml-score:py3.13    the same on 3.13 (debugpy runs on sys.monitoring there)
#   dockdap/azureml-score:user      :stock run as an unprivileged user (app, uid 1000); the
#                                   app root stays root's and is not writable by it
#   dockdap/azureml-score:venv      the server in a virtual environment /opt/venv, first on
#                                   PATH (the system /usr/bin/python3 has none of it)
#   dockdap/azureml-score:conda     the server in a conda-style prefix /opt/conda (bin/python,
#                                   lib/python3.11/site-packages, conda-meta/), first on PATH,
#                                   and no /usr/bin/python3 at all. conda itself cannot be
#                                   downloaded here: the prefix is `python3 -m venv --copies`
#                                   (an interpreter binary of its own, not a symlink)
#
# A read-only root filesystem needs no image of its own: it is :stock launched
# with `"readonlyRootfs": true, "tmpfs": ["/tmp"]`.
#
# Same rules as build-images.sh: debootstrap roots are cached as tarballs under
# ${DOCKDAP_CACHE:-$HOME/.cache/dockdap}/rootfs, wheels under .../wheels; every
# image carries dockdap.recipe=<sha256 of its inputs> and is skipped when the
# label matches. The venv/conda/user layers run one short shell step in a
# container of their parent (no network) and are committed from it.
#
# Usage: images/build-variants.sh [--force] [--rebuild-rootfs]
# Environment: DOCKDAP_CACHE, DOCKER, PYTHON (for pip), DOCKDAP_DEBIAN_MIRROR.
set -euo pipefail

SCRIPT_PATH=$(readlink -f "${BASH_SOURCE[0]}")
IMAGES_DIR=$(dirname "$SCRIPT_PATH")
REPO_ROOT=$(dirname "$IMAGES_DIR")
EXAMPLE_DIR=$REPO_ROOT/examples/azureml-score
CACHE_DIR=${DOCKDAP_CACHE:-$HOME/.cache/dockdap}
DOCKER=${DOCKER:-docker}
PYTHON=${PYTHON:-python3}
MIRROR=${DOCKDAP_DEBIAN_MIRROR:-http://deb.debian.org/debian}

BOOKWORM_BASE=dockdap/python:3.11-bookworm
STOCK_IMAGE=dockdap/azureml-score:stock
APP_ROOT=/var/azureml-app
MODEL_DIR=$APP_ROOT/azureml-models/dockdap-linear-demo/1
SERVER_ENV="AML_APP_ROOT=$APP_ROOT AZUREML_ENTRY_SCRIPT=score.py AZUREML_MODEL_DIR=$MODEL_DIR PYTHONUNBUFFERED=1"
SERVER_ARGS='"-m", "azureml_inference_server_http.amlserver", "--entry_script", "score.py", "--port", "5001"'
SYSTEM_PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin

FORCE=0
REBUILD_ROOTFS=0
for arg in "$@"; do
  case $arg in
    --force) FORCE=1 ;;
    --rebuild-rootfs) REBUILD_ROOTFS=1; FORCE=1 ;;
    -h|--help) sed -n '2,/^set -euo/p' "$SCRIPT_PATH" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "build-variants.sh: unknown argument: $arg (try --help)" >&2; exit 2 ;;
  esac
done

START=$SECONDS
log() { printf '[build-variants %4ss] %s\n' "$((SECONDS - START))" "$*" >&2; }
die() { printf 'build-variants.sh: ERROR: %s\n' "$*" >&2; exit 1; }

command -v "$DOCKER" >/dev/null 2>&1 || die "'$DOCKER' not found: install the Docker Engine and CLI"
"$DOCKER" version --format '{{.Server.Version}}' >/dev/null 2>&1 || die "cannot talk to the Docker daemon with '$DOCKER'"
"$DOCKER" image inspect "$STOCK_IMAGE" >/dev/null 2>&1 \
  || die "$STOCK_IMAGE is missing: run images/build-images.sh first (the bookworm variants start from it)"

export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_ROOT_USER_ACTION=ignore PIP_BREAK_SYSTEM_PACKAGES=1 PIP_NO_INPUT=1

sha256_of_stdin() { sha256sum | cut -d' ' -f1; }
recipe_hash() { # PARENT_HASH FILE...
  local parent=$1 f
  shift
  {
    echo "dockdap-recipe-v1 parent=$parent"
    for f in "$@"; do printf '%s  %s\n' "$(sha256_of_stdin <"$f")" "${f#"$REPO_ROOT"/}"; done
  } | sha256_of_stdin
}
label_of() { "$DOCKER" image inspect --format '{{index .Config.Labels "dockdap.recipe"}}' "$1" 2>/dev/null || true; }
REPLACED=()
up_to_date() { # IMAGE HASH
  if [ "$FORCE" -eq 0 ] && [ "$(label_of "$1")" = "$2" ]; then
    log "$1 is up to date (dockdap.recipe=${2:0:12}), skipping"
    return 0
  fi
  log "building $1"
  REPLACED+=("$("$DOCKER" image inspect --format '{{.Id}}' "$1" 2>/dev/null || true)")
  return 1
}

mkdir -p "$CACHE_DIR/rootfs" "$CACHE_DIR/wheels"
exec 9>"$CACHE_DIR/.build-variants.lock"
if command -v flock >/dev/null 2>&1; then flock 9; fi
WHEEL_DIR=$CACHE_DIR/wheels
BUILD_DIR=$(mktemp -d "$CACHE_DIR/variants.XXXXXX")
CONTAINERS=()
cleanup() {
  local c
  for c in "${CONTAINERS[@]}"; do "$DOCKER" rm -f "$c" >/dev/null 2>&1 || true; done
  for m in "$BUILD_DIR"/*/root/proc "$BUILD_DIR"/*/root/sys "$BUILD_DIR"/*/root/dev/pts "$BUILD_DIR"/*/root/dev; do
    mountpoint -q "$m" 2>/dev/null && umount -l "$m" 2>/dev/null || true
  done
  rm -rf --one-file-system "$BUILD_DIR"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

pip_platform() { # PYVER: wheels for that CPython on manylinux x86_64
  printf '%s\n' --only-binary=:all: --implementation cp --python-version "$1" \
    --platform manylinux2014_x86_64 --platform manylinux_2_17_x86_64
}

# install_server PYVER REQUIREMENTS SITE_DIR BIN_DIR SHEBANG_PYTHON TREE: the
# server's wheels (from the cache, else PyPI) into TREE/SITE_DIR, console
# scripts into TREE/BIN_DIR pointing at SHEBANG_PYTHON.
install_server() {
  local pyver=$1 req=$2 site=$6$3 bin=$6$4 shebang=$5 f
  local -a platform
  mapfile -t platform < <(pip_platform "$pyver")
  if ! "$PYTHON" -m pip download -q --no-index --find-links "$WHEEL_DIR" -d "$WHEEL_DIR" "${platform[@]}" -r "$req" \
      >/dev/null 2>&1; then
    log "downloading wheels for CPython $pyver (${req#"$REPO_ROOT"/}) from PyPI into $WHEEL_DIR"
    "$PYTHON" -m pip download -q -d "$WHEEL_DIR" "${platform[@]}" -r "$req" >&2 || die "pip download failed for $req ($pyver)"
  fi
  "$PYTHON" -m pip install -q --no-index --find-links "$WHEEL_DIR" "${platform[@]}" --target "$site" --no-compile \
      --no-warn-conflicts -r "$req" >&2 || die "pip install --target failed for $req ($pyver)"
  mkdir -p "$bin"
  for f in "$site/bin"/*; do
    sed "1s|^#!.*python.*\$|#!$shebang|" "$f" >"$bin/$(basename "$f")"
    chmod 755 "$bin/$(basename "$f")"
  done
  rm -rf "$site/bin"
}

add_example() { # TREE: score.py and the model, as build-images.sh lays them out
  mkdir -p "$1$APP_ROOT" "$1$MODEL_DIR"
  cp "$EXAMPLE_DIR/score.py" "$1$APP_ROOT/score.py"
  (cd "$EXAMPLE_DIR/model" && cp -r . "$1$MODEL_DIR/")
}
mapfile -t EXAMPLE_FILES < <(find "$EXAMPLE_DIR/model" -type f | LC_ALL=C sort)
EXAMPLE_FILES+=("$EXAMPLE_DIR/score.py")

# layer PARENT TREE TAG MESSAGE STEP [--change LINE]...: TREE copied onto a
# container of PARENT, the shell STEP run in it as root (no network), the
# result committed as TAG. Each --change is applied at commit; give CMD.
layer() {
  local parent=$1 tree=$2 tag=$3 message=$4 step=$5 cid t0=$SECONDS
  shift 5
  cid=$("$DOCKER" create --network none --user 0 "$parent" sh -ec "$step") || die "docker create $parent failed"
  CONTAINERS+=("$cid")
  if [ -n "$tree" ]; then "$DOCKER" cp "$tree/." "$cid:/" || die "docker cp into a container of $parent failed"; fi
  "$DOCKER" start -a "$cid" >&2 || die "the build step for $tag failed: $step"
  "$DOCKER" commit --message "$message" "$@" "$cid" "$tag" >/dev/null || die "docker commit $tag failed"
  "$DOCKER" rm "$cid" >/dev/null
  log "committed $tag in $((SECONDS - t0))s"
}

# ---------------------------------------------------------------------------
# Bases: one debootstrap per Debian release, cached as a tarball.
base() { # SUITE PYVER TAG
  local suite=$1 pyver=$2 tag=$3 key tar hash tmp
  key=$(printf 'suite=%s variant=minbase include=%s trim=v1' "$suite" python3 | sha256_of_stdin)
  tar=$CACHE_DIR/rootfs/$suite-minbase-python3-${key:0:12}.tar.gz
  hash=$(recipe_hash "rootfs=$key" "$SCRIPT_PATH")
  BASE_HASH=$hash
  up_to_date "$tag" "$hash" && return 0
  if [ "$REBUILD_ROOTFS" -eq 1 ] || [ ! -s "$tar" ]; then
    command -v debootstrap >/dev/null 2>&1 || die "debootstrap not found: apt-get install debootstrap"
    [ "$(id -u)" -eq 0 ] || die "debootstrap must run as root"
    tmp=$BUILD_DIR/$suite
    mkdir -p "$tmp"
    log "debootstrap --variant=minbase --include=python3 $suite from $MIRROR (about a minute)"
    debootstrap --variant=minbase --include=python3 "$suite" "$tmp/root" "$MIRROR" >"$tmp/debootstrap.log" 2>&1 \
      || { tail -n 30 "$tmp/debootstrap.log" >&2; die "debootstrap $suite failed (log above)"; }
    local r=$tmp/root
    rm -rf "$r"/var/cache/apt/archives/*.deb "$r"/var/cache/apt/*.bin "$r"/var/lib/apt/lists/* \
      "$r"/usr/share/man/* "$r"/usr/share/info/* "$r"/var/log/*.log "$r"/var/log/apt/*
    find "$r/usr/share/locale" -mindepth 1 -maxdepth 1 ! -name locale.alias -exec rm -rf {} +
    find "$r/usr/share/doc" -type f ! -name copyright -delete
    : >"$r/etc/machine-id" 2>/dev/null || true
    tar --numeric-owner --one-file-system -C "$r" -c . | gzip -1 >"$tar.partial"
    mv "$tar.partial" "$tar"
    rm -rf --one-file-system "$tmp"
    log "cached the $suite root filesystem as $tar"
  fi
  "$DOCKER" import \
    --change "ENV PATH=$SYSTEM_PATH" \
    --change "ENV LANG=C.UTF-8 PYTHONUNBUFFERED=1" \
    --change 'CMD ["python3"]' \
    --change "LABEL dockdap.recipe=$hash" \
    --change "LABEL org.opencontainers.image.description=\"Debian $suite (debootstrap minbase) with python3 $pyver, built offline by dockdap images/build-variants.sh\"" \
    --message "dockdap build-variants.sh: debootstrap $suite minbase + python3" \
    "$tar" "$tag" >/dev/null || die "docker import of $tar failed"
  log "imported $tag"
}

# server PARENT PARENT_HASH PYVER REQUIREMENTS TAG: the inference server and
# the example on a Debian base, as :stock is on bookworm.
server() {
  local parent=$1 parent_hash=$2 pyver=$3 req=$4 tag=$5 hash tree
  hash=$(recipe_hash "$parent_hash" "$SCRIPT_PATH" "$req" "${EXAMPLE_FILES[@]}")
  up_to_date "$tag" "$hash" && return 0
  tree=$BUILD_DIR/server-$pyver
  install_server "$pyver" "$req" "/usr/local/lib/python$pyver/dist-packages" /usr/local/bin /usr/bin/python3 "$tree"
  add_example "$tree"
  layer "$parent" "$tree" "$tag" "dockdap build-variants.sh: inference server + example on CPython $pyver" \
    "python3 -c 'import azureml_inference_server_http'" \
    --change "ENV $SERVER_ENV" --change "WORKDIR $APP_ROOT" --change "EXPOSE 5001" \
    --change "CMD [\"python3\", $SERVER_ARGS]" \
    --change "LABEL dockdap.recipe=$hash org.opencontainers.image.description=\"Azure ML inference server serving examples/azureml-score on CPython $pyver, port 5001\""
}

REQ_311=$IMAGES_DIR/requirements-image.txt
base bullseye 3.9 dockdap/python:3.9-bullseye
server dockdap/python:3.9-bullseye "$BASE_HASH" 3.9 "$IMAGES_DIR/requirements-image-py39.txt" dockdap/azureml-score:py3.9
base trixie 3.13 dockdap/python:3.13-trixie
server dockdap/python:3.13-trixie "$BASE_HASH" 3.13 "$REQ_311" dockdap/azureml-score:py3.13

# ---------------------------------------------------------------------------
# The bookworm variants.
STOCK_HASH=$(label_of "$STOCK_IMAGE")
BOOKWORM_HASH=$(label_of "$BOOKWORM_BASE")

hash=$(recipe_hash "$STOCK_HASH" "$SCRIPT_PATH")
if ! up_to_date dockdap/azureml-score:user "$hash"; then
  layer "$STOCK_IMAGE" "" dockdap/azureml-score:user "dockdap build-variants.sh: :stock as user app (uid 1000)" \
    "useradd --uid 1000 --user-group --create-home --shell /bin/sh app && chown -R root:root $APP_ROOT && chmod -R go-w $APP_ROOT" \
    --change "USER app" --change "CMD [\"python3\", $SERVER_ARGS]" \
    --change "LABEL dockdap.recipe=$hash org.opencontainers.image.description=\"dockdap/azureml-score:stock run as user app (uid 1000), app root not writable by it\""
fi

# prefix_variant TAG PREFIX VENV_FLAGS EXTRA_STEP DESCRIPTION: the server
# installed into a Python prefix of its own, first on PATH.
prefix_variant() {
  local tag=$1 prefix=$2 flags=$3 extra=$4 description=$5 hash tree
  hash=$(recipe_hash "$BOOKWORM_HASH $prefix $flags" "$SCRIPT_PATH" "$REQ_311" "${EXAMPLE_FILES[@]}")
  up_to_date "$tag" "$hash" && return 0
  tree=$BUILD_DIR/$(basename "$prefix")
  install_server 3.11 "$REQ_311" "$prefix/lib/python3.11/site-packages" "$prefix/bin" "$prefix/bin/python" "$tree"
  add_example "$tree"
  layer "$BOOKWORM_BASE" "$tree" "$tag" "dockdap build-variants.sh: $description" \
    "python3 -m venv $flags --without-pip $prefix; $extra $prefix/bin/python -c 'import sys, azureml_inference_server_http; assert sys.prefix == \"$prefix\", sys.prefix'" \
    --change "ENV PATH=$prefix/bin:$SYSTEM_PATH" --change "ENV $SERVER_ENV" --change "WORKDIR $APP_ROOT" \
    --change "EXPOSE 5001" --change "CMD [\"azmlinfsrv\", \"--entry_script\", \"score.py\", \"--port\", \"5001\"]" \
    --change "LABEL dockdap.recipe=$hash org.opencontainers.image.description=\"$description\""
}
prefix_variant dockdap/azureml-score:venv /opt/venv "" "" \
  "Azure ML inference server in a virtual environment /opt/venv first on PATH (system python3 without it)"
prefix_variant dockdap/azureml-score:conda /opt/conda --copies \
  "mkdir -p /opt/conda/conda-meta; : >/opt/conda/conda-meta/history; rm -f /usr/bin/python3 /usr/bin/python3.11;" \
  "Azure ML inference server in a conda-style prefix /opt/conda first on PATH, no /usr/bin/python3"

# Drop the images this run replaced, when nothing uses them any more (best effort).
# Newest first: a replaced variant goes before the replaced base it was built on.
for ((i = ${#REPLACED[@]} - 1; i >= 0; i--)); do
  id=${REPLACED[i]}
  if [ -n "$id" ] && "$DOCKER" rmi "$id" >/dev/null 2>&1; then log "removed the replaced image ${id:7:12}"; fi
done
log "done"
