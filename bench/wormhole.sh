#!/usr/bin/env bash
# `send --wormhole` / `recv --wormhole` beside the Python magic-wormhole client (issue 19):
# a large file and many small files, direct and through the transit relay, for every pair
# of sender and receiver (wormhole → wormhole, sockit → wormhole, wormhole → sockit,
# sockit → sockit), beside `sockit send`/`recv` on the LAN protocol (encrypted: what a
# direct sockit → sockit transfer should come close to) and, for the relayed runs, a bare
# byte pipe through the same relay (bench/relay-pipe.py: the relay's own ceiling).
#
#   bench/wormhole.sh                            # RUNS=3 SIZE_MIB=1024 FILES=10000
#   SIZE_MIB=64 FILES=500 RUNS=1 bench/wormhole.sh   # a quick look
#   ONLY=big bench/wormhole.sh                   # only the large file (ONLY=many: the small files)
#   SOCKIT=/tmp/old/sockit bench/wormhole.sh     # another build of sockit
#
# The mailbox server and the transit relay (PyPI: magic-wormhole-mailbox-server,
# magic-wormhole-transit-relay) and the `wormhole` client come from the venv .ci/run makes
# (WORMHOLE_VENV, default /opt/wormhole/bin).
#
# Nothing leaves the machine, nor reaches its own addresses: the whole benchmark runs in a
# network namespace the script creates (needs root) and deletes on exit, holding loopback
# and one interface with a private address (10.213.0.1, a dummy, or a veth whose other end
# stays in the namespace too) and no route out. The Python client offers its interfaces'
# addresses as direct hints; in the namespace that is 10.213.0.1, so a direct run stays
# inside. Every client is also given the local servers by flag and by environment.
#
# Each measurement is the time from starting the sender to both sides' exit: start-up,
# the mailbox, the key exchange, zipping a folder (the v1 file transfer sends folders as
# a zip) and the final acknowledgement included. Each output is compared with its source
# and the path taken (direct or relay) with the row's, so a failed run stops the script
# instead of being timed. The CPU time (user + system) of each client, and of the relay
# for a relayed run, is taken too: with two cores and three busy processes on a relayed
# run, it shows which one sets the pace. Prints one line per measurement, then medians
# and ratios (markdown). Every process it starts is bounded by `timeout` and killed on
# exit, and whatever would still run in the namespace then is killed by its id.
set -euo pipefail
[ -z "${SOCKIT:-}" ] || SOCKIT=$(realpath "$SOCKIT")
cd "$(dirname "$0")/.."
source bench/lib.sh

RUNS=${RUNS:-3}
SIZE_MIB=${SIZE_MIB:-1024}
FILES=${FILES:-10000}
ONLY=${ONLY:-all} # all; big: only the large file; many: only the small files
VENV=${WORMHOLE_VENV:-/opt/wormhole/bin}
LIMIT=${LIMIT:-300}          # seconds any single transfer may take
TOTAL_LIMIT=${TOTAL_LIMIT:-3600} # seconds the whole benchmark may take
case $ONLY in all | big | many) ;; *) die "ONLY is all, big or many, not $ONLY" ;; esac

