#!/usr/bin/env bash
# Measures a change to `sockit http serve` on a shared, noisy machine: alternates short
# runs against this build, an older build and nginx, round after round, so that load
# from elsewhere hits all three alike; prints each run and the means. Per round and
# server: `wrk -t2 -c64 -dSECSs` on a 4 KiB file (req/s, server CPU µs per request) and
# one 1 GiB download with curl (GB/s, server CPU ms).
# Needs: wrk, nginx, curl. Every server is a child of this script, stopped at the end.
# Usage: bench/http-ab.sh OLDER_SOCKIT [ROUNDS, default 5] [SECS per wrk run, default 4]
set -euo pipefail
cd "$(dirname "$0")/.."

OLD=${1:?usage: bench/http-ab.sh OLDER_SOCKIT [ROUNDS] [SECS]}
ROUNDS=${2:-5}
SECS=${3:-4}
cargo build --release --quiet
NEW=$PWD/target/release/sockit

BASE=/tmp
[ -d /dev/shm ] && BASE=/dev/shm
WORK=$(mktemp -d "$BASE/sockit-bench-ab.XXXXXX")
chmod 755 "$WORK"
PIDS=()
cleanup() {
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT
mkdir -p "$WORK/www" "$WORK/nginx"
head -c 4096 /dev/urandom >"$WORK/www/small.bin"
head -c 1G /dev/zero >"$WORK/www/big.bin"

start_sockit() { # binary log; sets STARTED_PID and STARTED_ADDR
    "$1" http serve "$WORK/www" --bind 127.0.0.1:0 >"$2" 2>&1 &
    STARTED_PID=$!
    PIDS+=($!)
    for _ in $(seq 100); do grep -q listening "$2" && break; sleep 0.05; done
    STARTED_ADDR=$(head -1 "$2" | sed 's|.*http://||')
}
start_sockit "$NEW" "$WORK/new.log"
NEW_PID=$STARTED_PID NEW_ADDR=$STARTED_ADDR
start_sockit "$OLD" "$WORK/old.log"
OLD_PID=$STARTED_PID OLD_ADDR=$STARTED_ADDR
NGINX_PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat >"$WORK/nginx/nginx.conf" <<EOF
daemon off; worker_processes auto; pid $WORK/nginx/nginx.pid; error_log $WORK/nginx/error.log warn;
events { worker_connections 1024; }
http { access_log off; sendfile on; tcp_nopush on; tcp_nodelay on; keepalive_requests 1000000;
  client_body_temp_path $WORK/nginx; proxy_temp_path $WORK/nginx; fastcgi_temp_path $WORK/nginx;
  uwsgi_temp_path $WORK/nginx; scgi_temp_path $WORK/nginx; default_type application/octet-stream;
  server { listen 127.0.0.1:$NGINX_PORT; root $WORK/www; } }
EOF
timeout 1800 nginx -c "$WORK/nginx/nginx.conf" -p "$WORK/nginx" 2>&1 &
PIDS+=($!)
NGINX_ADDR=127.0.0.1:$NGINX_PORT
for addr in "$NEW_ADDR" "$OLD_ADDR" "$NGINX_ADDR"; do
    for _ in $(seq 100); do curl -sf -o /dev/null "http://$addr/small.bin" && break; sleep 0.05; done
done
NGINX_PID=$(cat "$WORK/nginx/nginx.pid")

ticks() { # CPU clock ticks of a process and its children
    local total=0 pid
    for pid in "$1" $(pgrep -P "$1" || true); do
        total=$((total + $(awk '{print $14 + $15}' "/proc/$pid/stat" 2>/dev/null || echo 0)))
    done
    echo "$total"
}
HZ=$(getconf CLK_TCK)
run() { # name pid addr
    local t0 t1 out reqs rps speed
    t0=$(ticks "$2")
    out=$(timeout $((SECS + 30)) wrk -t2 -c64 -d"${SECS}s" "http://$3/small.bin")
    t1=$(ticks "$2")
    reqs=$(awk '/requests in/ {print $1}' <<<"$out")
    rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
    echo "$1 small $rps $(( (t1 - t0) * 1000000 / HZ / reqs ))"
    t0=$(ticks "$2")
    speed=$(curl -s -o /dev/null --max-time 120 -w '%{speed_download}' "http://$3/big.bin")
    t1=$(ticks "$2")
    echo "$1 big $speed $(( (t1 - t0) * 1000 / HZ ))"
}
LOAD=$(cut -d' ' -f1-3 /proc/loadavg)
for _ in $(seq "$ROUNDS"); do
    run new "$NEW_PID" "$NEW_ADDR"
    run before "$OLD_PID" "$OLD_ADDR"
    run nginx "$NGINX_PID" "$NGINX_ADDR"
done | tee "$WORK/runs"
echo
echo "| server | 4 KiB, 64 conns: req/s | CPU per request | 1 GiB download | CPU for it |"
echo "|---|---:|---:|---:|---:|"
for name in new before nginx; do
    awk -v n="$name" '$1 == n && $2 == "small" {r += $3; c += $4; k++}
        $1 == n && $2 == "big" {s += $3; b += $4; m++}
        END {printf "| %s | %.0f | %.1f µs | %.2f GB/s | %.0f ms |\n", n, r / k, c / k, s / m / 1e9, b / m}' "$WORK/runs"
done
echo
echo "means of $ROUNDS alternating rounds (wrk ${SECS}s); $(nproc) cores; commit $(git rev-parse --short HEAD); load average before: $LOAD"
