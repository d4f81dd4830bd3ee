#!/usr/bin/env bash
# UDP receive rate on loopback: `sockit udp serve --silent` (stdout to /dev/null) beside
# `socat -u UDP-RECV:PORT /dev/null`, both fed by examples/udpblast.rs at several paced
# rates. Loss is read from the kernel: the `drops` column of the receiving socket in
# /proc/net/udp (datagrams discarded because its receive buffer was full).
#
# Bounded: each run sends at most MAX_COUNT datagrams (default 300000) for about
# SECONDS_PER_RUN (default 1) seconds, to 127.0.0.1 only; each row is the median of
# REPEAT (default 3) runs.
#
#   bench/udp.sh                       # the table in docs/benchmarks.md
#   RATES="100000 0" SIZES=64 bench/udp.sh
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh

RATES=${RATES:-"50000 100000 200000 400000 0"}   # datagrams/s; 0 = as fast as possible
SIZES=${SIZES:-"64 1400"}
# sockit-4m / socat-4m: the same receivers with a 4 MiB SO_RCVBUF (needs
# net.core.rmem_max >= 4194304 to take effect).
RECEIVERS=${RECEIVERS:-"sockit socat sockit-4m socat-4m"}
SECONDS_PER_RUN=${SECONDS_PER_RUN:-1}
MAX_COUNT=${MAX_COUNT:-300000}
REPEAT=${REPEAT:-3}        # runs per row; the row shows the median

require socat python3
cargo build --release --quiet --bin sockit --example udpblast
SOCKIT=${SOCKIT:-$RELEASE/sockit}
BLAST=$RELEASE/examples/udpblast

# Prints "DROPS RXQUEUE" of the UDP socket bound to port $1, or "none 0".
socket_stats() {
    python3 - "$1" <<'PY'
import sys
port = int(sys.argv[1])
for line in open('/proc/net/udp').readlines()[1:]:
    f = line.split()
    if int(f[1].split(':')[1], 16) == port:
        print(f[-1], int(f[4].split(':')[1], 16))
        break
else:
    print("none 0")
PY
}

# Waits (at most 5 s) until the socket on port $1 exists.
wait_bound() {
    for _ in $(seq 50); do
        [ "$(socket_stats "$1" | cut -d' ' -f1)" != none ] && return 0
        sleep 0.1
    done
    die "receiver on port $1 did not start"
}

# Waits (at most 3 s) until the receiver has read everything queued.
wait_drained() {
    for _ in $(seq 30); do
        [ "$(socket_stats "$1" | cut -d' ' -f2)" = 0 ] && return 0
        sleep 0.1
    done
}

one_run() { # receiver size rate -> "achieved sent drops"
    local receiver=$1 size=$2 rate=$3 port pid count
    port=$(free_port udp)
    case $receiver in
        sockit) "$SOCKIT" udp serve --silent --bind "127.0.0.1:$port" >/dev/null 2>&1 & pid=$! ;;
        socat) socat -u "UDP-RECV:$port,bind=127.0.0.1" /dev/null & pid=$! ;;
        sockit-4m) "$SOCKIT" udp serve --silent --rcvbuf 4MiB --bind "127.0.0.1:$port" \
            >/dev/null 2>&1 & pid=$! ;;
        socat-4m) socat -u "UDP-RECV:$port,bind=127.0.0.1,rcvbuf=4194304" /dev/null & pid=$! ;;
    esac
    wait_bound "$port"
    if [ "$rate" = 0 ]; then count=$MAX_COUNT; else count=$((rate * SECONDS_PER_RUN)); fi
    [ "$count" -gt "$MAX_COUNT" ] && count=$MAX_COUNT
    local blast
    blast=$("$BLAST" "127.0.0.1:$port" "$size" "$rate" "$count")
    wait_drained "$port"
    local drops
    drops=$(socket_stats "$port" | cut -d' ' -f1)
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    echo "$(sed 's/.*rate=\([0-9]*\).*/\1/' <<<"$blast") $(sed 's/.*sent=\([0-9]*\).*/\1/' <<<"$blast") $drops"
}

# One table row: the run with the median loss out of REPEAT runs.
row() { # receiver size rate
    local runs=""
    for _ in $(seq "$REPEAT"); do runs+="$(one_run "$@");"; done
    python3 - "$1" "$2" "$3" "$runs" <<'PY'
import sys
receiver, size, rate, runs = sys.argv[1:]
runs = sorted((int(d) / int(s), int(a), int(s), int(d)) for a, s, d in
              (r.split() for r in runs.strip(';').split(';')))
loss, achieved, sent, drops = runs[len(runs) // 2]
losses = ' / '.join(f'{100 * r[0]:.1f}' for r in runs)
target = 'max' if rate == '0' else rate
taken = round(achieved * (1 - loss))  # datagrams/s that reached the receiver
print(f'| {receiver:<9} | {size:>4} | {target:>6} | {achieved:>7} | {sent:>6} | {drops:>6} | {100 * loss:5.2f}% | {taken:>7} | {losses} |')
PY
}

echo "| receiver | size (B) | target rate (/s) | sent rate (/s) | sent | dropped | loss (median) | taken (/s) | loss % of each run |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|---|"
for size in $SIZES; do
    for rate in $RATES; do
        for receiver in $RECEIVERS; do
            row "$receiver" "$size" "$rate"
        done
    done
done
