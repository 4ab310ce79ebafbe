#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# docker-healthcheck.sh DEMO_SERVICE HEALTH_PROBE
#
# Docker's own HEALTHCHECK timer, for real, against an image as strict as
# distroless (stricter: FROM scratch, so no shell, no curl, no passwd):
#   1. exec form with the static health-probe:
#        starting -> healthy -> (SIGUSR1) unhealthy -> (SIGUSR2) healthy,
#      probe exit codes exactly 0 and 1, SIGTERM drains and exits 0;
#   2. the same with the self-probe: CMD ["/demo-service", "--probe", ...];
#   3. a CMD-SHELL curl healthcheck in the same image never passes: the
#      health log shows exit -1 and "no such file or directory".
#
# Follows shared/docker-recipe.md: a private dockerd (no networking of its
# own, private directories), containers with --network=none, Debian's
# client /usr/bin/docker, DOCKER_BUILDKIT=0.  Installs docker.io when
# missing.  Exits 77 (skipped) when no daemon can be had, except with
# CI=true, where that is a failure.  Cleans up everything it started.
set -uo pipefail

DEMO=${1:?usage: $0 DEMO_SERVICE HEALTH_PROBE}
PROBE=${2:?usage: $0 DEMO_SERVICE HEALTH_PROBE}
DOCKER=/usr/bin/docker
DOCKERD=/usr/sbin/dockerd
IMAGE=localhost/libhealth-healthcheck-test
# Generous deadlines: state changes take a few seconds with the 1 s
# interval used here; these only bound a broken run.
STATE_DEADLINE=60
W=""
DPID=""
CONTAINERS=()

log() { printf '[%(%H:%M:%S)T] %s\n' -1 "$*"; }
fail() {
    log "FAIL: $*"
    exit 1
}
skip() {
    if [ "${CI:-}" = true ]; then
        fail "$* (CI=true: not skipping)"
    fi
    log "SKIP: $*"
    exit 77
}
dk() { timeout 300 "$DOCKER" "$@"; }

