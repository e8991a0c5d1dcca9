#!/usr/bin/env bash
# Real container engines for dockdap's tests, other than the machine's own
# Docker Engine:
#
#   remote  a second Docker Engine in its own network namespace (its
#           127.0.0.1 is not this machine's), reached
#             - over TCP with TLS: tcp://10.231.0.2:2376, certificates made
#               here with openssl (a CA, a server and a client certificate);
#             - over SSH: ssh://root@10.231.0.2 (an sshd in the same namespace,
#               a key made here; `docker system dial-stdio` on the far side);
#   podman  Podman's Docker-compatible API service (Debian's package) on
#           unix:///run/podman/podman.sock, with its own storage.
#
# The example images (dockdap/azureml-score:stock and :debug) and the guide's
# debugpy image (dockdap/guide:debugpy) are copied into both from the local
# engine (`docker save | ... load`) when they differ; `up` with nothing to copy
# takes a second.
#
# Usage: scripts/engines.sh up [remote|podman]...   start (idempotent; both by default)
#        scripts/engines.sh env                     print the variables tests read
#        scripts/engines.sh status                  say what runs
#        scripts/engines.sh down                    stop everything and remove what `up` made
#
# `up` prints how long each step took. `down` leaves nothing: no process, no
# namespace, no interface, no data, no certificate, and the marked block this
# script adds to ~/.ssh/config is taken out again.
#
# Needs root, iproute2, nsenter, openssl, openssh-server, podman (installed by
# scripts/setup.sh). Environment: DOCKDAP_ENGINES_STATE (default
# /run/dockdap-engines), DOCKDAP_ENGINES_DATA (default /var/lib/dockdap-engines).
set -euo pipefail
trap 'echo "engines: failed at line $LINENO: $BASH_COMMAND" >&2' ERR

STATE=${DOCKDAP_ENGINES_STATE:-/run/dockdap-engines}
DATA=${DOCKDAP_ENGINES_DATA:-/var/lib/dockdap-engines}
NETNS=dockdap-remote
HOST_IF=ddremote0          # the veth end on this machine
HOST_ADDR=10.231.0.1
REMOTE_ADDR=10.231.0.2
TLS_PORT=2376
NODOCKER_SSH_PORT=2222     # the same sshd, but `docker` is not on the far side's PATH
PODMAN_SOCK=/run/podman/podman.sock
IMAGES=(dockdap/azureml-score:stock dockdap/azureml-score:debug dockdap/guide:debugpy)
SSH_CONFIG=${HOME:-/root}/.ssh/config
MARK_BEGIN="# >>> dockdap scripts/engines.sh (removed by \`scripts/engines.sh down\`)"
MARK_END="# <<< dockdap scripts/engines.sh"

REMOTE_SOCK=$STATE/remote/docker.sock

say() { printf 'engines: %s\n' "$*" >&2; }
die() { say "$*"; exit 1; }
now() { date +%s.%N; }
took() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1fs", b - a }'; }

# waits up to $1 seconds for the command in $2... to succeed
wait_for() {
  local secs=$1; shift
  local deadline=$((SECONDS + secs))
  until "$@" >/dev/null 2>&1; do
    [ $SECONDS -lt $deadline ] || return 1
    sleep 0.1
  done
}

alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

stop_pidfile() { # PIDFILE: TERM, wait up to 20 s, then KILL
  local pidfile=$1 pid
  [ -f "$pidfile" ] || return 0
  pid=$(cat "$pidfile")
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    wait_for 20 sh -c "! kill -0 $pid" || kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$pidfile"
}

remote_docker() { docker -H "unix://$REMOTE_SOCK" "$@"; }
podman_cli() { CONTAINERS_CONF=$STATE/podman/containers.conf podman --root "$DATA/podman" --runroot "$STATE/podman/run" --tmpdir "$STATE/podman/tmp" "$@"; }

