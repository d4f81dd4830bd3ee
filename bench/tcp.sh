#!/usr/bin/env bash
# TCP benchmarks of `sockit tcp serve` (issue 2), all in one run so they share one
# machine state:
#   (a) round trips/s, 100 clients, 64-byte `len` messages, one outstanding each, against
#       sockit --echo (text events and --json, stdout to /dev/null), the minimal tokio
#       echo loop (examples/echo_min.rs) and socat with fork; RUNS runs each, interleaved;
#   (b) IDLE (10,000) idle clients held by sockit: server memory from /proc and how fast
#       a new client is answered meanwhile, with echo_min as the reference.
# The script raises its open-file limit (ulimit -n) for (b). Loopback only; every load
# is bounded in time; servers are stopped on exit. Results go in docs/benchmarks.md.
#
#   bench/tcp.sh                       # RUNS=5 DURATION=10s CLIENTS=100 SIZE=64 IDLE=10000
#   IDLE_RUNS=0 RUNS=3 bench/tcp.sh    # round trips only
#   SOCKIT=/tmp/old/sockit bench/tcp.sh  # another build of sockit, same load generator
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh

RUNS=${RUNS:-5}
DURATION=${DURATION:-10s}
CLIENTS=${CLIENTS:-100}
SIZE=${SIZE:-64}
IDLE=${IDLE:-10000}
IDLE_RUNS=${IDLE_RUNS:-3}
# Errors from the load generator are one line, without a backtrace.
export RUST_BACKTRACE=0
# Any one load generator run is killed after this long.
STEP_LIMIT=300

require socat ss:iproute2 python3

cargo build --release --quiet --bin sockit --example loadgen --example echo_min
SOCKIT=${SOCKIT:-$RELEASE/sockit}
LOADGEN=$RELEASE/examples/loadgen
ECHO_MIN=$RELEASE/examples/echo_min

work_dir
SERVERS=()

# listening_port PID: the TCP port PID listens on. sockit prints an event per message,
# so its stdout goes to /dev/null (a pipe and a reader would cost it time) and its
# `listening` line cannot be read: ss names the port it bound, by process id, instead.
listening_port() {
    for _ in $(seq 200); do
        local addr
        addr=$(ss -Hltnp | awk -v p="pid=$1," 'index($0, p) { print $4; exit }')
        if [ -n "$addr" ]; then echo "${addr##*:}"; return 0; fi
        sleep 0.05
    done
    die "process $1 is not listening after 10 s"
}

# start NAME: starts server NAME on 127.0.0.1 with an ephemeral port; sets PID and PORT.
start() {
    case $1 in
    sockit)
        "$SOCKIT" tcp serve --bind 127.0.0.1:0 --echo --framing len >/dev/null &
        PID=$!
        PORT=$(listening_port "$PID") ;;
    sockit-json)
        "$SOCKIT" --json tcp serve --bind 127.0.0.1:0 --echo --framing len >/dev/null &
        PID=$!
        PORT=$(listening_port "$PID") ;;
    sockit-idle)
        "$SOCKIT" tcp serve --bind 127.0.0.1:0 --echo --framing len --max-clients 20000 >/dev/null &
        PID=$!
        PORT=$(listening_port "$PID") ;;
    echo_min)
        "$ECHO_MIN" >"$WORK/echo_min.out" &
        PID=$!
        PORT=$(listening_addr "$WORK/echo_min.out" | sed 's/.*://') ;;
    socat)
        # -d -d logs the bound address: "N listening on AF=2 127.0.0.1:PORT".
        socat -d -d TCP-LISTEN:0,bind=127.0.0.1,backlog=4096,fork,reuseaddr PIPE 2>"$WORK/socat.err" &
        PID=$!
        PORT=$(wait_line "$WORK/socat.err" 'listening on' | sed 's/.*://') ;;
    esac
    SERVERS+=("$PID")
}

stop() {
    kill "$1" 2>/dev/null || true
    wait "$1" 2>/dev/null || true
}

# settled_cpu_ticks PID: `cpu_ticks` once PID's children (socat's, one per client) have
# exited, so that each is counted whole, in its parent's reaped time.
settled_cpu_ticks() {
    for _ in $(seq 100); do
        [ -z "$(pgrep -P "$1")" ] && break
        sleep 0.05
    done
    cpu_ticks "$1"
}

# loadgen ARGS...: one bounded run; prints its JSON line.
loadgen() {
    timeout "$STEP_LIMIT" "$LOADGEN" "$@" | tail -n1
}

echo "# sockit TCP benchmarks, $(date -u '+%Y-%m-%d %H:%M UTC'), commit $(commit)"
echo "# $(machine), loopback"