# Stops what this script started, by PID, then unmounts and deletes.
cleanup() {
    local rc=$? pid i f
    set +e
    trap - EXIT INT TERM
    if [ -n "$DPID" ]; then
        for c in "${CONTAINERS[@]}"; do
            timeout 60 "$DOCKER" rm -f "$c" >/dev/null 2>&1
        done
        kill "$DPID" 2>/dev/null
        for i in $(seq 300); do
            kill -0 "$DPID" 2>/dev/null || break
            sleep 0.1
        done
        kill -0 "$DPID" 2>/dev/null && kill -9 "$DPID" 2>/dev/null
        wait "$DPID" 2>/dev/null
    fi
    if [ -n "$W" ]; then
        # containerd and shims that dockerd started and left behind: only
        # processes whose command line names this run's private directory.
        for f in /proc/[0-9]*/cmdline; do
            pid=${f#/proc/}
            pid=${pid%/cmdline}
            [ "$pid" = "$$" ] && continue
            if tr '\0' ' ' 2>/dev/null <"$f" | grep -qF -- "$W/"; then
                kill -9 "$pid" 2>/dev/null
            fi
        done
        umount "$W/exec/netns/default" 2>/dev/null
        awk -v w="$W" 'index($2, w) == 1 { print $2 }' /proc/mounts |
            sort -r | while read -r m; do umount -l "$m"; done
        rm -rf "$W"
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

# Debian's docker.io, installed when missing; apt-get update only when
# the first try fails (stale or missing package lists).
ensure_docker() {
    local i
    [ -x "$DOCKERD" ] && [ -x "$DOCKER" ] && return 0
    for i in 1 2; do
        log "installing docker.io"
        if DEBIAN_FRONTEND=noninteractive timeout 900 apt-get install -y \
            --no-install-recommends -o DPkg::Lock::Timeout=600 docker.io \
            >"$W/apt.log" 2>&1; then
            return 0
        fi
        tail -n 5 "$W/apt.log"
        [ "$i" = 1 ] && timeout 600 apt-get update >>"$W/apt.log" 2>&1
    done
    skip "docker.io is not installed and apt-get could not install it"
}

start_dockerd() {
    local i
    mkdir -p "$W/root" "$W/exec" "$W/ctx"
    "$DOCKERD" --host "unix://$W/docker.sock" --data-root "$W/root" \
        --exec-root "$W/exec" --pidfile "$W/dockerd.pid" \
        --storage-driver overlay2 --iptables=false --ip6tables=false \
        --bridge=none --ip-forward=false --ip-masq=false \
        >"$W/dockerd.log" 2>&1 &
    DPID=$!
    export DOCKER_HOST="unix://$W/docker.sock"
    export DOCKER_CONFIG="$W/client"
    export DOCKER_BUILDKIT=0
    for i in $(seq 300); do
        timeout 10 "$DOCKER" version >/dev/null 2>&1 && return 0
        if ! kill -0 "$DPID" 2>/dev/null; then
            tail -n 20 "$W/dockerd.log"
            skip "dockerd exited at start"
        fi
        sleep 0.1
    done
    tail -n 20 "$W/dockerd.log"
    skip "dockerd did not answer within 30 s"
}

# Copies @1 to the same absolute path under the image root, dereferencing
# symlinks (the loader and the libraries' soname links).
copy_into_root() {
    mkdir -p "$W/ctx/rootfs$(dirname "$1")"
    cp -L "$1" "$W/ctx/rootfs$1" || fail "cannot copy $1"
}

# The image root: the demo, its whole ldd closure (dynamic loader
# included), the static probe.  No shell, no curl, nothing else.
make_rootfs() {
    local lib
    mkdir -p "$W/ctx/rootfs"
    cp "$DEMO" "$W/ctx/rootfs/demo-service" || fail "no demo-service"
    cp "$PROBE" "$W/ctx/rootfs/health-probe" || fail "no health-probe"
    for lib in $(ldd "$DEMO" | awk '$2 == "=>" && $3 ~ /^\// { print $3 }
                                    $1 ~ /^\// { print $1 }'); do
        copy_into_root "$lib"
    done
    [ ! -e "$W/ctx/rootfs/bin/sh" ] || fail "the image must have no shell"
    log "image root: $(find "$W/ctx/rootfs" -type f | wc -l) files," \
        "$(du -sh "$W/ctx/rootfs" | cut -f1)"
}

# Writes Dockerfile.@1 with the HEALTHCHECK line @2.
write_dockerfile() {
    cat >"$W/ctx/Dockerfile.$1" <<EOF
FROM scratch
COPY rootfs/ /
USER 65532:65532
ENV HEALTH_PORT=8080
HEALTHCHECK --interval=1s --timeout=3s --retries=2 $2
ENTRYPOINT ["/demo-service"]
EOF
    dk build -q -f "$W/ctx/Dockerfile.$1" -t "$IMAGE:$1" "$W/ctx" \
        >/dev/null || fail "docker build $1"
}

health() { dk inspect --format '{{.State.Health.Status}}' "$1"; }

# The newest health log entry: "EXITCODE|OUTPUT" (output quoted).
last_log() {
    dk inspect --format \
        '{{range .State.Health.Log}}{{.ExitCode}}|{{printf "%q" .Output}}{{"\n"}}{{end}}' \
        "$1" | grep -v '^$' | tail -n 1
}

dump() {
    log "container $1 state:"
    dk inspect --format '{{json .State}}' "$1"
    log "container $1 output:"
    dk logs "$1" 2>&1 | tail -n 20
}

# Polls until container @1's health is @2, for at most STATE_DEADLINE s.
wait_health() {
    local deadline=$((SECONDS + STATE_DEADLINE)) s
    while :; do
        s=$(health "$1")
        [ "$s" = "$2" ] && break
        if [ "$(dk inspect --format '{{.State.Running}}' "$1")" != true ]; then
            dump "$1"
            fail "$1 stopped while waiting for $2"
        fi
        if [ "$SECONDS" -ge "$deadline" ]; then
            dump "$1"
            fail "$1: still '$s' after ${STATE_DEADLINE}s, wanted '$2'"
        fi
        sleep 0.2
    done
    log "$1: $2 ($(last_log "$1"))"
}

# Asserts that the newest health log entry exited @2 and printed @3.
expect_log() {
    local entry
    entry=$(last_log "$1")
    case "$entry" in
    "$2|"*"$3"*) ;;
    *) dump "$1"; fail "$1: last probe was '$entry', wanted $2 and '$3'" ;;
    esac
}

run_container() {
    CONTAINERS+=("$1")
    dk run -d --name "$1" --network=none "$IMAGE:$2" \
        --shutdown-delay 200 >/dev/null || fail "docker run $1"
}

# starting -> healthy -> unhealthy -> healthy, driven by the demo's
# simulated dependency, which feeds /ready; then a clean SIGTERM drain.
cycle() {
    local c=$1
    run_container "$c" "$2"
    wait_health "$c" healthy
    expect_log "$c" 0 "http://127.0.0.1:8080/ready: 200 OK"
    dk kill -s USR1 "$c" >/dev/null || fail "docker kill USR1"
    wait_health "$c" unhealthy
    expect_log "$c" 1 "http://127.0.0.1:8080/ready: 503 Service Unavailable"
    dk kill -s USR2 "$c" >/dev/null || fail "docker kill USR2"
    wait_health "$c" healthy
    expect_log "$c" 0 "http://127.0.0.1:8080/ready: 200 OK"
    dk stop -t 30 "$c" >/dev/null || fail "docker stop"
    [ "$(dk inspect --format '{{.State.ExitCode}}' "$c")" = 0 ] ||
        { dump "$c"; fail "$c did not exit 0 on SIGTERM"; }
    log "$c: passed"
}

# The shell form needs /bin/sh, which the image does not have: the probe
# can never run, and the container never becomes healthy.
shell_form() {
    local c=hc-shell
    run_container "$c" shell
    wait_health "$c" unhealthy
    expect_log "$c" -1 "no such file or directory"
    if dk inspect --format '{{range .State.Health.Log}}{{.ExitCode}} {{end}}' \
        "$c" | grep -qw 0; then
        fail "$c: a CMD-SHELL probe passed without a shell"
    fi
    log "$c: passed (curl healthcheck cannot run without a shell)"
}

main() {
    [ "$(id -u)" = 0 ] || skip "needs root to run dockerd"
    [ -x "$DEMO" ] || fail "not executable: $DEMO"
    [ -x "$PROBE" ] || fail "not executable: $PROBE"
    W=$(mktemp -d /tmp/health-docker.XXXXXX) || fail "mktemp"
    ensure_docker
    start_dockerd
    log "dockerd $(dk version --format '{{.Server.Version}}') up (pid $DPID)"
    make_rootfs
    write_dockerfile probe 'CMD ["/health-probe", "/ready"]'
    write_dockerfile self 'CMD ["/demo-service", "--probe", "/ready"]'
    write_dockerfile shell \
        'CMD curl -fsS http://127.0.0.1:8080/ready || exit 1'
    [ "$(dk inspect --format '{{json .Config.Healthcheck.Test}}' \
        "$IMAGE:shell")" = '["CMD-SHELL","curl -fsS http://127.0.0.1:8080/ready || exit 1"]' ] ||
        fail "the shell-form image does not hold a CMD-SHELL healthcheck"
    [ "$(dk inspect --format '{{.Config.User}}' "$IMAGE:probe")" = 65532:65532 ] ||
        fail "the image does not run as 65532 (distroless nonroot)"
    cycle hc-probe probe
    cycle hc-self self
    shell_form
    log "all Docker HEALTHCHECK cases passed"
}

main