# ---------------------------------------------------------------- certificates
make_tls() {
  local dir=$STATE/tls
  [ -f "$dir/client/key.pem" ] && [ -f "$dir/stranger/key.pem" ] && return 0
  rm -rf "$dir"
  mkdir -p "$dir/ca" "$dir/server" "$dir/client" "$dir/stranger"
  chmod 700 "$dir"
  local ca_ext=$dir/ca.ext
  printf 'basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\nsubjectKeyIdentifier=hash\n' >"$ca_ext"
  new_ca() { # DIR CN
    openssl ecparam -name prime256v1 -genkey -noout -out "$1/ca-key.pem" 2>/dev/null
    openssl req -new -x509 -days 30 -key "$1/ca-key.pem" -subj "/CN=$2" -out "$1/ca.pem" \
      -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign 2>/dev/null
  }
  sign() { # CA_DIR OUT_DIR CN EXTENSIONS
    openssl ecparam -name prime256v1 -genkey -noout -out "$2/key.pem" 2>/dev/null
    openssl req -new -key "$2/key.pem" -subj "/CN=$3" -out "$2/req.csr" 2>/dev/null
    printf '%b' "$4" >"$2/ext"
    openssl x509 -req -days 30 -in "$2/req.csr" -CA "$1/ca.pem" -CAkey "$1/ca-key.pem" -CAcreateserial \
      -extfile "$2/ext" -out "$2/cert.pem" 2>/dev/null
    rm -f "$2/req.csr" "$2/ext"
    cp "$1/ca.pem" "$2/ca.pem"
  }
  new_ca "$dir/ca" "dockdap test CA"
  sign "$dir/ca" "$dir/server" dockdap-remote \
    "subjectAltName=IP:$REMOTE_ADDR,DNS:dockdap-remote\nextendedKeyUsage=serverAuth\nkeyUsage=critical,digitalSignature\n"
  sign "$dir/ca" "$dir/client" dockdap-client "extendedKeyUsage=clientAuth\nkeyUsage=critical,digitalSignature\n"
  # A client whose CA and certificate belong to another authority: the
  # engine rejects its certificate, and it rejects the engine's.
  mkdir -p "$dir/stranger-ca"
  new_ca "$dir/stranger-ca" "someone else's CA"
  sign "$dir/stranger-ca" "$dir/stranger" stranger "extendedKeyUsage=clientAuth\nkeyUsage=critical,digitalSignature\n"
  rm -f "$ca_ext"
}

# ------------------------------------------------------------------ namespace
make_netns() {
  if ! ip netns list | grep -qw "$NETNS"; then
    ip netns add "$NETNS"
  fi
  if ! ip link show "$HOST_IF" >/dev/null 2>&1; then
    ip link add "$HOST_IF" type veth peer name ddremote1
    ip link set ddremote1 netns "$NETNS"
    ip -n "$NETNS" link set ddremote1 name eth0
    ip addr add "$HOST_ADDR/24" dev "$HOST_IF"
    ip link set "$HOST_IF" up
    ip -n "$NETNS" addr add "$REMOTE_ADDR/24" dev eth0
    ip -n "$NETNS" link set eth0 up
    ip -n "$NETNS" link set lo up
  fi
}

# -------------------------------------------------------------- remote dockerd
start_dockerd() {
  local dir=$STATE/remote
  mkdir -p "$dir" "$DATA/remote"
  alive "$dir/dockerd.pid" && remote_docker info >/dev/null 2>&1 && return 0
  # Its own configuration file: the machine's /etc/docker/daemon.json names a
  # data-root of its own, and a setting given twice stops dockerd.
  cat >"$dir/daemon.json" <<EOF
{"storage-driver": "fuse-overlayfs", "mtu": 1400, "log-driver": "json-file"}
EOF
  nsenter --net="/run/netns/$NETNS" setsid dockerd \
    --config-file "$dir/daemon.json" \
    --data-root "$DATA/remote" \
    --exec-root "$dir/exec" \
    --pidfile "$dir/dockerd.pid" \
    --cgroup-parent /dockdap-remote \
    --bip 172.30.7.1/24 \
    --default-address-pool base=172.30.8.0/21,size=24 \
    --shutdown-timeout 2 \
    -H "unix://$REMOTE_SOCK" \
    -H "tcp://$REMOTE_ADDR:$TLS_PORT" \
    --tlsverify \
    --tlscacert "$STATE/tls/server/ca.pem" \
    --tlscert "$STATE/tls/server/cert.pem" \
    --tlskey "$STATE/tls/server/key.pem" \
    </dev/null >"$dir/dockerd.log" 2>&1 9>&- &
  wait_for 60 remote_docker info || { tail -20 "$dir/dockerd.log" >&2; die "the remote dockerd did not start (log: $dir/dockerd.log)"; }
}