# On exit (outside): stops, by id, anything still running in the namespace, deletes it.
ns_cleanup() {
    local left=()
    mapfile -t left < <(ip netns pids "$NS" 2>/dev/null)
    [ ${#left[@]} -eq 0 ] || kill "${left[@]}" 2>/dev/null || true
    ip netns delete "$NS" 2>/dev/null || true
}

# Outside the namespace: build, make the namespace, run this script again inside it.
if [ -z "${WBENCH_NS:-}" ]; then
    require ip:iproute2 python3 tar timeout:coreutils /usr/bin/time:time
    [ "$(id -u)" = 0 ] || die "needs root (it creates a network namespace); nothing was changed"
    for tool in wormhole twist python; do
        [ -x "$VENV/$tool" ] || die "no $tool in $VENV (.ci/run makes it; or set WORMHOLE_VENV); nothing was changed"
    done
    if [ -z "${SOCKIT:-}" ]; then
        cargo build --release --quiet --bin sockit
        SOCKIT=$RELEASE/sockit
    fi
    NS=sockit-wbench-$$
    ip netns add "$NS" || die "could not create the network namespace $NS"
    trap 'bench_cleanup; ns_cleanup' EXIT
    ip -n "$NS" link set lo up
    # A dummy interface where the kernel has them; else a veth pair, both ends inside.
    if ! ip -n "$NS" link add d0 type dummy 2>/dev/null; then
        ip -n "$NS" link add d0 type veth peer name d1
    fi
    ip -n "$NS" addr add 10.213.0.1/24 dev d0
    ip -n "$NS" link set d0 up
    links=$(ip -n "$NS" -o link show | awk -F': ' '{ sub(/@.*/, "", $2); print $2 }' | sort | xargs)
    [ "$links" = "d0 lo" ] || [ "$links" = "d0 d1 lo" ] ||
        die "the namespace $NS has interfaces $links, not only lo and d0"
    [ -z "$(ip -n "$NS" route show default)$(ip -n "$NS" -6 route show default)" ] ||
        die "the namespace $NS has a default route"
    # A job waited for, not a foreground command: bash runs the INT/TERM trap (and so the
    # exit trap, which stops it) at once during `wait`, not after the command ends.
    WBENCH_NS=$NS SOCKIT=$SOCKIT timeout "$TOTAL_LIMIT" ip netns exec "$NS" bash "$PWD/bench/wormhole.sh" &
    wait $!
    exit
fi

# Inside the namespace from here on.
BIN=$SOCKIT
PIPE=$PWD/bench/relay-pipe.py
CODE=1-bench-code # the LAN protocol's code
work_dir /dev/shm
mkdir -p "$WORK/tmp"
export TMPDIR=$WORK/tmp # where the Python client writes the zip of a folder: tmpfs too

now() { date +%s.%N; }
elapsed() { python3 -c "import sys; print(f'{float(sys.argv[2]) - float(sys.argv[1]):.3f}')" "$1" "$2"; }

RESULTS=$WORK/results
: >"$RESULTS"
# record LABEL T0 T1 [RELAY_TICKS]: the seconds from T0 to T1, and the CPU seconds of the
# sender and the receiver (from $WORK/send.cpu and recv.cpu) and of the relay (TICKS).
record() {
    local send recv relay=
    send=$(cpu_seconds "$WORK/send.cpu") recv=$(cpu_seconds "$WORK/recv.cpu")
    [ -z "${4:-}" ] || relay=$(python3 -c "import sys; print(f'{int(sys.argv[1]) / int(sys.argv[2]):.2f}')" "$4" "$(getconf CLK_TCK)")
    {
        echo "$1 $(elapsed "$2" "$3")"
        echo "$1/send $send"
        echo "$1/recv $recv"
        [ -z "$relay" ] || echo "$1/relay $relay"
    } >>"$RESULTS"
    echo "$1 $(elapsed "$2" "$3") s; CPU s: sender $send, receiver $recv${relay:+, relay $relay}"
}

# Before a command: its CPU time is written to $WORK/send.cpu or recv.cpu. (Arrays, not
# a function: a job started with them is the process itself, which the trap can stop.)
SEND_CPU=(/usr/bin/time -f '%U %S' -o "$WORK/send.cpu")
RECV_CPU=(/usr/bin/time -f '%U %S' -o "$WORK/recv.cpu")
cpu_seconds() { awk 'END { printf "%.2f", $1 + $2 }' "$1"; }

# Stops the script, with the last lines of each log named.
fail() {
    local what=$1 log
    shift
    for log in "$@"; do
        [ -s "$log" ] && what+=$'\n'"--- $(basename "$log"):"$'\n'"$(tail -n 5 "$log")"
    done
    die "$what"
}

# twist PLUGIN ARGS...: starts a server, on a port of its own choosing on loopback, as a
# job of this shell (so that the exit trap stops it), logging to $WORK/PLUGIN.log.
twist() {
    local plugin=$1
    shift
    # exec: the job is then timeout itself, which the exit trap's kill reaches.
    (cd "$WORK" && exec timeout "$TOTAL_LIMIT" "$VENV/twist" "$plugin" \
        --port=tcp:0:interface=127.0.0.1 "$@" >"$WORK/$plugin.log" 2>&1) &
}
# The port of a server started by `twist`, from its log line `MARKER starting on PORT`.
port_in_log() { # PLUGIN MARKER
    wait_line "$WORK/$1.log" "$2 starting on [0-9]+" 30 | grep -oE "$2 starting on [0-9]+" | head -n 1 |
        grep -oE '[0-9]+$'
}
twist wormhole-mailbox --channel-db=:memory:
twist transitrelay
RELAY_JOB=$! # its CPU time is read from /proc
MAILBOX=ws://127.0.0.1:$(port_in_log wormhole-mailbox PrivacyEnhancedSite)/v1
RELAY=127.0.0.1:$(port_in_log transitrelay ServerFactory)
export WORMHOLE_RELAY_URL=$MAILBOX WORMHOLE_TRANSIT_HELPER=tcp:$RELAY NO_COLOR=1
PY=("$VENV/wormhole" --relay-url "$MAILBOX" --transit-helper "tcp:$RELAY")
SERVERS=(--mailbox "$MAILBOX" --relay "$RELAY")

# Sets SOCKIT_FLAGS and PYTHON_FLAGS, which keep a client to PATH (direct or relay): the
# Python client listens (in this namespace) or not; sockit listens on loopback only, or
# not at all.
path_flags() { # PATH
    if [ "$1" = direct ]; then
        SOCKIT_FLAGS=(--bind 127.0.0.1:0) PYTHON_FLAGS=()
    else
        SOCKIT_FLAGS=(--relay-only) PYTHON_FLAGS=(--no-listen)
    fi
}

# The path a finished client says its transfer took: sockit's `transit` event, or the
# Python client's `Sending (…)` / `Receiving (…)` line (`relay:` in it when relayed).
path_taken() { # sockit|python STDOUT STDERR
    local line
    if [ "$1" = sockit ]; then
        grep -m1 '"event":"transit"' "$2" | sed -n 's/.*"path":"\([a-z]*\)".*/\1/p'
        return
    fi
    line=$(cat "$2" "$3" | grep -m1 -E '^(Sending|Receiving) \(') || return 0
    case $line in
        *relay:*) echo relay ;;
        *) echo direct ;;
    esac
}

