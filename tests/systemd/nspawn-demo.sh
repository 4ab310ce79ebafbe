#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# nspawn-demo.sh DEMO_SERVICE LIBHEALTH|none UNIT_FILE CACHE_DIR
#
# The demo service under a real systemd: a Debian 12 root filesystem
# (debootstrap, cached in CACHE_DIR so a second run downloads nothing)
# booted with systemd-nspawn, the demo and examples/systemd's unit copied
# in, and the unit's state read from outside with nsenter + systemctl.
# Proves:
#   1. the unit turns active only after /ready passes (--startup-delay);
#   2. StatusText names a failing check;
#   3. a stalled heartbeat (--stall-file) stops the watchdog pings and
#      systemd kills and restarts the service within WatchdogSec;
#   4. systemctl stop drains: /ready 503 while /live stays 200, then exit.
# Exits 77 (skipped) when not root or the tools are missing, except with
# CI=true.  Always tears the container down.
set -uo pipefail

DEMO=${1:?usage: $0 DEMO_SERVICE LIBHEALTH|none UNIT_FILE CACHE_DIR}
LIB=${2:?}
UNIT_FILE=${3:?}
CACHE=${4:?}
UNIT=demo-service.service
ROOT=$CACHE/root
PACKAGES=systemd,systemd-sysv,dbus,libmicrohttpd12,libcjson1,curl
WATCHDOG_S=4      # WatchdogSec= in the unit
RESTART_S=1       # RestartSec= in the unit
STARTUP_DELAY_MS=3000
SHUTDOWN_DELAY_MS=5000 # --shutdown-delay in the unit
NSPID=""
SDPID=""
LOG=$(mktemp)

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
now_ms() { echo $(($(date +%s%N) / 1000000)); }