# ------------------------------------------------------------------------ sshd
start_sshd() {
  local dir=$STATE/ssh
  mkdir -p "$dir"
  chmod 700 "$dir"
  [ -f "$dir/id_ed25519" ] || ssh-keygen -q -t ed25519 -N '' -C dockdap-engines -f "$dir/id_ed25519"
  [ -f "$dir/host_ed25519_key" ] || ssh-keygen -q -t ed25519 -N '' -C dockdap-remote -f "$dir/host_ed25519_key"
  [ -f "$dir/other_host_key" ] || ssh-keygen -q -t ed25519 -N '' -C not-dockdap-remote -f "$dir/other_host_key"
  cp "$dir/id_ed25519.pub" "$dir/authorized_keys"
  # known_hosts: the engine's real key, and a file naming another key for it
  # (what a reinstalled or impostor host looks like).
  local key other
  key=$(cut -d' ' -f1,2 "$dir/host_ed25519_key.pub")
  other=$(cut -d' ' -f1,2 "$dir/other_host_key.pub")
  printf '%s %s\n[%s]:%s %s\n' "$REMOTE_ADDR" "$key" "$REMOTE_ADDR" "$NODOCKER_SSH_PORT" "$key" >"$dir/known_hosts"
  printf '%s %s\n' "$REMOTE_ADDR" "$other" >"$dir/known_hosts.wrong"
  cat >"$dir/sshd_config" <<EOF
ListenAddress $REMOTE_ADDR:22
ListenAddress $REMOTE_ADDR:$NODOCKER_SSH_PORT
HostKey $dir/host_ed25519_key
PidFile $dir/sshd.pid
AuthorizedKeysFile $dir/authorized_keys
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
PrintMotd no
# The far side's \`docker\` is this machine's binary; its default engine would
# be the machine's own, so point it at the engine of this namespace.
SetEnv DOCKER_HOST=unix://$REMOTE_SOCK
Match LocalPort $NODOCKER_SSH_PORT
  SetEnv PATH=/nonexistent DOCKER_HOST=unix://$REMOTE_SOCK
EOF
  alive "$dir/sshd.pid" && return 0
  [ -d /run/sshd ] || { mkdir -p /run/sshd && touch "$dir/made-run-sshd"; }
  nsenter --net="/run/netns/$NETNS" /usr/sbin/sshd -f "$dir/sshd_config" -E "$dir/sshd.log" 9>&-
  wait_for 10 test -s "$dir/sshd.pid" || die "sshd did not start (log: $dir/sshd.log)"
}

ssh_config_block() {
  local dir=$STATE/ssh
  cat <<EOF
$MARK_BEGIN
Host $REMOTE_ADDR dockdap-remote
  HostName $REMOTE_ADDR
  IdentityFile $dir/id_ed25519
  IdentitiesOnly yes
  UserKnownHostsFile $dir/known_hosts
  StrictHostKeyChecking yes
Host dockdap-remote-nodocker
  HostName $REMOTE_ADDR
  Port $NODOCKER_SSH_PORT
  IdentityFile $dir/id_ed25519
  IdentitiesOnly yes
  UserKnownHostsFile $dir/known_hosts
  StrictHostKeyChecking yes
Host dockdap-remote-wrong-host-key
  HostName $REMOTE_ADDR
  IdentityFile $dir/id_ed25519
  IdentitiesOnly yes
  UserKnownHostsFile $dir/known_hosts.wrong
  StrictHostKeyChecking yes
Host dockdap-remote-no-key
  HostName $REMOTE_ADDR
  IdentityFile $dir/other_host_key
  IdentitiesOnly yes
  UserKnownHostsFile $dir/known_hosts
  StrictHostKeyChecking yes
Host *
$MARK_END
EOF
}