# Waits until FILE has a line matching REGEX and prints it; stops the script if PID ends
# first (a client that failed prints no code) or after 60 s.
wait_for() { # PID FILE REGEX LABEL
    local i
    for ((i = 0; i < 1200; i++)); do
        if grep -m1 -E "$3" "$2"; then return 0; fi
        kill -0 "$1" 2>/dev/null || fail "$4: the sender ended before its code" "$WORK/send.out" "$WORK/send.err"
        sleep 0.05
    done
    fail "$4: no code from the sender in 60 s" "$WORK/send.out" "$WORK/send.err"
}

# Empties $WORK/out and the files each run writes.
fresh() {
    rm -rf "$WORK/out" && mkdir -p "$WORK/out"
    rm -f "$WORK"/*.cpu "$WORK"/*.out "$WORK"/*.err
    : >"$WORK/send.out" && : >"$WORK/send.err"
}

# The source is at $WORK/src/NAME; whatever arrived must be at $WORK/out/NAME, the same.
check_output() { # NAME LABEL LOGS...
    local name=$1 label=$2
    shift 2
    if [ -d "$WORK/src/$name" ]; then
        diff -r "$WORK/src/$name" "$WORK/out/$name" >/dev/null || fail "$label: the folder arrived different" "$@"
    else
        cmp -s "$WORK/src/$name" "$WORK/out/$name" || fail "$label: the file arrived different" "$@"
    fi
}

# wormhole_run FROM TO PATH NAME: FROM and TO are sockit or python, PATH direct or relay;
# sends $WORK/src/NAME into a fresh $WORK/out and records the seconds as NAME-PATH-FROM-TO.
wormhole_run() {
    local from=$1 to=$2 path=$3 name=$4 code sender t0 t1 ticks
    local label=$name-$path-$from-$to
    local logs=("$WORK/send.out" "$WORK/send.err" "$WORK/recv.out" "$WORK/recv.err")
    fresh
    path_flags "$path"
    ticks=$(cpu_ticks "$RELAY_JOB")
    t0=$(now)
    if [ "$from" = sockit ]; then
        "${SEND_CPU[@]}" timeout "$LIMIT" "$BIN" --json send --wormhole "${SERVERS[@]}" "${SOCKIT_FLAGS[@]}" \
            "$WORK/src/$name" >"$WORK/send.out" 2>"$WORK/send.err" &
        sender=$!
        code=$(wait_for "$sender" "$WORK/send.out" '"event":"wormhole_code"' "$label" |
            sed 's/.*"code":"\([^"]*\)".*/\1/')
    else
        "${SEND_CPU[@]}" timeout "$LIMIT" "${PY[@]}" send --hide-progress --no-qr "${PYTHON_FLAGS[@]}" \
            "$WORK/src/$name" >"$WORK/send.out" 2>"$WORK/send.err" &
        sender=$!
        code=$(wait_for "$sender" "$WORK/send.err" '^Wormhole code is: ' "$label" | sed 's/^Wormhole code is: //')
    fi
    if [ "$to" = sockit ]; then
        "${RECV_CPU[@]}" timeout "$LIMIT" "$BIN" --json recv --wormhole "${SERVERS[@]}" "${SOCKIT_FLAGS[@]}" \
            -o "$WORK/out" "$code" >"$WORK/recv.out" 2>"$WORK/recv.err" || fail "$label: the receiver failed" "${logs[@]}"
    else
        "${RECV_CPU[@]}" timeout "$LIMIT" "${PY[@]}" receive --accept-file --hide-progress "${PYTHON_FLAGS[@]}" \
            -o "$WORK/out" "$code" >"$WORK/recv.out" 2>"$WORK/recv.err" || fail "$label: the receiver failed" "${logs[@]}"
    fi
    wait "$sender" || fail "$label: the sender failed" "${logs[@]}"
    t1=$(now)
    ticks=$(($(cpu_ticks "$RELAY_JOB") - ticks))
    local took
    took=$(path_taken "$from" "$WORK/send.out" "$WORK/send.err")
    [ "$took" = "$path" ] || fail "$label: the sender went ${took:-nowhere}, not $path" "${logs[@]}"
    took=$(path_taken "$to" "$WORK/recv.out" "$WORK/recv.err")
    [ "$took" = "$path" ] || fail "$label: the receiver went ${took:-nowhere}, not $path" "${logs[@]}"
    check_output "$name" "$label" "${logs[@]}"
    if [ "$path" = relay ]; then record "$label" "$t0" "$t1" "$ticks"; else record "$label" "$t0" "$t1"; fi
}

