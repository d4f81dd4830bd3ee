#!/usr/bin/env bash
# Compares `sockit http serve` with nginx and python3 -m http.server, in one run, on
# loopback: a 4 KiB file under 64 connections (wrk), one connection's latency (wrk -c1),
# and a 1 GiB download (bench/http-get.py, which discards the body; see there why not
# curl) with the server's peak RSS meanwhile.
# Needs: wrk, nginx, python3, curl (apt-get install wrk nginx-light python3 curl).
# Every load is bounded in time; every server is a child of this script and is stopped
# at the end. Usage: bench/http.sh [SECONDS per wrk run, default 10]
# Environment: SOCKIT_BEFORE=path/to/an/older/sockit adds its row to the same run (to
# measure a change); NO_PYTHON=1 leaves python's server out; DOWNLOADS (default 5) is
# how many 1 GiB downloads each server gets (their median speed and CPU are shown).
set -euo pipefail
cd "$(dirname "$0")/.."

source bench/lib.sh

SECS=${1:-10}
DOWNLOADS=${DOWNLOADS:-5} # 1 GiB downloads per server; their median is reported
require wrk nginx:nginx-light python3 curl
cargo build --release --quiet
SOCKIT=$RELEASE/sockit

source bench/http-lib.sh

LOAD=$(cut -d' ' -f1-3 /proc/loadavg)

# --- start the three servers ---------------------------------------------------------
start_sockit "$SOCKIT" "$WORK/sockit.log"
SOCKIT_PID=$STARTED_PID SOCKIT_ADDR=$STARTED_ADDR
ADDRS=("$SOCKIT_ADDR")
if [ -n "${SOCKIT_BEFORE:-}" ]; then
    start_sockit "$SOCKIT_BEFORE" "$WORK/before.log"
    BEFORE_PID=$STARTED_PID BEFORE_ADDR=$STARTED_ADDR
    ADDRS+=("$BEFORE_ADDR")
fi

start_nginx

ADDRS+=("$NGINX_ADDR")
if [ -z "${NO_PYTHON:-}" ]; then
PY_PORT=$(free_port)
timeout 900 python3 -m http.server "$PY_PORT" --bind 127.0.0.1 --directory "$WORK/www" >/dev/null 2>&1 &
PY_PID=$!
PY_ADDR=127.0.0.1:$PY_PORT
ADDRS+=("$PY_ADDR")
fi

wait_for "${ADDRS[@]}"

# Resident memory of a process and its children, in MiB.
rss_mib() {
    local total=0 pid
    for pid in "$1" $(pgrep -P "$1" || true); do
        total=$((total + $(awk '/VmRSS/ {print $2}' "/proc/$pid/status" 2>/dev/null || echo 0)))
    done
    echo $((total / 1024))
}

# --- measure --------------------------------------------------------------------------
echo "| server | 4 KiB, 64 conns: req/s | server CPU per request | 1 conn: req/s | 1 conn: avg / p99 latency | 1 GiB download | server CPU for it | peak RSS during it |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|"
measure() {
    local name=$1 addr=$2 pid=$3
    local many out t0 t1 reqs cpu one rps1 avg p99 speed peak=0 rss
    t0=$(cpu_ticks "$pid")
    out=$(timeout $((SECS + 30)) wrk -t2 -c64 -d"${SECS}s" "http://$addr/small.bin")
    t1=$(cpu_ticks "$pid")
    many=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
    reqs=$(awk '/requests in/ {print $1}' <<<"$out")
    cpu=$(( (t1 - t0) * 1000000 / $(getconf CLK_TCK) / reqs ))
    one=$(timeout $((SECS + 30)) wrk -t1 -c1 -d"${SECS}s" --latency "http://$addr/small.bin")
    rps1=$(awk '/Requests\/sec/ {print $2}' <<<"$one")
    avg=$(awk '$1 == "Latency" {print $2; exit}' <<<"$one")
    p99=$(awk '$1 == "99%" {print $2}' <<<"$one")
    # Several downloads, and their medians: how the scheduler places the server and the
    # client on the two cores moves a single download's speed by up to 2x, for nginx too.
    : >"$WORK/speed"
    : >"$WORK/big_cpu"
    for _ in $(seq "$DOWNLOADS"); do
        t0=$(cpu_ticks "$pid")
        timeout 120 python3 bench/http-get.py "http://$addr/big.bin" >>"$WORK/speed" &
        local get_pid=$!
        while kill -0 "$get_pid" 2>/dev/null; do
            rss=$(rss_mib "$pid"); [ "$rss" -gt "$peak" ] && peak=$rss
            sleep 0.05
        done
        wait "$get_pid" || true
        t1=$(cpu_ticks "$pid")
        echo $(( (t1 - t0) * 1000 / $(getconf CLK_TCK) )) >>"$WORK/big_cpu"
    done
    local big_cpu; big_cpu=$(median <"$WORK/big_cpu" | awk '{printf "%.0f", $1}')
    speed=$(median <"$WORK/speed" | awk '{printf "%.2f GB/s", $1 / 1e9}')
    echo "| $name | $many | $cpu µs | $rps1 | $avg / $p99 | $speed | $big_cpu ms | $peak MiB |"
}
measure "sockit http serve" "$SOCKIT_ADDR" "$SOCKIT_PID"
[ -n "${SOCKIT_BEFORE:-}" ] && measure "sockit (before)" "$BEFORE_ADDR" "$BEFORE_PID"
measure "nginx $(nginx -v 2>&1 | sed 's|.*/||')" "$NGINX_ADDR" "$NGINX_PID"
[ -z "${NO_PYTHON:-}" ] && measure "python3 -m http.server" "$PY_ADDR" "$PY_PID"
echo
echo "machine: $(machine); files on $BASE; wrk runs of ${SECS}s; commit $(commit); load average before: $LOAD"