remove_ssh_config_block() {
  [ -f "$SSH_CONFIG" ] || return 0
  if grep -qF "$MARK_BEGIN" "$SSH_CONFIG"; then
    local tmp
    tmp=$(mktemp "$SSH_CONFIG.XXXXXX")
    awk -v b="$MARK_BEGIN" -v e="$MARK_END" '$0 == b { skip = 1 } !skip { print } $0 == e { skip = 0 }' "$SSH_CONFIG" >"$tmp"
    chmod 600 "$tmp"
    mv "$tmp" "$SSH_CONFIG"
    [ -s "$SSH_CONFIG" ] || rm -f "$SSH_CONFIG"
  fi
}

# The block goes first in the file: ssh takes the first value it reads, and
# `Host *` at its end gives the rest of the file back its global scope.
install_ssh_config() {
  mkdir -p "$(dirname "$SSH_CONFIG")"
  chmod 700 "$(dirname "$SSH_CONFIG")"
  remove_ssh_config_block
  local tmp
  tmp=$(mktemp "$SSH_CONFIG.XXXXXX")
  { ssh_config_block; [ -f "$SSH_CONFIG" ] && cat "$SSH_CONFIG"; } >"$tmp"
  chmod 600 "$tmp"
  mv "$tmp" "$SSH_CONFIG"
}

# ---------------------------------------------------------------------- podman
start_podman() {
  local dir=$STATE/podman
  mkdir -p "$dir/run" "$dir/tmp" "$DATA/podman" "$(dirname "$PODMAN_SOCK")"
  # runc may not raise RLIMIT_NOFILE/NPROC above its own hard limits here, and
  # Podman's defaults ask for more (the service itself lowers its NPROC to
  # 32768): ask for 16384 of each, or this shell's hard limit if lower.
  local nofile nproc
  nofile=$(ulimit -Hn); [ "$nofile" = unlimited ] || [ "$nofile" -gt 16384 ] && nofile=16384
  nproc=$(ulimit -Hu); [ "$nproc" = unlimited ] || [ "$nproc" -gt 16384 ] && nproc=16384
  cat >"$dir/containers.conf" <<EOF
[containers]
default_ulimits = ["nofile=$nofile:$nofile", "nproc=$nproc:$nproc"]
EOF
  alive "$dir/service.pid" && [ -S "$PODMAN_SOCK" ] && return 0
  stop_conmons
  rm -f "$PODMAN_SOCK"
  setsid env CONTAINERS_CONF="$dir/containers.conf" podman --root "$DATA/podman" --runroot "$dir/run" \
    --tmpdir "$dir/tmp" system service --time=0 "unix://$PODMAN_SOCK" </dev/null >"$dir/service.log" 2>&1 9>&- &
  echo $! >"$dir/service.pid"
  wait_for 30 curl -sf --unix-socket "$PODMAN_SOCK" http://d/_ping \
    || { tail -20 "$dir/service.log" >&2; die "podman system service did not start (log: $dir/service.log)"; }
}

# ---------------------------------------------------------------------- images
# IMAGE -> the id the local engine has for it, empty when it has none
local_id() { docker image inspect -f '{{.Id}}' "$1" 2>/dev/null || true; }

