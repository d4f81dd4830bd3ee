#!/usr/bin/env bash
# Transfer throughput on loopback and tmpfs (or ON=DIR), in one run, beside the tools people would
# use instead: nc (no hashing, no encryption), tar | nc (many small files) and
# magic-wormhole (with its own mailbox server and transit relay on loopback).
#
#   bench/transfer.sh                 # RUNS=3 SIZE_MIB=1024 FILES=10000
#   RUNS=5 SIZE_MIB=256 bench/transfer.sh
#   ONLY=many RUNS=5 bench/transfer.sh   # only the small files against tar | nc
#   ONLY=big RUNS=5 bench/transfer.sh    # only the large file: nc, sockit, sockit --plain
#   ON=/var/tmp bench/transfer.sh        # on a disk's file system instead of tmpfs
#   SOCKIT=/tmp/old/sockit bench/transfer.sh   # another build of sockit
#
# Prints one line per measurement and a summary of medians and ratios (markdown).
# Every process it starts is bounded by `timeout` and killed on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh

RUNS=${RUNS:-3}
SIZE_MIB=${SIZE_MIB:-1024}
FILES=${FILES:-10000}
RSS_GIB=${RSS_GIB:-4}
ONLY=${ONLY:-all} # all; many: only tar | nc against sockit on the small files; big: only the large file
[ "$ONLY" = big ] && FILES=0 # no small files to make
ON=${ON:-/dev/shm} # where the files are read and written: tmpfs unless told (ON=/var/tmp: a disk)
LIMIT=300 # seconds any single transfer may take
CODE=1-bench-code

require nc:netcat-openbsd python3 tar
if [ "$ONLY" = all ]; then require /usr/bin/time:time; fi # the peak RSS of both sides
cargo build --release --quiet
BIN=${SOCKIT:-$RELEASE/sockit}

work_dir "$ON"

now() { date +%s.%N; }
elapsed() { python3 -c "import sys; print(f'{float(sys.argv[2]) - float(sys.argv[1]):.3f}')" "$1" "$2"; }

# Waits for a server's `listening` line in FILE and prints its port.
port_of() {
    local addr
    addr=$(listening_addr "$1")
    echo "${addr##*:}"
}

# sockit send SRC → recv into OUT; prints seconds. Extra flags go to both sides.
sockit_run() {
    local src=$1 out=$2; shift 2
    # A fresh folder every time: with the previous run's file still there, recv would
    # find it identical and nothing would be sent.
    rm -rf "$out"
    rm -rf "$out" && mkdir -p "$out"
    # Emptied here, not by the sender's redirection: `port_of` could read the previous
    # run's `listening` line before the sender starts.
    : >"$WORK/send.out"
    timeout $LIMIT "$BIN" --json send "$src" --no-announce --bind 127.0.0.1:0 --code $CODE "$@" >"$WORK/send.out" &
    local sender=$!
    local port; port=$(port_of "$WORK/send.out")
    local t0; t0=$(now)
    timeout $LIMIT "$BIN" --json recv "127.0.0.1:$port" --code $CODE -o "$out" "$@" >/dev/null
    wait $sender
    elapsed "$t0" "$(now)"
}

# nc -l > OUT fed by nc -N < SRC; prints seconds.
nc_run() {
    local src=$1 out=$2 port; port=$(free_port)
    timeout $LIMIT nc -l 127.0.0.1 "$port" >"$out" &
    local listener=$!
    local t0; t0=$(now)
    until timeout $LIMIT nc -N 127.0.0.1 "$port" <"$src" 2>/dev/null; do sleep 0.01; done
    wait $listener
    elapsed "$t0" "$(now)"
}

# tar c DIR | nc → nc | tar x; prints seconds.
tar_nc_run() {
    local dir=$1 out=$2 port; port=$(free_port)
    rm -rf "$out" && mkdir -p "$out"
    (timeout $LIMIT nc -l 127.0.0.1 "$port" | tar x -C "$out") &
    local listener=$!
    local t0; t0=$(now)
    until tar c -C "$(dirname "$dir")" "$(basename "$dir")" | timeout $LIMIT nc -N 127.0.0.1 "$port" 2>/dev/null; do sleep 0.01; done
    wait $listener
    elapsed "$t0" "$(now)"
}

