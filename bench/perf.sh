#!/usr/bin/env bash
# `sockit perf` beside iperf3 (issue 17), on loopback, all in one run so they share one
# machine state. RUNS runs of each case, interleaved; medians, and ratios to iperf3:
#   (a) TCP, one stream, DURATION: bitrate, and CPU per GB moved (client + server, user +
#       system, from the kernel's accounting of each process), for every pair of client
#       and server: iperf3 → iperf3, sockit → sockit, sockit → iperf3, iperf3 → sockit;
#   (b) TCP, -P 4: sockit → sockit beside iperf3 ≥ 3.16 (multi-threaded) → itself, and
#       the installed iperf3 (3.12, one thread) for reference;
#   (c) UDP at 1 Gbit/s, 1400-byte datagrams, DURATION: the loss each receiver reports,
#       sockit → sockit beside iperf3 → iperf3 (both versions);
#   (d) CLIENTS clients at once (TCP, 5 s each) against one `sockit perf serve`: how many
#       complete, and the same load against `iperf3 -s`, which serves one test at a time.
# iperf3 ≥ 3.16 is not in Debian 12: the script fetches Debian 13's iperf3 3.18 with the
# libraries it needs (libc6, libssl3t64, libsctp1) into $IPERF3_NEW_DIR (default
# ~/.cache/sockit-bench/iperf3-3.18) and runs it with Debian 13's own loader; nothing
# is installed. Set IPERF3_NEW to an iperf3 ≥ 3.16 of your own instead.
#
#   bench/perf.sh                      # RUNS=3 DURATION=10 CLIENTS=20
#   RUNS=1 DURATION=3 bench/perf.sh    # a quick look
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh

RUNS=${RUNS:-3}
DURATION=${DURATION:-10}
CLIENTS=${CLIENTS:-20}

require iperf3 python3 apt-get:apt dpkg-deb:dpkg

cargo build --release --quiet --bin sockit
SOCKIT=${SOCKIT:-$RELEASE/sockit}
IPERF3=$(command -v iperf3)
work_dir