load_images() { # remote|podman
  local target=$1 missing=() image id there
  for image in "${IMAGES[@]}"; do
    id=$(local_id "$image")
    if [ -z "$id" ]; then
      say "the local engine has no $image (images/build-images.sh or images/build-guide-images.sh builds it); not copied to $target"
      continue
    fi
    case $target in
      remote) there=$(remote_docker image inspect -f '{{.Id}}' "$image" 2>/dev/null || true) ;;
      podman) there=$(podman_cli image inspect -f '{{.Id}}' "$image" 2>/dev/null || true); there=${there:+sha256:$there} ;;
    esac
    [ "$there" = "$id" ] || missing+=("$image")
  done
  [ ${#missing[@]} -gt 0 ] || return 0
  local t0; t0=$(now)
  case $target in
    remote) docker save "${missing[@]}" | remote_docker load -q >/dev/null ;;
    podman) docker save "${missing[@]}" | podman_cli load -q >/dev/null ;;
  esac
  say "loaded ${missing[*]} into $target in $(took "$t0")"
}

# Unmounts whatever is still mounted on or beneath folder $1 (dockerd mounts
# its data-root on itself; fuse-overlayfs whose daemon was killed leaves a
# dead mount behind).
unmount_beneath() {
  { grep -oE " $1(/[^ ]*)? " /proc/mounts || true; } | sort -r | while read -r m; do umount -l "$m" 2>/dev/null || true; done
}

# A daemon killed from outside (the end of a session kills what it started)
# leaves its data with dead mounts; start that engine from nothing.
reset_if_stale() { # remote|podman
  case $1 in
    remote)
      alive "$STATE/remote/dockerd.pid" && return 0
      [ -d "$DATA/remote" ] || return 0
      say "the remote dockerd is not running but its data is there; starting it from nothing"
      stop_pidfile "$STATE/remote/exec/containerd/containerd.pid"
      unmount_beneath "$DATA/remote"; unmount_beneath "$STATE/remote"
      rm -rf "$DATA/remote" "$STATE/remote"
      ;;
    podman)
      alive "$STATE/podman/service.pid" && return 0
      [ -d "$DATA/podman" ] || return 0
      say "the podman service is not running but its storage is there; starting it from nothing"
      stop_conmons
      podman_cli system reset -f >/dev/null 2>&1 || true
      unmount_beneath "$DATA/podman"; unmount_beneath "$STATE/podman"
      rm -rf "$DATA/podman" "$STATE/podman"
      ;;
  esac
}

# ----------------------------------------------------------------- subcommands
up_remote() {
  local t0
  reset_if_stale remote
  t0=$(now); make_tls; make_netns; say "certificates and namespace: $(took "$t0")"
  t0=$(now); start_dockerd; say "remote dockerd answers: $(took "$t0")"
  t0=$(now); start_sshd; install_ssh_config
  wait_for 10 ssh -o BatchMode=yes "root@$REMOTE_ADDR" true || die "ssh root@$REMOTE_ADDR does not work (log: $STATE/ssh/sshd.log)"
  say "sshd answers: $(took "$t0")"
  load_images remote
}

up_podman() {
  command -v podman >/dev/null || die "podman is not installed (scripts/setup.sh installs it)"
  reset_if_stale podman
  local t0; t0=$(now); start_podman; say "podman service answers: $(took "$t0")"
  load_images podman
}

# SSH ControlMasters that bollard's SSH connector (the `openssh` crate,
# ControlPersist=yes) started towards this engine and that outlived their
# process: one is left when a test binary ends with an SSH connection pooled.
stop_ssh_masters() {
  local pid
  for pid in $(ps -eo pid=,args= | awk -v a="$REMOTE_ADDR" '$2 == "ssh" && / -M / && ($NF ~ "@" a "$" || $NF ~ "@dockdap-remote") { print $1 }'); do
    kill "$pid" 2>/dev/null || true
  done
}

# conmon processes of exec sessions in Podman's containers: on Podman 4.3
# every exec that dockdap runs (`find` for the change list, `python3 -c
# pass`, the DAP exec) leaves its conmon behind, even after the exec ended
# and the container was removed (issue 16). They name this script's folders.
stop_conmons() {
  local pid
  for pid in $(ps -eo pid=,args= | awk -v s="$STATE/podman" '$2 ~ /conmon$/ && index($0, s) { print $1 }'); do
    kill "$pid" 2>/dev/null || true
  done
}