RESULTS=$WORK/results
: >"$RESULTS"
record() { echo "$1 $2" | tee -a "$RESULTS"; }

echo "# $(date -u +%FT%TZ) $(machine); commit $(commit); RUNS=$RUNS SIZE_MIB=$SIZE_MIB FILES=$FILES ONLY=$ONLY ON=$ON ($(df --output=fstype "$ON" | tail -1))"
[ "$ONLY" = many ] || head -c "${SIZE_MIB}M" /dev/urandom >"$WORK/big"
small_files "$WORK/many/small" "$FILES"

for run in $(seq 1 "$RUNS"); do
    if [ "$ONLY" = many ]; then
        record many-tar-nc "$(tar_nc_run "$WORK/many/small" "$WORK/tar.out")"
        record many-sockit "$(sockit_run "$WORK/many/small" "$WORK/out")"
        diff -r "$WORK/many/small" "$WORK/out/small" >/dev/null
        rm -rf "$WORK/out" "$WORK/tar.out"
        continue
    fi
    record big-nc "$(nc_run "$WORK/big" "$WORK/nc.out")"
    cmp -s "$WORK/big" "$WORK/nc.out"
    record big-sockit "$(sockit_run "$WORK/big" "$WORK/out")"
    cmp -s "$WORK/big" "$WORK/out/big"
    record big-sockit-plain "$(sockit_run "$WORK/big" "$WORK/out" --plain)"
    cmp -s "$WORK/big" "$WORK/out/big"
    if [ "$ONLY" = big ]; then
        rm -rf "$WORK/out" "$WORK/nc.out"
        continue
    fi
    record many-tar-nc "$(tar_nc_run "$WORK/many/small" "$WORK/tar.out")"
    record many-sockit "$(sockit_run "$WORK/many/small" "$WORK/out")"
    rm -rf "$WORK/out" "$WORK/tar.out" "$WORK/nc.out"
done

if [ "$ONLY" = many ]; then
    python3 - "$RESULTS" "$FILES" <<'EOF'
import statistics, sys
rows = {}
for line in open(sys.argv[1]):
    name, value = line.split()
    rows.setdefault(name, []).append(float(value))
med = {k: statistics.median(v) for k, v in rows.items()}
print(f"\n| {sys.argv[2]} x 4 KiB files | median s | vs tar\\|nc |")
print("|---|---|---|")
print(f"| tar c \\| nc → nc \\| tar x | {med['many-tar-nc']:.3f} | 1.00x |")
print(f"| sockit | {med['many-sockit']:.3f} | {med['many-sockit'] / med['many-tar-nc']:.2f}x the time |")
EOF
    exit 0
fi

if [ "$ONLY" = big ]; then
    python3 - "$RESULTS" "$SIZE_MIB" "$(df --output=fstype "$ON" | tail -1)" <<'EOF'
import statistics, sys
rows = {}
for line in open(sys.argv[1]):
    name, value = line.split()
    rows.setdefault(name, []).append(float(value))
size_mib, fs = int(sys.argv[2]), sys.argv[3]
med = {k: statistics.median(v) for k, v in rows.items()}
print(f"\n| {size_mib} MiB file, loopback, {fs} | median s | range s | vs nc |")
print("|---|---|---|---|")
for k, label in [("big-nc", "nc -l > f / nc -N < f"), ("big-sockit", "sockit (BLAKE3 + AES-256-GCM)"),
                 ("big-sockit-plain", "sockit --plain (BLAKE3)")]:
    print(f"| {label} | {med[k]:.2f} | {min(rows[k]):.2f}–{max(rows[k]):.2f} | {med['big-nc'] / med[k]:.2f}x |")
EOF
    exit 0
fi

