# Helpers every bench script shares (sourced, not run). Callers set `set -euo pipefail`,
# cd to the repository, then `source bench/lib.sh`. Sourcing it sets a trap that, on
# exit, stops every background job of the script and removes its work folder.
#
#   require TOOL[:PACKAGE]...   fail unless each tool is installed (nothing is installed)
#   RELEASE                     the release build's folder (honours CARGO_TARGET_DIR)
#   work_dir [PARENT]           sets WORK: a fresh folder, removed on exit
#   free_port [udp]             an unused loopback port (racy: only for tools that cannot
#                               bind port 0 and say which port they got)
#   wait_line FILE REGEX        waits for a line of FILE matching REGEX and prints it
#   listening_addr FILE         waits for a server's `listening` line (sockit's, text or
#                               --json, or echo_min's) in FILE and prints its address
#   cpu_ticks PID               CPU time (user + system) of PID and its children, in ticks
#   median                      the median of the numbers on stdin, one per line
#   small_files DIR COUNT       COUNT files of 4 KiB of random bytes in DIR (made)
#   machine, commit             what a report's header says about the run

BENCH=bench/$(basename "$0")

die() {
    echo "$BENCH: $*" >&2
    exit 1
}

require() {
    local spec missing=() packages=()
    for spec in "$@"; do
        if ! command -v "${spec%%:*}" >/dev/null; then
            missing+=("${spec%%:*}")
            packages+=("${spec#*:}")
        fi
    done
    [ ${#missing[@]} -eq 0 ] ||
        die "needs ${missing[*]}, not installed (apt-get install ${packages[*]}); nothing was changed"
}

RELEASE=${CARGO_TARGET_DIR:-target}
[[ $RELEASE = /* ]] || RELEASE=$PWD/$RELEASE
RELEASE=$RELEASE/release

WORK=
work_dir() {
    WORK=$(mktemp -d "${1:-${TMPDIR:-/tmp}}/sockit-bench.XXXXXX")
}

bench_cleanup() {
    local pids
    pids=$(jobs -p)
    [ -z "$pids" ] || kill $pids 2>/dev/null || true
    wait 2>/dev/null || true
    [ -z "$WORK" ] || rm -rf "$WORK"
}
trap bench_cleanup EXIT
trap 'exit 130' INT TERM

free_port() {
    local kind=SOCK_STREAM
    [ "${1:-tcp}" = udp ] && kind=SOCK_DGRAM
    python3 -c "import socket; s=socket.socket(socket.AF_INET, socket.$kind); s.bind(('127.0.0.1', 0)); print(s.getsockname()[1])"
}

wait_line() { # FILE REGEX [SECONDS, default 10]
    local i
    for ((i = 0; i < ${3:-10} * 20; i++)); do
        if grep -m1 -E "$2" "$1" 2>/dev/null; then return 0; fi
        sleep 0.05
    done
    die "no line matching '$2' in $1 after ${3:-10} s: $(head -c 500 "$1" 2>/dev/null)"
}

listening_addr() { # FILE [SECONDS]
    wait_line "$1" 'listening' "${2:-10}" | sed -e 's/.*"addr":"\([^"]*\)".*/\1/' -e 's|.*://||'
}

cpu_ticks() {
    local total pid
    # Its own time and that of its children already reaped, then of the live ones.
    total=$(awk '{ print $14 + $15 + $16 + $17 }' "/proc/$1/stat")
    for pid in $(pgrep -P "$1" || true); do
        total=$((total + $(awk '{ print $14 + $15 }' "/proc/$pid/stat" 2>/dev/null || echo 0)))
    done
    echo "$total"
}

median() {
    python3 -c 'import statistics, sys; print(statistics.median(float(l) for l in sys.stdin if l.strip()))'
}

machine() {
    echo "$(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), Linux $(uname -r)"
}

commit() {
    echo "$(git rev-parse --short HEAD)$(git diff --quiet HEAD -- src || echo ' + changes')"
}

small_files() {
    mkdir -p "$1"
    python3 - "$1" "$2" <<'EOF'
import os, sys
root, n = sys.argv[1], int(sys.argv[2])
for i in range(n):
    with open(os.path.join(root, f"{i:05}.bin"), "wb") as f:
        f.write(os.urandom(4096))
EOF
}