down() {
  remove_ssh_config_block
  stop_ssh_masters
  stop_pidfile "$STATE/ssh/sshd.pid"
  [ -f "$STATE/ssh/made-run-sshd" ] && rmdir /run/sshd 2>/dev/null || true
  if [ -f "$STATE/podman/service.pid" ]; then
    podman_cli rm -af -t 1 >/dev/null 2>&1 || true
    stop_pidfile "$STATE/podman/service.pid"
  fi
  if [ -d "$DATA/podman" ]; then
    podman_cli system reset -f >/dev/null 2>&1 || true
  fi
  stop_conmons
  rm -f "$PODMAN_SOCK"
  stop_pidfile "$STATE/remote/dockerd.pid"
  # dockerd's own containerd, should it outlive dockerd
  stop_pidfile "$STATE/remote/exec/containerd/containerd.pid"
  if ip netns list | grep -qw "$NETNS"; then ip netns del "$NETNS" || say "cannot delete the namespace $NETNS"; fi
  if ip link show "$HOST_IF" >/dev/null 2>&1; then ip link del "$HOST_IF" || say "cannot delete $HOST_IF"; fi
  if ip link show cni-podman0 >/dev/null 2>&1; then ip link del cni-podman0 || say "cannot delete cni-podman0"; fi
  # anything still mounted beneath the data folders (fuse-overlayfs, shm)
  unmount_beneath "$DATA"; unmount_beneath "$STATE"
  rm -rf "$DATA" "$STATE"
}

print_env() {
  cat <<EOF
DOCKDAP_ENGINE_TLS_HOST=tcp://$REMOTE_ADDR:$TLS_PORT
DOCKDAP_ENGINE_TLS_CERTS=$STATE/tls/client
DOCKDAP_ENGINE_TLS_STRANGER_CERTS=$STATE/tls/stranger
DOCKDAP_ENGINE_SSH_HOST=ssh://root@$REMOTE_ADDR
DOCKDAP_ENGINE_SSH_NODOCKER_HOST=ssh://root@dockdap-remote-nodocker
DOCKDAP_ENGINE_SSH_WRONG_HOST_KEY_HOST=ssh://root@dockdap-remote-wrong-host-key
DOCKDAP_ENGINE_SSH_NO_KEY_HOST=ssh://root@dockdap-remote-no-key
DOCKDAP_ENGINE_REMOTE_SOCKET=unix://$REMOTE_SOCK
DOCKDAP_ENGINE_PODMAN_HOST=unix://$PODMAN_SOCK
EOF
}

status() {
  alive "$STATE/remote/dockerd.pid" && echo "remote dockerd: running (tcp://$REMOTE_ADDR:$TLS_PORT, unix://$REMOTE_SOCK)" || echo "remote dockerd: stopped"
  alive "$STATE/ssh/sshd.pid" && echo "sshd: running (ssh://root@$REMOTE_ADDR)" || echo "sshd: stopped"
  alive "$STATE/podman/service.pid" && echo "podman: running (unix://$PODMAN_SOCK)" || echo "podman: stopped"
}

[ "$(id -u)" -eq 0 ] || die "run as root (network namespaces, a second dockerd, sshd)"
cmd=${1:-}
shift || true
mkdir -p "$(dirname "$STATE")"
# One `up` or `down` at a time: tests in parallel may all ask for the engines.
# The daemons started here must not inherit the lock (`9>&-` on each).
exec 9>"$(dirname "$STATE")/dockdap-engines.lock"
flock 9
case $cmd in
  up)
    what=("$@"); [ ${#what[@]} -gt 0 ] || what=(remote podman)
    mkdir -p "$STATE"; chmod 755 "$STATE"
    for w in "${what[@]}"; do
      case $w in
        remote) up_remote ;;
        podman) up_podman ;;
        *) die "unknown engine $w (remote, podman)" ;;
      esac
    done
    ;;
  down) down ;;
  env) print_env ;;
  status) status ;;
  *) die "usage: scripts/engines.sh up [remote|podman]... | env | status | down" ;;
esac