# lan_run NAME: `sockit send` → `sockit recv` on the LAN protocol (encrypted), on loopback.
lan_run() {
    local name=$1 sender port t0 t1
    local logs=("$WORK/send.out" "$WORK/send.err" "$WORK/recv.err")
    fresh
    t0=$(now)
    "${SEND_CPU[@]}" timeout "$LIMIT" "$BIN" --json send "$WORK/src/$name" --no-announce --bind 127.0.0.1:0 --code $CODE \
        >"$WORK/send.out" 2>"$WORK/send.err" &
    sender=$!
    port=$(listening_addr "$WORK/send.out" 60)
    port=${port##*:}
    "${RECV_CPU[@]}" timeout "$LIMIT" "$BIN" --json recv "127.0.0.1:$port" --code $CODE -o "$WORK/out" \
        >/dev/null 2>"$WORK/recv.err" || fail "$name-lan: the receiver failed" "${logs[@]}"
    wait "$sender" || fail "$name-lan: the sender failed" "${logs[@]}"
    t1=$(now)
    check_output "$name" "$name-lan" "${logs[@]}"
    record "$name-direct-lan" "$t0" "$t1"
}

# pipe_run NAME: the bare pipe through the relay (tar around it for a folder).
pipe_run() {
    local name=$1 token receiver t0 t1 ticks
    local logs=("$WORK/pipe-send.err" "$WORK/pipe-recv.err")
    fresh
    token=$(od -An -N32 -tx1 /dev/urandom | tr -d ' \n')
    ticks=$(cpu_ticks "$RELAY_JOB")
    t0=$(now)
    if [ -d "$WORK/src/$name" ]; then
        "${RECV_CPU[@]}" timeout "$LIMIT" python3 "$PIPE" "$RELAY" "$token" 00000000000000b0 recv 2>"$WORK/pipe-recv.err" |
            timeout "$LIMIT" tar x -C "$WORK/out" &
        receiver=$!
        tar c -C "$WORK/src" "$name" |
            "${SEND_CPU[@]}" timeout "$LIMIT" python3 "$PIPE" "$RELAY" "$token" 00000000000000a0 send 2>"$WORK/pipe-send.err" ||
            fail "$name-relay-pipe: the sending end failed" "${logs[@]}"
    else
        "${RECV_CPU[@]}" timeout "$LIMIT" python3 "$PIPE" "$RELAY" "$token" 00000000000000b0 recv \
            >"$WORK/out/$name" 2>"$WORK/pipe-recv.err" &
        receiver=$!
        "${SEND_CPU[@]}" timeout "$LIMIT" python3 "$PIPE" "$RELAY" "$token" 00000000000000a0 send \
            <"$WORK/src/$name" 2>"$WORK/pipe-send.err" || fail "$name-relay-pipe: the sending end failed" "${logs[@]}"
    fi
    wait "$receiver" || fail "$name-relay-pipe: the receiving end failed" "${logs[@]}"
    t1=$(now)
    ticks=$(($(cpu_ticks "$RELAY_JOB") - ticks))
    check_output "$name" "$name-relay-pipe" "${logs[@]}"
    record "$name-relay-pipe" "$t0" "$t1" "$ticks"
}

# Every row for one source, direct then relayed.
rows() { # NAME
    local path pair
    lan_run "$1"
    for path in direct relay; do
        [ "$path" = direct ] || pipe_run "$1"
        for pair in "python python" "sockit python" "python sockit" "sockit sockit"; do
            # shellcheck disable=SC2086 # the pair is two words
            wormhole_run $pair "$path" "$1"
        done
    done
}

echo "# $(date -u +%FT%TZ) $(machine); load:$(uptime | sed 's/.*load average://')"
echo "# commit $(commit); sockit $BIN ($("$BIN" --version)); $("$VENV/wormhole" --version)," \
    "$("$VENV/python" -c 'import importlib.metadata as m
print(*(f"{n} {m.version(n)}" for n in ("magic-wormhole-mailbox-server", "magic-wormhole-transit-relay")), sep=", ")')"
echo "# RUNS=$RUNS SIZE_MIB=$SIZE_MIB FILES=$FILES ONLY=$ONLY; namespace $WBENCH_NS:" \
    "$(ip -br addr | awk '{ print $1, $3 }' | xargs); mailbox $MAILBOX, relay $RELAY"

mkdir -p "$WORK/src"
[ "$ONLY" = many ] || head -c "${SIZE_MIB}M" /dev/urandom >"$WORK/src/big"
if [ "$ONLY" != big ]; then
    small_files "$WORK/src/small" "$FILES"
fi

for run in $(seq 1 "$RUNS"); do
    echo "# run $run of $RUNS, $(date -u +%T) UTC"
    [ "$ONLY" = many ] || rows big
    [ "$ONLY" = big ] || rows small
done

python3 - "$RESULTS" "$SIZE_MIB" "$FILES" <<'EOF'
import statistics, sys
rows = {}
for line in open(sys.argv[1]):
    name, value = line.split()
    rows.setdefault(name, []).append(float(value))
size_mib, files = int(sys.argv[2]), int(sys.argv[3])
labels = [("direct-lan", "relay-none", "sockit send → recv, LAN protocol (encrypted)"),
          ("direct-none", "relay-pipe", "bare pipe through the relay")]
med = {k: statistics.median(v) for k, v in rows.items()}
names = {"python": "wormhole", "sockit": "sockit"}
for a, b in [("python", "python"), ("sockit", "python"), ("python", "sockit"), ("sockit", "sockit")]:
    labels.append((f"direct-{a}-{b}", f"relay-{a}-{b}", f"{names[a]} → {names[b]}"))

def cell(key, unit):
    if key not in med:
        return "| – | – "
    return f"| {med[key]:.2f} ({min(rows[key]):.2f}–{max(rows[key]):.2f}) | {unit / med[key]:,.0f} "

for what, title, unit, per in [("big", f"{size_mib} MiB file", size_mib, "MiB/s"),
                               ("small", f"{files:,} × 4 KiB files", files, "files/s")]:
    if not any(k.startswith(what + "-") for k in med):
        continue
    print(f"\n| {title} | direct: median s (range) | {per} | relayed: median s (range) | {per} |")
    print("|---|---:|---:|---:|---:|")
    for direct, relay, label in labels:
        print(f"| {label} {cell(f'{what}-{direct}', unit)}{cell(f'{what}-{relay}', unit)}|")

    def cpu(key, sides):
        return "".join(f"| {med[f'{key}/{s}']:.2f} " if f"{key}/{s}" in med else "| – " for s in sides)
    print(f"\n| {title}: CPU s (median) | direct: sender | receiver | relayed: sender | receiver | relay |")
    print("|---|---:|---:|---:|---:|---:|")
    for direct, relay, label in labels:
        print(f"| {label} {cpu(f'{what}-{direct}', ('send', 'recv'))}"
              f"{cpu(f'{what}-{relay}', ('send', 'recv', 'relay'))}|")

    # Ratios of speed (the reference's time over the row's), against each target.
    targets = [("sockit → sockit direct vs the LAN protocol", "direct-sockit-sockit", "direct-lan", 0.9),
               ("sockit → sockit direct vs wormhole → wormhole direct", "direct-sockit-sockit", "direct-python-python", 4),
               ("sockit → sockit relayed vs the bare pipe", "relay-sockit-sockit", "relay-pipe", 0.8)]
    for path in ("direct", "relay"):
        for a, b in (("sockit", "python"), ("python", "sockit")):
            targets.append((f"{names[a]} → {names[b]} {'relayed' if path == 'relay' else path} vs wormhole → wormhole",
                            f"{path}-{a}-{b}", f"{path}-python-python", 1))
    print(f"\n| {title}: target | ratio | target | |")
    print("|---|---:|---:|---|")
    for label, row, ref, want in targets:
        row, ref = f"{what}-{row}", f"{what}-{ref}"
        if row in med and ref in med:
            ratio = med[ref] / med[row]
            print(f"| {label} | {ratio:.2f}× | ≥ {want}× | {'met' if ratio >= want else '**not met**'} |")
EOF
