#!/usr/bin/env bash
# Real PostgreSQL and Redis servers on loopback, from Debian's packages,
# in a temporary directory on free ports (as nobody when run as root):
# the libpq and hiredis example checks, and the ready-made tcp and http
# checks next to them, pass, fail when a server stops, and pass again when
# it is back.
#
#   servers.sh POSTGRES_CHECK REDIS_CHECK READY_MADE
#
# Exits 77 (skipped) when the servers or the examples are not available.
set -euo pipefail

pgcheck=$1
rcheck=$2
readymade=$3

skip() {
    echo "servers: skipped: $*"
    exit 77
}

[ -x "$pgcheck" ] || skip "postgres-check was not built (no libpq-dev)"
[ -x "$rcheck" ] || skip "redis-check was not built (no libhiredis-dev)"
pgbin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
[ -n "$pgbin" ] && [ -x "$pgbin/initdb" ] || skip "no PostgreSQL server (postgresql)"
redis=$(command -v redis-server || true)
[ -n "$redis" ] || skip "no redis-server"
command -v curl >/dev/null || skip "no curl"

tmp=$(mktemp -d /tmp/health-servers-XXXXXX)
pids=()

as_user() {
    if [ "$(id -u)" -eq 0 ]; then
        runuser -u nobody -- "$@"
    else
        "$@"
    fi
}

cleanup() {
    local p
    for p in "${pids[@]}"; do
        kill "$p" 2>/dev/null || true
    done
    if [ -f "$tmp/pg/postmaster.pid" ]; then
        as_user "$pgbin/pg_ctl" -D "$tmp/pg" -m immediate -w stop >/dev/null 2>&1 || true
    fi
    if [ -f "$tmp/redis.pid" ]; then
        kill "$(cat "$tmp/redis.pid")" 2>/dev/null || true
    fi
    wait 2>/dev/null || true
    rm -rf "$tmp"
}
trap cleanup EXIT
[ "$(id -u)" -eq 0 ] && chown nobody "$tmp"

listening() {
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

free_port() {
    local p i
    for i in $(seq 1 100); do
        p=$((20000 + RANDOM % 30000))
        listening "$p" || { echo "$p"; return 0; }
    done
    echo "servers: no free port" >&2
    exit 1
}

# Polls a condition every 100 ms for at most $1 seconds.
wait_for() {
    local limit=$(($1 * 10)) i
    shift
    for ((i = 0; i < limit; i++)); do
        "$@" && return 0
        sleep 0.1
    done
    return 1
}

pg_start() {
    as_user "$pgbin/pg_ctl" -D "$tmp/pg" -l "$tmp/pg.log" -w -t 60 \
        -o "-p $pgport -k $tmp -c listen_addresses=127.0.0.1 -c fsync=off" \
        start >/dev/null
}

pg_stop() {
    as_user "$pgbin/pg_ctl" -D "$tmp/pg" -m fast -w -t 60 stop >/dev/null
}

redis_start() {
    as_user "$redis" --port "$rport" --bind 127.0.0.1 --save "" \
        --appendonly no --daemonize yes --pidfile "$tmp/redis.pid" \
        --dir "$tmp" --logfile "$tmp/redis.log"
    wait_for 20 listening "$rport"
}

redis_stop() {
    local pid
    pid=$(cat "$tmp/redis.pid")
    kill "$pid"
    wait_for 20 eval "! kill -0 $pid 2>/dev/null"
    rm -f "$tmp/redis.pid"
}

# Starts an example on an ephemeral port; sets $port to it.
start_example() {
    local out=$1
    shift
    HEALTH_PORT=0 HEALTH_BIND=127.0.0.1 HEALTH_DETAILS=always "$@" >"$out" 2>&1 &
    pids+=($!)
    wait_for 20 grep -q '^port ' "$out" || { cat "$out"; exit 1; }
    port=$(awk '/^port /{print $2; exit}' "$out")
}

# The status of check $2 in GET /health on port $1.
status_of() {
    curl -s --max-time 5 "http://127.0.0.1:$1/health" |
        grep -o "\"$2\":\[{\"status\":\"[a-z]*\"" | sed 's/.*"status":"//; s/"$//'
}

is_status() {
    [ "$(status_of "$1" "$2")" = "$3" ]
}

passed=0
expect() {
    if ! wait_for 20 is_status "$1" "$2" "$3"; then
        echo "servers: FAIL: $2 is \"$(status_of "$1" "$2")\", expected $3:"
        curl -s "http://127.0.0.1:$1/health"
        echo
        exit 1
    fi
    echo "servers: $2 $3"
    passed=$((passed + 1))
}

as_user "$pgbin/initdb" -D "$tmp/pg" -A trust -U postgres --no-sync >/dev/null
pgport=$(free_port)
pg_start
rport=$(free_port)
redis_start

start_example "$tmp/pgcheck.out" "$pgcheck" 127.0.0.1 "$pgport" postgres
pgc=$port
start_example "$tmp/rcheck.out" "$rcheck" 127.0.0.1 "$rport" \
    "http://127.0.0.1:$pgc/ready"
rc=$port

for c in postgres postgres-port memory fds; do expect "$pgc" "$c" pass; done
for c in redis redis-port upstream; do expect "$rc" "$c" pass; done

pg_stop
expect "$pgc" postgres fail
expect "$pgc" postgres-port fail
expect "$rc" upstream fail # postgres-check's /ready is 503 now
pg_start
expect "$pgc" postgres pass
expect "$pgc" postgres-port pass
expect "$rc" upstream pass

redis_stop
expect "$rc" redis fail
expect "$rc" redis-port fail
redis_start
expect "$rc" redis pass
expect "$rc" redis-port pass

# The README's example of every ready-made check serves /live.
start_example "$tmp/readymade.out" "$readymade"
expect "$port" memory pass
expect "$port" fds pass
expect "$port" dns pass
[ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/live")" = 200 ]

# Each example stops cleanly on SIGTERM.
for p in "${pids[@]}"; do
    kill -TERM "$p"
    wait "$p"
done
pids=()
echo "servers: $passed passed, 0 failed"