# (a) Round trips: one server of each kind, runs interleaved so drift hits all alike.
NAMES=(sockit sockit-json echo_min socat)
declare -A ADDR SPID
for name in "${NAMES[@]}"; do
    start "$name"
    ADDR[$name]=127.0.0.1:$PORT
    SPID[$name]=$PID
    # Warm-up: page faults, allocator growth and socat's first forks stay out of the runs.
    loadgen --addr "${ADDR[$name]}" --clients "$CLIENTS" --size "$SIZE" --duration 2s >/dev/null
done
echo "# (a) round trips: $CLIENTS clients, $SIZE-byte messages, $DURATION per run, $RUNS runs"
for _ in $(seq "$RUNS"); do
    for name in "${NAMES[@]}"; do
        before=$(settled_cpu_ticks "${SPID[$name]}")
        line=$(loadgen --addr "${ADDR[$name]}" --clients "$CLIENTS" --size "$SIZE" --duration "$DURATION")
        ticks=$(($(settled_cpu_ticks "${SPID[$name]}") - before))
        echo "$name $ticks $line" | tee -a "$WORK/rtt.txt"
    done
done
for pid in "${SERVERS[@]}"; do stop "$pid"; done
SERVERS=()

# (b) Idle clients: both ends need a file descriptor per connection.
need=$((IDLE + 1000))
if [ "$(ulimit -Hn)" != unlimited ] && [ "$(ulimit -Hn)" -lt "$need" ]; then
    ulimit -Hn "$need" || { echo "bench: the hard open-file limit is below $need" >&2; exit 1; }
fi
ulimit -n "$(ulimit -Hn)"
touch "$WORK/idle.txt"
echo "# (b) idle: raised the open-file limit (ulimit -n) to $(ulimit -n) for $IDLE idle clients"
for _ in $(seq "$IDLE_RUNS"); do
    for name in sockit-idle echo_min; do
        start "$name"
        line=$(loadgen --addr "127.0.0.1:$PORT" --idle "$IDLE" --size "$SIZE" --probes 20 --hold 0s --pid "$PID")
        echo "$name 0 $line" | tee -a "$WORK/idle.txt"
        stop "$PID"
        SERVERS=()
    done
done

python3 - "$WORK/rtt.txt" "$WORK/idle.txt" "$(getconf CLK_TCK)" <<'EOF'
import json, statistics, sys
from collections import defaultdict

def load(path):
    runs = defaultdict(list)
    for line in open(path):
        name, ticks, obj = line.split(" ", 2)
        run = json.loads(obj)
        # Server CPU per round trip: steadier than the rate when others share the machine.
        run["cpu_us"] = int(ticks) * 1e6 / hz / max(run.get("round_trips", 1), 1)
        runs[name].append(run)
    return runs

def med(rows, key):
    return statistics.median(r[key] for r in rows)

hz = int(sys.argv[3])
rtt, idle = load(sys.argv[1]), load(sys.argv[2])
print("\n| server | round trips/s (median) | min–max | p50 µs | p99 µs | server CPU µs per round trip |")
print("|---|---:|---:|---:|---:|---:|")
for name, rows in rtt.items():
    rates = [r["per_sec"] for r in rows]
    print(f"| {name} | {med(rows, 'per_sec'):,.0f} | {min(rates):,.0f}–{max(rates):,.0f} "
          f"| {med(rows, 'p50_us'):.0f} | {med(rows, 'p99_us'):.0f} | {med(rows, 'cpu_us'):.1f} |")
def ratio(name, ref, key):
    """Median over runs of name/ref in the same run: adjacent runs share the machine's
    state, so this is steadier than a ratio of medians when other jobs come and go."""
    return statistics.median(a[key] / b[key] for a, b in zip(rtt[name], rtt[ref]))

for name in ("sockit", "sockit-json"):
    print(f"\n{name}: {ratio(name, 'echo_min', 'per_sec'):.2f}× echo_min's round trips/s "
          f"(target ≥ 0.9), {ratio(name, 'socat', 'per_sec'):.2f}× socat's; "
          f"{ratio(name, 'echo_min', 'cpu_us'):.2f}× echo_min's CPU per round trip", end="")
if not idle:  # IDLE_RUNS=0: round trips only
    print()
    sys.exit()
print("\n\n| idle server | clients held | VmRSS MiB | VmHWM MiB | new client median µs | max µs |")
print("|---|---:|---:|---:|---:|---:|")
for name, rows in idle.items():
    print(f"| {name} | {min(r['open'] for r in rows)} of {rows[0]['idle']} "
          f"| {med(rows, 'server_rss_kib') / 1024:.1f} | {med(rows, 'server_hwm_kib') / 1024:.1f} "
          f"| {med(rows, 'median_us'):.0f} | {max(r['max_us'] for r in rows)} |")
print("\n(targets: sockit-idle VmRSS < 150 MiB, a new client answered in < 50 ms)")
EOF