cleanup() {
    local rc=$?
    set +e
    trap - EXIT INT TERM
    if [ -n "$NSPID" ] && kill -0 "$NSPID" 2>/dev/null; then
        if [ $rc -ne 0 ] && [ -n "$SDPID" ]; then
            log "journal of $UNIT:"
            timeout 10 nsenter -t "$SDPID" -a journalctl -u "$UNIT" \
                --no-pager -n 60 2>&1 | sed 's/^/    /'
        fi
        # SIGTERM: nspawn asks the container's systemd to power off.
        kill "$NSPID"
        for _ in $(seq 300); do
            kill -0 "$NSPID" 2>/dev/null || break
            sleep 0.1
        done
        kill -0 "$NSPID" 2>/dev/null && kill -KILL "$NSPID"
        wait "$NSPID" 2>/dev/null
    fi
    if [ $rc -ne 0 ] && [ $rc -ne 77 ]; then
        log "container console (last lines):"
        tail -n 30 "$LOG" | sed 's/^/    /'
    fi
    rm -f "$LOG"
    exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# In the container: a command with a deadline.
inside() { timeout 20 nsenter -t "$SDPID" -a "$@"; }
prop() { inside systemctl show "$UNIT" -p "$1" --value 2>/dev/null; }
code() {
    inside curl -s -o /dev/null -m 2 -w '%{http_code}' \
        "http://127.0.0.1:8080$1" 2>/dev/null
}

# Waits up to $1 seconds for the command after it to succeed.
wait_for() {
    local secs=$1 end
    shift
    end=$(($(date +%s) + secs))
    until "$@"; do
        [ "$(date +%s)" -lt "$end" ] || return 1
        sleep 0.2
    done
}

# The Debian mirror apt uses here (deb822 or one-line sources).
mirror() {
    local m
    m=$(cat /etc/apt/sources.list.d/*.sources 2>/dev/null |
        awk '/^URIs:/ { u = $2 } /^Suites:/ && / bookworm( |$)/ { print u; exit }')
    [ -n "$m" ] || m=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list \
        2>/dev/null | awk '$1 == "deb" && $3 == "bookworm" { print $2; exit }')
    echo "${m:-http://deb.debian.org/debian}"
}

build_rootfs() {
    local m t0
    if [ -f "$CACHE/stamp" ] && [ "$(cat "$CACHE/stamp")" = "$PACKAGES" ]; then
        log "root filesystem cached in $ROOT"
        return 0
    fi
    m=$(mirror)
    log "debootstrap bookworm from $m (once; cached in $CACHE)"
    # An interrupted debootstrap can leave /proc and /sys mounted inside.
    findmnt -rn -o TARGET | grep -F "$CACHE/" | sort -r |
        while read -r mp; do umount -l "$mp"; done
    rm -rf --one-file-system "$CACHE"
    mkdir -p "$CACHE"
    t0=$(date +%s)
    timeout 900 debootstrap --variant=minbase --include="$PACKAGES" \
        bookworm "$CACHE/root.tmp" "$m" >"$CACHE/debootstrap.log" 2>&1 ||
        {
            tail -n 20 "$CACHE/debootstrap.log"
            fail "debootstrap failed"
        }
    mv "$CACHE/root.tmp" "$ROOT"
    echo "$PACKAGES" >"$CACHE/stamp"
    log "debootstrap took $(($(date +%s) - t0)) s"
}

# The demo, its library and the unit; a drop-in adds the startup delay.
install_demo() {
    install -m 755 "$DEMO" "$ROOT/usr/local/bin/demo-service"
    if [ "$LIB" != none ]; then
        install -m 644 "$LIB" "$ROOT/usr/local/lib/$(basename "$LIB")"
        chroot "$ROOT" /sbin/ldconfig
    fi
    install -m 644 "$UNIT_FILE" "$ROOT/etc/systemd/system/$UNIT"
    mkdir -p "$ROOT/etc/systemd/system/$UNIT.d"
    {
        echo "[Service]"
        sed -n '/^ExecStart=/,/[^\\]$/p' "$UNIT_FILE" |
            sed '$ s/$/ --startup-delay '"$STARTUP_DELAY_MS"'/' |
            sed '1 s/^/ExecStart=\n/'
    } >"$ROOT/etc/systemd/system/$UNIT.d/test.conf"
    # A quicker boot: nothing here needs a login prompt.
    ln -sfn /dev/null "$ROOT/etc/systemd/system/console-getty.service"
    # Each boot starts with an empty journal: nothing of an earlier run
    # can satisfy a check of this one.
    mkdir -p "$ROOT/etc/systemd/journald.conf.d"
    printf '[Journal]\nStorage=volatile\n' \
        >"$ROOT/etc/systemd/journald.conf.d/volatile.conf"
    rm -rf "$ROOT/var/log/journal"
}

boot() {
    local t0 pid
    t0=$(now_ms)
    systemd-nspawn -q -b --register=no --keep-unit --private-network \
        --console=read-only -D "$ROOT" </dev/null >"$LOG" 2>&1 &
    NSPID=$!
    # The container's init is the nspawn child named systemd.
    find_init() {
        for pid in $(ps -o pid= --ppid "$NSPID" 2>/dev/null); do
            if [ "$(cat /proc/"$pid"/comm 2>/dev/null)" = systemd ]; then
                SDPID=$pid
                return 0
            fi
        done
        kill -0 "$NSPID" 2>/dev/null || fail "systemd-nspawn exited"
        return 1
    }
    wait_for 30 find_init || fail "no systemd in the container"
    booted() {
        local s
        s=$(inside systemctl is-system-running 2>/dev/null)
        [ "$s" = running ] || [ "$s" = degraded ]
    }
    wait_for 60 booted || fail "the container did not finish booting"
    log "booted in $(($(now_ms) - t0)) ms (systemd pid $SDPID)"
}

# 1. Active only once /ready passes.
test_ready() {
    local s r t0 saw_gate=0 status_starting=0 start enter
    t0=$(now_ms)
    inside systemctl start --no-block "$UNIT" || fail "systemctl start"
    while :; do
        [ $(($(now_ms) - t0)) -lt 30000 ] || fail "not active after 30 s"
        s=$(prop ActiveState)
        r=$(code /ready)
        case "$s" in
        activating)
            # 200 here is the moment between /ready passing and systemd
            # taking READY=1; active before /ready passes is the failure.
            [ "$r" = 503 ] && saw_gate=1
            [[ "$(prop StatusText)" == starting* ]] && status_starting=1
            ;;
        active)
            [ "$r" = 200 ] || fail "unit active while /ready answers $r"
            break
            ;;
        failed) fail "unit failed to start" ;;
        esac
        sleep 0.2
    done
    [ $saw_gate = 1 ] || fail "never saw /ready 503 while activating"
    [ $status_starting = 1 ] || fail "StatusText never said starting"
    start=$(prop ExecMainStartTimestampMonotonic)
    enter=$(prop ActiveEnterTimestampMonotonic)
    [ $(((enter - start) / 1000)) -ge $STARTUP_DELAY_MS ] ||
        fail "active $(((enter - start) / 1000)) ms after exec"
    log "ok: active $(((enter - start) / 1000)) ms after exec, once /ready passed"
}

# 2. StatusText names the failing check, then recovers.
test_status() {
    local st
    status_is() { [ "$(prop StatusText)" = "$1" ]; }
    wait_for 10 status_is ready || fail "StatusText: '$(prop StatusText)'"
    inside touch /run/demo-service/fail
    wait_for 15 status_is "not ready; failing: dependency" ||
        fail "StatusText: '$(prop StatusText)'"
    st=$(prop StatusText)
    [ "$(code /ready)" = 503 ] || fail "/ready passes with a failing check"
    [ "$(prop ActiveState)" = active ] || fail "a READY check changed the unit"
    inside rm -f /run/demo-service/fail
    wait_for 15 status_is ready || fail "StatusText: '$(prop StatusText)'"
    log "ok: StatusText=\"$st\", then \"ready\""
}

# 3. A stalled main loop: no pings, systemd restarts the service.
test_watchdog() {
    local n0 pid0 t_fail t_restart took
    n0=$(prop NRestarts)
    pid0=$(prop MainPID)
    # While /live passes, the pings keep it running past two WatchdogSec.
    sleep $((2 * WATCHDOG_S))
    if [ "$(prop MainPID)" != "$pid0" ] || [ "$(prop NRestarts)" != "$n0" ]; then
        fail "restarted while /live passed"
    fi
    inside touch /run/demo-service/stall
    live_fails() { [ "$(code /live)" = 503 ]; }
    wait_for 10 live_fails || fail "/live still passes with a stalled loop"
    t_fail=$(now_ms)
    restarted() { [ "$(prop NRestarts)" -gt "$n0" ]; }
    wait_for 30 restarted || fail "no restart (NRestarts $(prop NRestarts))"
    t_restart=$(now_ms)
    inside rm -f /run/demo-service/stall
    took=$((t_restart - t_fail))
    [ $took -le $(((WATCHDOG_S + RESTART_S + 2) * 1000)) ] ||
        fail "restart $took ms after /live failed (WatchdogSec=${WATCHDOG_S}s)"
    journal_says() {
        inside journalctl -b -u "$UNIT" --no-pager | grep -q "$1"
    }
    wait_for 10 journal_says "Watchdog timeout" ||
        fail "the journal shows no watchdog timeout"
    active() { [ "$(prop ActiveState)" = active ]; }
    wait_for 30 active || fail "not active again after the restart"
    [ "$(prop MainPID)" != "$pid0" ] || fail "same MainPID after a restart"
    [ "$(code /live)" = 200 ] || fail "/live fails after the restart"
    log "ok: watchdog restart $took ms after /live failed;" \
        "NRestarts $n0 -> $(prop NRestarts)"
}

# 4. systemctl stop drains before the process exits.
test_stop() {
    local t0 s r l saw_drain=0 saw_status=0 took
    t0=$(now_ms)
    inside systemctl stop --no-block "$UNIT" || fail "systemctl stop"
    while :; do
        [ $(($(now_ms) - t0)) -lt 30000 ] || fail "not stopped after 30 s"
        s=$(prop ActiveState)
        [ "$s" = deactivating ] || break
        [ "$(prop StatusText)" = "shutting down" ] && saw_status=1
        r=$(code /ready)
        l=$(code /live)
        if [ "$r" = 503 ] && [ "$l" = 200 ]; then
            saw_drain=1
        elif [ "$r" = 200 ]; then
            fail "/ready passes while stopping"
        fi
        sleep 0.2
    done
    took=$(($(now_ms) - t0))
    [ "$s" = inactive ] || fail "ActiveState $s after stop"
    [ $saw_drain = 1 ] || fail "never saw /ready 503 with /live 200"
    [ $saw_status = 1 ] || fail "StatusText never said shutting down"
    [ "$(prop Result)" = success ] || fail "Result $(prop Result)"
    [ $took -ge $((SHUTDOWN_DELAY_MS - 500)) ] || fail "stopped in $took ms"
    [ "$(code /live)" = 000 ] || fail "still serving after stop"
    log "ok: drained for $took ms (/ready 503, /live 200), exited cleanly"
}

[ "$(id -u)" -eq 0 ] || skip "needs root"
for tool in debootstrap systemd-nspawn nsenter chroot; do
    command -v "$tool" >/dev/null || skip "$tool not installed"
done
build_rootfs
install_demo
boot
test_ready
test_status
test_watchdog
test_stop
log "PASS"
