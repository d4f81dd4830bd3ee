#!/usr/bin/env bash
# Compares `sockit http serve --tls` with nginx serving the same folder with the same
# certificate and key (sockit's self-signed one, ECDSA P-256), on loopback, in
# alternating rounds so that load from elsewhere hits both alike. Per round and server:
#   - a 4 KiB file under 64 kept-alive connections: `wrk -t2 -c64` (req/s, server CPU
#     µs per request);
#   - a 1 GiB download: curl over HTTPS into /dev/null (GB/s, server CPU ms; curl's
#     decryption is part of the time, the same for both);
#   - full TLS handshakes: `wrk -t2 -c16` with `Connection: close`, so every request is
#     a new connection and a new handshake (wrk does not resume sessions).
# Prints each run, the medians and the ratios sockit / nginx.
# Needs: wrk, nginx (with its ssl module, as Debian's nginx-light), curl, openssl.
# Every server is a child of this script, stopped at the end.
# Usage: bench/https.sh [ROUNDS, default 5] [SECS per wrk run, default 4]
set -euo pipefail
cd "$(dirname "$0")/.."

source bench/lib.sh

ROUNDS=${1:-5}
SECS=${2:-4}
require wrk nginx:nginx-light curl openssl python3
cargo build --release --quiet
SOCKIT=$RELEASE/sockit

source bench/http-lib.sh

# sockit makes its certificate in its state folder; nginx is given the same two files.
export SOCKIT_STATE_DIR=$WORK/state
"$SOCKIT" http serve "$WORK/www" --tls --bind 127.0.0.1:0 >"$WORK/sockit.log" &
SOCKIT_PID=$!
SOCKIT_ADDR=$(listening_addr "$WORK/sockit.log")
CERT=$SOCKIT_STATE_DIR/tls/self-signed.pem
KEY=$SOCKIT_STATE_DIR/tls/self-signed.key
chmod 755 "$SOCKIT_STATE_DIR" "$SOCKIT_STATE_DIR/tls"
chmod 644 "$KEY" # nginx reads it as root before its workers start; the folder is ours

start_nginx "$CERT" "$KEY"

# Both answer small.bin whole over TLS, trusting the certificate (not -k).
for addr in "$SOCKIT_ADDR" "$NGINX_ADDR"; do
    url="https://localhost:${addr##*:}/small.bin"
    for _ in $(seq 100); do curl -sf --cacert "$CERT" -o /dev/null "$url" && break; sleep 0.05; done
    [ "$(curl -s --cacert "$CERT" -o /dev/null -w '%{http_code} %{size_download}' "$url")" = "200 4096" ] ||
        die "$addr does not serve small.bin over TLS"
done
NGINX_PID=$(cat "$WORK/nginx/nginx.pid")

# What each negotiates with an OpenSSL client (wrk's and curl's library).
session() {
    openssl s_client -connect "$1" -servername localhost -CAfile "$CERT" </dev/null 2>/dev/null |
        awk '/^New, / {print $2, $NF}' | head -1
}

HZ=$(getconf CLK_TCK)
run() { # name pid addr
    local t0 t1 speed url="https://$3"
    wrk_cpu "$1" small "$2" -t2 -c64 "$url/small.bin"
    t0=$(cpu_ticks "$2")
    speed=$(timeout 120 curl -sk -o /dev/null -w '%{speed_download}' "$url/big.bin")
    t1=$(cpu_ticks "$2")
    echo "$1 big $speed $(( (t1 - t0) * 1000 / HZ ))"
    wrk_cpu "$1" handshakes "$2" -t2 -c16 -H 'Connection: close' "$url/small.bin"
}
LOAD=$(cut -d' ' -f1-3 /proc/loadavg)
for _ in $(seq "$ROUNDS"); do
    run sockit "$SOCKIT_PID" "$SOCKIT_ADDR"
    run nginx "$NGINX_PID" "$NGINX_ADDR"
done | tee "$WORK/runs"
echo
python3 - "$WORK/runs" <<'PY'
import statistics, sys
rows = {}
for line in open(sys.argv[1]):
    name, kind, value, cpu = line.split()
    rows.setdefault((name, kind), []).append((float(value), float(cpu)))
def med(name, kind, i):
    return statistics.median(r[i] for r in rows[(name, kind)])
print("| server | 4 KiB, 64 conns: req/s | CPU per request | 1 GiB download | CPU for it "
      "| new handshakes/s | CPU per handshake |")
print("|---|---:|---:|---:|---:|---:|---:|")
for name in ["sockit", "nginx"]:
    print(f"| {name} | {med(name, 'small', 0):.0f} | {med(name, 'small', 1):.0f} µs "
          f"| {med(name, 'big', 0) / 1e9:.2f} GB/s | {med(name, 'big', 1):.0f} ms "
          f"| {med(name, 'handshakes', 0):.0f} | {med(name, 'handshakes', 1):.0f} µs |")
ratio = lambda kind, i: med("sockit", kind, i) / med("nginx", kind, i)
print(f"| sockit / nginx | {ratio('small', 0):.2f}× | {ratio('small', 1):.2f}× "
      f"| {ratio('big', 0):.2f}× | {ratio('big', 1):.2f}× "
      f"| {ratio('handshakes', 0):.2f}× | {ratio('handshakes', 1):.2f}× |")
# Paired: each round's sockit run against the nginx run right after it, so that load
# from elsewhere, which shifts both, cancels; the median of those ratios.
paired = lambda kind, i: statistics.median(
    s[i] / n[i] for s, n in zip(rows[("sockit", kind)], rows[("nginx", kind)]))
print(f"| paired, median per round | {paired('small', 0):.2f}× | {paired('small', 1):.2f}× "
      f"| {paired('big', 0):.2f}× | {paired('big', 1):.2f}× "
      f"| {paired('handshakes', 0):.2f}× | {paired('handshakes', 1):.2f}× |")
PY
echo
echo "sessions: sockit $(session "$SOCKIT_ADDR"), nginx $(session "$NGINX_ADDR")"
echo "nginx $(nginx -v 2>&1 | sed 's|.*/||') with $(openssl version | cut -d' ' -f1-2)"
echo "medians of $ROUNDS alternating rounds (wrk ${SECS}s); $(machine); commit $(commit); load average before: $LOAD"
