#!/usr/bin/env bash
# Servers under a flood with stdout unread, read slowly (20 MB/s) or read at once: peak
# RSS (VmHWM), how long a second client waits for its answer mid-flood, how long SIGTERM
# takes to end the process. Target (issue 13): RSS < 256 MiB in every case at default
# flags, a second client answered within 100 ms, SIGTERM obeyed within 3 s.
#
# Loopback only; each run floods for SECONDS (default 30) and stops by itself.
#
#   bench/bounded.sh                                   # every case, every mode
#   SECONDS_PER_RUN=5 CASES="tcp udp" bench/bounded.sh
#   SOCKIT=/tmp/old/sockit bench/bounded.sh            # another build, for comparison
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh

SECONDS_PER_RUN=${SECONDS_PER_RUN:-30}
CASES=${CASES:-"tcp udp broadcast dump broker"}
MODES=${MODES:-"unread slow read"}
require python3
if [ -z "${SOCKIT:-}" ]; then
    cargo build --release --quiet --bin sockit
    SOCKIT=$RELEASE/sockit
fi

printf '%-10s %-7s %10s %14s %10s %10s\n' case stdout "peak RSS" "2nd client" SIGTERM flooded
for case in $CASES; do
    for mode in $MODES; do
        read -r c m rss lat term sent < <(python3 bench/bounded.py "$SOCKIT" "$case" "$mode" "$SECONDS_PER_RUN")
        printf '%-10s %-7s %6s MiB %11s ms %8s s %6s MiB\n' "$c" "$m" "$rss" "$lat" "$term" "$sent"
    done
done