# fetch_iperf3_new: sets IPERF3_NEW to a runnable iperf3 ≥ 3.16 (see the header).
fetch_iperf3_new() {
    if [ -n "${IPERF3_NEW:-}" ]; then return 0; fi
    local dir=${IPERF3_NEW_DIR:-$HOME/.cache/sockit-bench/iperf3-3.18}
    if [ ! -x "$dir/iperf3" ]; then
        mkdir -p "$dir/lists/partial" "$dir/debs" "$dir/root"
        cat >"$dir/trixie.sources" <<'EOF'
Types: deb
URIs: http://deb.debian.org/debian
Suites: trixie
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
        local apt=(-o "Dir::Etc::SourceList=$dir/trixie.sources" -o Dir::Etc::SourceParts=/dev/null
            -o "Dir::State::Lists=$dir/lists" -o Debug::NoLocking=1)
        apt-get "${apt[@]}" update >/dev/null
        (cd "$dir/debs" && apt-get "${apt[@]}" download iperf3 libiperf0 libc6 libssl3t64 libsctp1 \
            >/dev/null 2>&1)
        for deb in "$dir"/debs/*.deb; do dpkg-deb -x "$deb" "$dir/root"; done
        local lib=$dir/root/usr/lib/x86_64-linux-gnu
        printf '#!/bin/sh\nexec %s --library-path %s %s "$@"\n' \
            "$lib/ld-linux-x86-64.so.2" "$lib" "$dir/root/usr/bin/iperf3" >"$dir/iperf3"
        chmod +x "$dir/iperf3"
    fi
    IPERF3_NEW=$dir/iperf3
    "$IPERF3_NEW" --version | head -1 | grep -qE 'iperf 3\.(1[6-9]|[2-9][0-9])' ||
        die "$IPERF3_NEW is not iperf3 3.16 or newer"
}

# serve KIND: starts a server (one test, then it exits) on 127.0.0.1; sets PORT and the
# file its CPU time (user system, seconds) goes to when it exits, SERVER_CPU.
serve() {
    SERVER_CPU=$WORK/server.cpu.$RANDOM
    case $1 in
    sockit)
        (TIMEFORMAT='%U %S'; time "$SOCKIT" perf serve --bind 127.0.0.1:0 --one-off \
            >"$WORK/server.out" 2>/dev/null) 2>"$SERVER_CPU" &
        PORT=$(listening_addr "$WORK/server.out" | sed 's/.*://') ;;
    iperf3 | iperf3-new)
        local bin=$IPERF3
        [ "$1" = iperf3-new ] && bin=$IPERF3_NEW
        PORT=$(free_port)
        (TIMEFORMAT='%U %S'; time "$bin" -s -1 -p "$PORT" --forceflush >"$WORK/server.out" 2>&1) 2>"$SERVER_CPU" &
        wait_line "$WORK/server.out" 'Server listening' >/dev/null ;;
    esac
    SERVER_JOB=$!
}

# client KIND ARGS...: runs a client against PORT with the -J document in $WORK/doc.json
# and its CPU time in $WORK/client.cpu.
client() {
    local kind=$1 bin
    shift
    case $kind in
    sockit) bin=("$SOCKIT" perf "127.0.0.1:$PORT" --iperf-json) ;;
    iperf3) bin=("$IPERF3" -c 127.0.0.1 -p "$PORT" -J) ;;
    iperf3-new) bin=("$IPERF3_NEW" -c 127.0.0.1 -p "$PORT" -J) ;;
    esac
    (TIMEFORMAT='%U %S'; time timeout $((DURATION + 30)) "${bin[@]}" "$@" >"$WORK/doc.json") \
        2>"$WORK/client.cpu"
    wait "$SERVER_JOB" || true
}

# figure WHAT: a number from the last test ($WORK/doc.json, the CPU files).
figure() {
    python3 - "$1" "$WORK/doc.json" "$WORK/client.cpu" "$SERVER_CPU" <<'EOF'
import json, sys
what, doc, ccpu, scpu = sys.argv[1:]
d = json.load(open(doc))
if "error" in d:
    sys.exit(f"the test failed: {d['error']}")
end = d["end"]
cpu = lambda f: sum(float(x) for x in open(f).read().split()[-2:])
if what == "gbps":
    print(end["sum_received"]["bits_per_second"] / 1e9)
elif what == "cpu_per_gb":
    gb = end["sum_received"]["bytes"] / 1e9
    print((cpu(ccpu) + cpu(scpu)) / gb)
elif what == "loss":
    print(end["sum"]["lost_percent"])
EOF
}

# case NAME CLIENT SERVER ARGS...: RUNS runs; appends "NAME figure value" lines to RESULTS.
RESULTS=$WORK/results
one_run() {
    local name=$1 cli=$2 srv=$3
    shift 3
    serve "$srv"
    client "$cli" -t "$DURATION" "$@"
    for what in gbps cpu_per_gb loss; do
        local v
        v=$(figure "$what" 2>/dev/null) || continue
        echo "$name $what $v" >>"$RESULTS"
    done
}

fetch_iperf3_new
echo "# bench/perf.sh, $(date -u +%Y-%m-%d), $(machine), commit $(commit)"
echo "# RUNS=$RUNS DURATION=${DURATION}s CLIENTS=$CLIENTS; $("$IPERF3" --version | head -1), $("$IPERF3_NEW" --version | head -1)"
for run in $(seq "$RUNS"); do
    echo "run $run of $RUNS" >&2
    one_run "tcp iperf3->iperf3" iperf3 iperf3
    one_run "tcp sockit->sockit" sockit sockit
    one_run "tcp sockit->iperf3" sockit iperf3
    one_run "tcp iperf3->sockit" iperf3 sockit
    one_run "P4 iperf3.18->iperf3.18" iperf3-new iperf3-new -P 4
    one_run "P4 iperf3->iperf3" iperf3 iperf3 -P 4
    one_run "P4 sockit->sockit" sockit sockit -P 4
    one_run "udp iperf3->iperf3" iperf3 iperf3 -u -b 1G -l 1400
    one_run "udp iperf3.18->iperf3.18" iperf3-new iperf3-new -u -b 1G -l 1400
    one_run "udp sockit->sockit" sockit sockit -u -b 1G -l 1400
done

python3 - "$RESULTS" <<'EOF'
import statistics, sys
from collections import defaultdict
vals = defaultdict(list)
for line in open(sys.argv[1]):
    *name, what, v = line.split()
    vals[(" ".join(name), what)].append(float(v))
med = {k: statistics.median(v) for k, v in vals.items()}
def row(name, base, what, unit, fmt):
    if (name, what) not in med:
        return
    v = med[(name, what)]
    r = f" ({v / med[(base, what)]:.2f}x)" if (base, what) in med and med[(base, what)] else ""
    print(f"| {name} | {what} | {fmt.format(v)} {unit}{r} | {len(vals[(name, what)])} |")
print("| case | figure | median (ratio to the iperf3 pair) | runs |")
print("|---|---|---|---|")
for n in ["tcp iperf3->iperf3", "tcp sockit->sockit", "tcp sockit->iperf3", "tcp iperf3->sockit"]:
    row(n, "tcp iperf3->iperf3", "gbps", "Gbit/s", "{:.1f}")
    row(n, "tcp iperf3->iperf3", "cpu_per_gb", "CPU s/GB", "{:.3f}")
for n in ["P4 iperf3.18->iperf3.18", "P4 iperf3->iperf3", "P4 sockit->sockit"]:
    row(n, "P4 iperf3.18->iperf3.18", "gbps", "Gbit/s", "{:.1f}")
    row(n, "P4 iperf3.18->iperf3.18", "cpu_per_gb", "CPU s/GB", "{:.3f}")
for n in ["udp iperf3->iperf3", "udp iperf3.18->iperf3.18", "udp sockit->sockit"]:
    row(n, "udp iperf3->iperf3", "loss", "% lost", "{:.3f}")
    row(n, "udp iperf3->iperf3", "gbps", "Gbit/s", "{:.3f}")
EOF

# (d) CLIENTS at once.
many() { # KIND: starts a long-lived server, CLIENTS clients at once; prints "ok/total"
    local ok=0 pids=() i
    case $1 in
    sockit)
        "$SOCKIT" perf serve --bind 127.0.0.1:0 -i 0 >"$WORK/many.out" 2>&1 &
        PORT=$(listening_addr "$WORK/many.out" | sed 's/.*://') ;;
    iperf3)
        PORT=$(free_port)
        "$IPERF3" -s -p "$PORT" --forceflush >"$WORK/many.out" 2>&1 &
        wait_line "$WORK/many.out" 'Server listening' >/dev/null ;;
    esac
    local server=$!
    for i in $(seq "$CLIENTS"); do
        if [ "$1" = sockit ]; then
            timeout 60 "$SOCKIT" perf "127.0.0.1:$PORT" -t 5 -i 0 --iperf-json >"$WORK/many.$i" 2>/dev/null &
        else
            timeout 60 "$IPERF3" -c 127.0.0.1 -p "$PORT" -t 5 -J >"$WORK/many.$i" 2>/dev/null &
        fi
        pids+=($!)
    done
    for i in "${!pids[@]}"; do
        if wait "${pids[$i]}" && ! grep -q '"error"' "$WORK/many.$((i + 1))"; then ok=$((ok + 1)); fi
    done
    local total
    total=$(python3 -c '
import json, sys
bps = 0.0
for name in sys.argv[1:]:
    try:
        bps += json.load(open(name))["end"]["sum_received"]["bits_per_second"]
    except (ValueError, KeyError):
        pass
print(f"{bps / 1e9:.1f}")' "$WORK"/many.*)
    kill "$server" 2>/dev/null || true
    wait "$server" 2>/dev/null || true
    rm -f "$WORK"/many.*
    echo "$ok of $CLIENTS completed, $total Gbit/s in all"
}
echo
echo "| $CLIENTS clients at once, 5 s each | completed |"
echo "|---|---|"
echo "| sockit perf serve | $(many sockit) |"
echo "| iperf3 -s (one test at a time: the others are told it is busy) | $(many iperf3) |"
