#!/usr/bin/env bash
# Make a Docker Engine answer on the local socket and provide the test image `local/busybox`.
#
# Idempotent: installs Debian's docker.io and busybox-static only when missing, starts dockerd only
# when the socket does not answer, imports the image only when it is absent. No registry is needed:
# the image is a rootfs made from the statically linked busybox, loaded with `docker import`.
#
# Environment: DOCKER_SOCK (default /var/run/docker.sock), TEST_IMAGE (default local/busybox),
# DOCKERD_LOG (default /tmp/hourglass-dockerd.log), DOCKERD_WAIT_SECONDS (default 60).
set -euo pipefail

SOCK="${DOCKER_SOCK:-/var/run/docker.sock}"
IMAGE="${TEST_IMAGE:-local/busybox}"
LOG="${DOCKERD_LOG:-/tmp/hourglass-dockerd.log}"
WAIT="${DOCKERD_WAIT_SECONDS:-60}"

log() { echo "setup-docker: $*" >&2; }

as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

# dockerd and busybox come from Debian; a `docker` client alone (e.g. a static one) is not enough.
missing=()
command -v dockerd >/dev/null 2>&1 || missing+=(docker.io)
dpkg -s busybox-static >/dev/null 2>&1 || missing+=(busybox-static)
if [ "${#missing[@]}" -gt 0 ]; then
    log "installing ${missing[*]}"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

answers() {
    curl -fsS --max-time 2 --unix-socket "$SOCK" http://docker/_ping >/dev/null 2>&1
}

if ! command -v curl >/dev/null 2>&1; then
    answers() {
        python3 - "$SOCK" <<'PY' >/dev/null 2>&1
import socket, sys
s = socket.socket(socket.AF_UNIX)
s.settimeout(2)
s.connect(sys.argv[1])
s.sendall(b"GET /_ping HTTP/1.0\r\nHost: docker\r\n\r\n")
sys.exit(0 if s.recv(64).split(b" ")[1] == b"200" else 1)
PY
    }
fi

if ! answers; then
    log "starting dockerd (log: $LOG)"
    # --iptables=false --bridge=none: no network setup needed (and none possible in many sandboxes).
    as_root sh -c "nohup dockerd --host=unix://$SOCK --iptables=false --bridge=none \
        >'$LOG' 2>&1 </dev/null &"
    deadline=$((SECONDS + WAIT))
    until answers; do
        if [ "$SECONDS" -ge "$deadline" ]; then
            log "dockerd did not answer on $SOCK within ${WAIT}s; last log lines:"
            tail -n 20 "$LOG" >&2 || true
            exit 1
        fi
        sleep 0.5
    done
fi
log "engine answers on $SOCK"

export DOCKER_HOST="unix://$SOCK"
if ! docker image inspect "$IMAGE" >/dev/null 2>&1; then
    log "building $IMAGE from busybox-static"
    rootfs="$(mktemp -d)"
    trap 'rm -rf "$rootfs"' EXIT
    mkdir -p "$rootfs"/{bin,sbin,usr/bin,usr/sbin,etc,tmp,proc,sys,dev,root}
    chmod 1777 "$rootfs/tmp"
    cp /bin/busybox "$rootfs/bin/busybox"
    # One symlink per applet, so `sh`, `echo`, `seq`, `sleep`… resolve on the default PATH.
    for applet in $("$rootfs/bin/busybox" --list); do
        [ -e "$rootfs/bin/$applet" ] || ln -s busybox "$rootfs/bin/$applet"
    done
    echo "root:x:0:0:root:/root:/bin/sh" >"$rootfs/etc/passwd"
    echo "root:x:0:" >"$rootfs/etc/group"
    tar -C "$rootfs" -c . | docker import \
        --change 'ENV PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin' \
        --change 'CMD ["sh"]' - "$IMAGE" >/dev/null
fi
log "image $IMAGE ready"
