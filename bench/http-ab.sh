#!/usr/bin/env bash
# Measures a change to `sockit http serve` on a shared, noisy machine: alternates short
# runs against this build, an older build and nginx, round after round, so that load
# from elsewhere hits all three alike; prints each run and the medians. Per round and
# server: `wrk -t2 -c64 -dSECSs` on a 4 KiB file (req/s, server CPU µs per request) and
# one 1 GiB download with bench/http-get.py (GB/s, server CPU ms).
# Needs: wrk, nginx, curl. Every server is a child of this script, stopped at the end.
# Usage: bench/http-ab.sh OLDER_SOCKIT [ROUNDS, default 5] [SECS per wrk run, default 4]
set -euo pipefail
cd "$(dirname "$0")/.."

source bench/lib.sh

OLD=${1:?usage: bench/http-ab.sh OLDER_SOCKIT [ROUNDS] [SECS]}
ROUNDS=${2:-5}
SECS=${3:-4}
require wrk nginx:nginx-light curl python3
cargo build --release --quiet
NEW=$RELEASE/sockit

source bench/http-lib.sh
start_sockit "$NEW" "$WORK/new.log"
NEW_PID=$STARTED_PID NEW_ADDR=$STARTED_ADDR
start_sockit "$OLD" "$WORK/old.log"
OLD_PID=$STARTED_PID OLD_ADDR=$STARTED_ADDR
start_nginx
wait_for "$NEW_ADDR" "$OLD_ADDR" "$NGINX_ADDR"

HZ=$(getconf CLK_TCK)
run() { # name pid addr
    local t0 t1 speed
    wrk_cpu "$1" small "$2" -t2 -c64 "http://$3/small.bin"
    t0=$(cpu_ticks "$2")
    speed=$(timeout 120 python3 bench/http-get.py "http://$3/big.bin")
    t1=$(cpu_ticks "$2")
    echo "$1 big $speed $(( (t1 - t0) * 1000 / HZ ))"
}
LOAD=$(cut -d' ' -f1-3 /proc/loadavg)
for _ in $(seq "$ROUNDS"); do
    run new "$NEW_PID" "$NEW_ADDR"
    run before "$OLD_PID" "$OLD_ADDR"
    run nginx "$NGINX_PID" "$NGINX_ADDR"
done | tee "$WORK/runs"
echo
python3 - "$WORK/runs" <<'PY'
import statistics, sys
rows = {}
for line in open(sys.argv[1]):
    name, kind, value, cpu = line.split()
    rows.setdefault((name, kind), []).append((float(value), float(cpu)))
med = lambda xs: statistics.median(xs)
print("| server | 4 KiB, 64 conns: req/s | CPU per request | 1 GiB download | CPU for it |")
print("|---|---:|---:|---:|---:|")
for name in ["new", "before", "nginx"]:
    small, big = rows[(name, "small")], rows[(name, "big")]
    print(f"| {name} | {med([v for v, _ in small]):.0f} | {med([c for _, c in small]):.1f} µs "
          f"| {med([v for v, _ in big]) / 1e9:.2f} GB/s | {med([c for _, c in big]):.0f} ms |")
PY
echo
echo "medians of $ROUNDS alternating rounds (wrk ${SECS}s); $(machine); commit $(commit); load average before: $LOAD"