# magic-wormhole, with a mailbox server and transit relay of its own on loopback.
# `--no-listen` on both sides: otherwise each offers this machine's interface addresses
# as direct hints and the other dials them, off loopback. The bytes go through the
# relay on loopback (bench/wormhole.sh measures direct paths, inside a namespace).
if command -v wormhole >/dev/null && command -v twist >/dev/null; then
    mailbox=$(free_port) relay=$(free_port)
    # exec: the job is then timeout itself, which the exit trap's kill reaches (a
    # subshell left in between would die alone and leave the servers running).
    (cd "$WORK" && exec timeout 900 twist wormhole-mailbox --port="tcp:$mailbox:interface=127.0.0.1" >/dev/null 2>&1) &
    (cd "$WORK" && exec timeout 900 twist transitrelay --port="tcp:$relay:interface=127.0.0.1" >/dev/null 2>&1) &
    sleep 2 # twistd gives no readiness signal on stdout
    W=(wormhole --relay-url "ws://127.0.0.1:$mailbox/v1" --transit-helper "tcp:127.0.0.1:$relay")
    for run in $(seq 1 "$RUNS"); do
        rm -rf "$WORK/wh" && mkdir -p "$WORK/wh"
        timeout $LIMIT "${W[@]}" send --no-listen --hide-progress --code 7-bench-wormhole "$WORK/big" >/dev/null 2>&1 &
        sender=$!
        t0=$(now)
        (cd "$WORK/wh" && timeout $LIMIT "${W[@]}" receive --no-listen --hide-progress --accept-file 7-bench-wormhole >/dev/null 2>&1)
        wait $sender || true
        record big-wormhole "$(elapsed "$t0" "$(now)")"
        cmp -s "$WORK/big" "$WORK/wh/big"
    done
else
    echo "# magic-wormhole not installed (pip install magic-wormhole magic-wormhole-mailbox-server magic-wormhole-transit-relay): skipped"
fi

# Peak memory of both sides for a large (sparse) file, received to /dev/null.
truncate -s "${RSS_GIB}G" "$WORK/huge"
: >"$WORK/send.out"
timeout $LIMIT /usr/bin/time -f "%M" -o "$WORK/send.rss" "$BIN" --json send "$WORK/huge" --no-announce --bind 127.0.0.1:0 --code $CODE >"$WORK/send.out" &
sender=$!
port=$(port_of "$WORK/send.out")
timeout $LIMIT /usr/bin/time -f "%M" -o "$WORK/recv.rss" "$BIN" recv --stdout "127.0.0.1:$port" --code $CODE >/dev/null 2>&1
wait $sender
record rss-send-kib "$(tail -1 "$WORK/send.rss")"
record rss-recv-kib "$(tail -1 "$WORK/recv.rss")"

python3 - "$RESULTS" "$SIZE_MIB" "$FILES" "$RSS_GIB" "$(df --output=fstype "$ON" | tail -1)" <<'EOF'
import statistics, sys
rows = {}
for line in open(sys.argv[1]):
    name, value = line.split()
    rows.setdefault(name, []).append(float(value))
size_mib, files, rss_gib, fs = int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5]
med = {k: statistics.median(v) for k, v in rows.items()}
def rate(k): return size_mib / med[k]
print()
print(f"| {size_mib} MiB file, loopback, {fs} | median s | MiB/s | vs nc |")
print("|---|---|---|---|")
for k, label in [("big-nc", "nc -l > f / nc -N < f"), ("big-sockit", "sockit (BLAKE3 + AES-256-GCM)"),
                 ("big-sockit-plain", "sockit --plain (BLAKE3)"), ("big-wormhole", "magic-wormhole")]:
    if k in med:
        print(f"| {label} | {med[k]:.2f} | {rate(k):.0f} | {rate(k) / rate('big-nc'):.2f}x |")
if "big-wormhole" in med:
    print(f"\nsockit vs magic-wormhole: {med['big-wormhole'] / med['big-sockit']:.1f}x faster")
print(f"\n| {files} x 4 KiB files | median s | vs tar\\|nc |")
print("|---|---|---|")
print(f"| tar c \\| nc → nc \\| tar x | {med['many-tar-nc']:.2f} | 1.00x |")
print(f"| sockit | {med['many-sockit']:.2f} | {med['many-sockit'] / med['many-tar-nc']:.2f}x the time |")
print(f"\nPeak RSS for a {rss_gib} GiB file: send {med['rss-send-kib'] / 1024:.1f} MiB, recv {med['rss-recv-kib'] / 1024:.1f} MiB")
EOF
