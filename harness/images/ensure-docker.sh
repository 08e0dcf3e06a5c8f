#!/usr/bin/env bash
# ensure-docker.sh: make a Docker engine answer on this machine, unattended and
# idempotently. Called by `make docker`, `make images` and .ci/run.
#
#  1. Installs Debian's docker.io from apt when dockerd is missing.
#  2. Where the kernel removed a capability from the bounding set (CI VMs drop
#     CAP_SYS_RESOURCE), makes the engine's default runtime a wrapper that
#     drops unavailable capabilities from OCI specs before running runc
#     (harness/images/runcwrap); kind's privileged nodes fail otherwise.
#     Machines that have every capability are left alone.
#  3. Starts dockerd when no engine answers, and waits for it (bounded).
#
# It never restarts an engine, never reconfigures one that runs containers,
# and never sets "bridge": "none" (a second engine with it deletes docker0).
#
# Environment: PRETRAIN_DOCKER_LOG (dockerd log, default
# /var/log/pretrain-check-dockerd.log), PRETRAIN_DOCKER_WAIT (seconds, 90),
# PRETRAIN_DAEMON_JSON (default /etc/docker/daemon.json).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
log_file=${PRETRAIN_DOCKER_LOG:-/var/log/pretrain-check-dockerd.log}
wait_s=${PRETRAIN_DOCKER_WAIT:-90}
daemon_json=${PRETRAIN_DAEMON_JSON:-/etc/docker/daemon.json}
runtime_name=pretrain-runc
wrapper=/usr/local/libexec/pretrain-check/runcwrap

# Messages go to the terminal and, with a timestamp, to the dockerd log file.
note() { { mkdir -p "$(dirname "$log_file")" && echo "$(date -u +%FT%TZ) [ensure-docker] $*" >>"$log_file"; } 2>/dev/null || true; }
say() { echo "[ensure-docker] $*"; note "$*"; }
die() { echo "[ensure-docker] ERROR: $*" >&2; note "ERROR: $*"; exit 1; }
run() { # run a command; on failure name it and show the tail of its output
  local out rc=0
  out=$("$@" 2>&1) || rc=$?
  if [ "$rc" -ne 0 ]; then
    printf '%s\n' "$out" | tail -n 20 >&2
    die "command failed (exit $rc): $*"
  fi
}

answers() { timeout 15 docker info >/dev/null 2>&1; }

# Bit 24 of CapBnd is CAP_SYS_RESOURCE.
cap_missing() {
  local bnd
  bnd=$(awk '/^CapBnd:/ {print $2}' /proc/self/status)
  [ $(( (16#$bnd >> 24) & 1 )) -eq 0 ]
}

install_docker() {
  [ "$(id -u)" -eq 0 ] || die "dockerd is missing and installing docker.io needs root"
  say "installing docker.io from apt"
  export DEBIAN_FRONTEND=noninteractive
  run apt-get update
  run apt-get install -y --no-install-recommends docker.io
}

install_wrapper() {
  command -v go >/dev/null || die "go is needed to build the runtime wrapper"
  mkdir -p "$(dirname "$wrapper")"
  (cd "$repo" && export GOTOOLCHAIN=local CGO_ENABLED=0 && run go build -trimpath -o "$wrapper.new" ./harness/images/runcwrap)
  mv -f "$wrapper.new" "$wrapper"
  (cd "$repo" && export GOTOOLCHAIN=local && run go run ./cmd/pretrain-images engine-config \
    --daemon-json "$daemon_json" --runtime-name "$runtime_name" --runtime-path "$wrapper")
}

default_runtime() { timeout 15 docker info --format '{{.DefaultRuntime}}' 2>/dev/null || true; }

wait_engine() { # $1: what we wait for
  local deadline=$((SECONDS + wait_s))
  until answers; do
    if [ "$SECONDS" -ge "$deadline" ]; then
      tail -n 20 "$log_file" >&2 2>/dev/null || true
      die "$1: no answer from 'docker info' after ${wait_s}s (log: $log_file)"
    fi
    sleep 1
  done
}

command -v dockerd >/dev/null || install_docker
command -v docker >/dev/null || die "the docker client is missing (docker.io installed?)"

if answers; then
  if cap_missing && [ "$(default_runtime)" != "$runtime_name" ]; then
    if [ -n "$(docker ps -aq)" ]; then
      die "the running engine has containers and no capability-dropping runtime (CAP_SYS_RESOURCE is missing here, kind nodes would fail); not touching it: set \"default-runtime\" to a wrapper like harness/images/runcwrap yourself"
    fi
    [ -z "${DOCKER_HOST:-}" ] || die "DOCKER_HOST=$DOCKER_HOST lacks the capability-dropping runtime; not reconfiguring a remote engine"
    pid=$(cat /var/run/docker.pid 2>/dev/null || true)
    [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || die "cannot find the running dockerd (/var/run/docker.pid) to reload its configuration"
    install_wrapper
    say "reloading dockerd $pid (SIGHUP) to add the $runtime_name runtime"
    kill -HUP "$pid"
    deadline=$((SECONDS + 30))
    until [ "$(default_runtime)" = "$runtime_name" ]; do
      [ "$SECONDS" -lt "$deadline" ] || die "dockerd $pid did not pick up default-runtime $runtime_name from $daemon_json"
      sleep 1
    done
  fi
  say "engine answers (default runtime: $(default_runtime))"
  exit 0
fi

[ -z "${DOCKER_HOST:-}" ] || die "DOCKER_HOST=$DOCKER_HOST does not answer; not starting an engine for it"
[ "$(id -u)" -eq 0 ] || die "no engine answers and starting dockerd needs root"

pid=$(cat /var/run/docker.pid 2>/dev/null || true)
if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
  say "dockerd $pid is running but does not answer yet; waiting"
  wait_engine "dockerd $pid"
  exec "$0" "$@" # re-check its runtime with the engine up
fi

if cap_missing; then
  say "CAP_SYS_RESOURCE is missing from the bounding set: configuring the $runtime_name runtime"
  install_wrapper
fi
mkdir -p "$(dirname "$log_file")"
say "starting dockerd (log: $log_file)"
nohup setsid dockerd >>"$log_file" 2>&1 </dev/null &
wait_engine "dockerd $!"
say "engine answers (default runtime: $(default_runtime))"
