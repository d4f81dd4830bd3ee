#!/usr/bin/env bash
# The evidence behind docs/perf-protocol.md: what stock iperf3 writes on the wire.
#
#   bench/iperf3-capture.sh                 # every scenario below, decoded
#   bench/iperf3-capture.sh tcp udp-rev     # some of them
#   bench/iperf3-capture.sh probe           # a Python client and server written from the
#                                           # document, run against iperf3 in both roles
#   bench/iperf3-capture.sh craft           # crafted UDP datagrams against iperf3 -s: its
#                                           # loss, out-of-order and jitter figures
#   KEEP=/some/dir bench/iperf3-capture.sh  # keep the pcaps and outputs there
#
# Each capture runs `iperf3 -s -1` and `iperf3 -c 127.0.0.1` on a free loopback port with
# `tcpdump -i lo` around them, then prints the control connection byte by byte, the first
# bytes of each data connection and the first UDP datagrams (sequence numbers decoded).
# Loopback only; every run is short (-t 1 or 2, -b 10M) and under `timeout`; nothing is
# left running. Needs root (tcpdump), iperf3, tcpdump and python3; builds nothing.
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh

require iperf3 tcpdump python3
[ "$(id -u)" = 0 ] || die "needs root for tcpdump"
work_dir
OUT=${KEEP:-$WORK}
mkdir -p "$OUT"

# name | server options | client options | what else happens during the test:
#   busy       a second client connects after 1 s (it gets ACCESS_DENIED)
#   client-int the client gets SIGINT after 1.2 s (CLIENT_TERMINATE)
#   server-int the server gets SIGINT after 1.2 s (SERVER_TERMINATE)
#   udp-taken  another program holds the UDP port (SERVER_ERROR)
SCENARIOS=$(
    cat <<'EOF'
tcp||-t 2 -b 10M
udp||-u -t 2 -b 10M
tcp-p2||-P 2 -t 2 -b 10M
tcp-rev||-R -t 2 -b 10M
tcp-bidir||--bidir -t 2 -b 10M
udp-rev||-u -R -t 2 -b 10M
udp-bidir||-u --bidir -t 2 -b 10M
udp-64bit||-u -t 1 -b 1M -l 1400 --udp-counters-64bit
tcp-lw||-t 1 -b 10M -l 1000 -w 64K
tcp-bytes||-n 1M -b 10M
tcp-blocks||-k 10 -l 1000 -b 1M
tcp-options||-t 2 -b 10M -N -C reno -S 16 -O 1 -T title --extra-data xyz -M 1000 --repeating-payload --fq-rate 20M --pacing-timer 500 --get-server-output -P 3
json|-J|-J -t 1 -b 10M
busy||-t 3 -b 10M|busy
client-int||-t 5 -b 10M|client-int
server-int||-t 5 -b 10M|server-int
udp-taken||-u -t 1 -b 1M|udp-taken
EOF
)

cat >"$WORK/pcapdump.py" <<'EOF'
"""Decode an iperf3 loopback capture: control connection in full, data openings, UDP headers."""
import collections, struct, sys

def packets(path):
    with open(path, 'rb') as f:
        head = f.read(24)
        magic = struct.unpack('<I', head[:4])[0]
        e = '<' if magic in (0xa1b2c3d4, 0xa1b23c4d) else '>'
        nano = magic in (0xa1b23c4d, 0x4d3cb2a1)
        link = struct.unpack(e + 'I', head[20:24])[0]
        while True:
            h = f.read(16)
            if len(h) < 16:
                return
            sec, frac, incl, _ = struct.unpack(e + 'IIII', h)
            data = f.read(incl)
            if link == 1:                      # Ethernet (Linux lo)
                if struct.unpack('!H', data[12:14])[0] != 0x0800:
                    continue
                data = data[14:]
            elif link == 113:                  # Linux cooked
                data = data[16:]
            yield sec + frac / (1e9 if nano else 1e6), data

def main(path):
    tcp, udp, t0 = collections.OrderedDict(), [], None
    for t, ip in packets(path):
        t0 = t if t0 is None else t0
        ihl, proto = (ip[0] & 15) * 4, ip[9]
        src, dst = '.'.join(map(str, ip[12:16])), '.'.join(map(str, ip[16:20]))
        l4 = ip[ihl:struct.unpack('!H', ip[2:4])[0]]
        if proto == 6:
            sp, dp, seq = struct.unpack('!HHI', l4[:8])
            flags, off = l4[13], (l4[12] >> 4) * 4
            tcp.setdefault((src, sp, dst, dp), []).append((t - t0, flags, seq, l4[off:]))
        elif proto == 17:
            sp, dp = struct.unpack('!HH', l4[:4])
            udp.append((t - t0, (src, sp, dst, dp), l4[8:]))
    pairs = collections.OrderedDict()
    for key in tcp:
        pairs.setdefault(tuple(sorted([key[:2], key[2:]])), []).append(key)
    for n, keys in enumerate(pairs.values(), 1):
        client = next((k for k in keys for p in tcp[k] if p[1] & 0x02 and not p[1] & 0x10), keys[0])
        total = {k: sum(len(p[3]) for p in tcp[k]) for k in keys}
        control = n == 1
        print(f'=== TCP connection {n} ({"control" if control else "data stream or another client"}): '
              + ', '.join(f'{"C->S" if k == client else "S->C"} {total[k]} bytes' for k in keys))
        events = []
        for k in keys:
            seen = set()
            for t, flags, seq, pay in tcp[k]:
                if flags & 0x01: events.append((t, k, 'FIN'))
                if flags & 0x04: events.append((t, k, 'RST'))
                if pay and seq not in seen:
                    seen.add(seq); events.append((t, k, pay))
        shown = collections.Counter()
        for t, k, what in sorted(events, key=lambda e: e[0]):
            who = 'C->S' if k == client else 'S->C'
            if isinstance(what, str):
                print(f'  {t:9.6f} {who} {what}')
            elif control or shown[k] < 2:
                shown[k] += 1
                cut = what if control else what[:48]
                print(f'  {t:9.6f} {who} {len(what):6d} {cut!r}{" ..." if len(cut) < len(what) else ""}')
            elif shown[k] == 2:
                shown[k] += 1
                print(f'  ... more data {who}')
    flows = collections.OrderedDict()
    for t, k, pay in udp:
        flows.setdefault(k, []).append((t, pay))
    for k, ds in flows.items():
        sizes = dict(collections.Counter(len(p) for _, p in ds))
        print(f'=== UDP {k[0]}:{k[1]} -> {k[2]}:{k[3]}: {len(ds)} datagrams, sizes {sizes}')
        for t, p in ds[:4] + (ds[-1:] if len(ds) > 4 else []):
            extra = ''
            if len(p) >= 16:
                s, u, c32 = struct.unpack('!III', p[:12])
                extra = f'  sec={s} usec={u} seq32={c32} seq64={struct.unpack("!Q", p[8:16])[0]}'
            print(f'  {t:9.6f} {len(p):6d} {p[:16].hex(" ")}{extra}')

main(sys.argv[1])
EOF

capture() { # NAME SERVER-OPTIONS CLIENT-OPTIONS [ACTION]
    local name=$1 sopts=$2 copts=$3 action=${4:-} port dir tp sp cp blocker= rc
    port=$(free_port)
    dir=$OUT/$name
    mkdir -p "$dir"
    timeout 60 tcpdump -i lo -U -B 65536 -s 0 -w "$dir/cap.pcap" "port $port" 2>"$dir/tcpdump.err" &
    tp=$!
    wait_line "$dir/tcpdump.err" 'listening' >/dev/null
    if [ "$action" = udp-taken ]; then
        timeout 30 python3 -c 'import socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("0.0.0.0", int(sys.argv[1]))); time.sleep(10)' "$port" &
        blocker=$!
        sleep 0.3
    fi
    # shellcheck disable=SC2086 # the options are word lists
    timeout 30 iperf3 -s -1 -p "$port" $sopts >"$dir/server.out" 2>&1 &
    sp=$!
    sleep 0.3 # iperf3 -s says nothing machine-readable when it listens
    # shellcheck disable=SC2086
    timeout 30 iperf3 -c 127.0.0.1 -p "$port" $copts >"$dir/client.out" 2>&1 &
    cp=$!
    case $action in
    busy)
        sleep 1
        timeout 10 iperf3 -c 127.0.0.1 -p "$port" -t 1 >"$dir/client2.out" 2>&1 || true
        sed 's/^/  second client: /' "$dir/client2.out"
        ;;
    client-int) sleep 1.2 && kill -INT "$cp" ;;   # timeout passes the signal on to iperf3
    server-int) sleep 1.2 && kill -INT "$sp" ;;
    esac
    rc=0
    wait "$cp" || rc=$?
    wait "$sp" || true
    [ -z "$blocker" ] || { kill "$blocker"; wait "$blocker" || true; }
    sleep 1 # let tcpdump read the last packets before it is stopped
    kill -INT "$tp"
    wait "$tp" || true
    echo "##### $name: iperf3 -c ... $copts${action:+ ($action)} (client exit $rc)"
    grep -h 'error' "$dir/client.out" | sed 's/^/  client: /' || true
    python3 "$WORK/pcapdump.py" "$dir/cap.pcap"
}

cat >"$WORK/peer.py" <<'EOF'
"""An iperf3 client and a one-test server written from docs/perf-protocol.md (probe only)."""
import json, os, random, select, socket, struct, sys, time

def recv_exact(s, n):
    b = b''
    while len(b) < n:
        c = s.recv(n - len(b))
        if not c:
            raise EOFError(f'closed after {len(b)} of {n} bytes')
        b += c
    return b

def send_json(s, obj):
    data = json.dumps(obj, separators=(',', ':')).encode()
    s.sendall(struct.pack('!I', len(data)) + data)

def recv_json(s):
    return json.loads(recv_exact(s, struct.unpack('!I', recv_exact(s, 4))[0]))

def state(s):
    return struct.unpack('b', recv_exact(s, 1))[0]

def stream_ids(n):
    return [1] + list(range(3, n + 2))

def header(seq):
    now = time.monotonic()
    return struct.pack('!III', int(now), int((now - int(now)) * 1e6), seq)

def client(port, mode, proto, n, seconds=1.0, rate=10_000_000):
    udp = proto == 'udp'
    cookie = ''.join(random.choice('abcdefghijklmnopqrstuvwxyz234567') for _ in range(36)).encode() + b'\0'
    ctrl = socket.create_connection(('127.0.0.1', port), timeout=10)
    ctrl.sendall(cookie)
    assert state(ctrl) == 9
    size = 1400 if udp else 65536
    params = {proto: True, 'omit': 0, 'time': int(seconds), 'num': 0, 'blockcount': 0, 'parallel': n,
              'len': size, 'bandwidth': rate, 'pacing_timer': 1000, 'client_version': 'probe'}
    if mode == 'reverse': params['reverse'] = True
    if mode == 'bidir': params['bidirectional'] = True
    send_json(ctrl, params)
    st = state(ctrl)
    if st == -2:
        raise SystemExit(f'SERVER_ERROR {recv_exact(ctrl, 4).hex()}')
    assert st == 10, st
    roles = {'normal': [True] * n, 'reverse': [False] * n, 'bidir': [True] * n + [False] * n}[mode]
    streams = []
    for sender in roles:   # sending streams first, then receiving ones
        if udp:
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.settimeout(10)
            s.connect(('127.0.0.1', port))
            s.send(b'9876')
            assert len(s.recv(4)) == 4
        else:
            s = socket.create_connection(('127.0.0.1', port), timeout=10)
            s.sendall(cookie)
        streams.append({'sock': s, 'sender': sender, 'bytes': 0, 'packets': 0})
    assert state(ctrl) == 1 and state(ctrl) == 2
    start = time.monotonic()
    buf = os.urandom(size)
    for st_ in streams:
        st_['sock'].setblocking(False)
    def drain(r):
        for st_ in streams:
            if not st_['sender'] and st_['sock'] in r:
                try:
                    d = st_['sock'].recv(65536)
                except (BlockingIOError, ConnectionResetError):
                    continue
                st_['bytes'] += len(d)
                if udp and len(d) >= 12:
                    st_['packets'] = max(st_['packets'], struct.unpack('!I', d[8:12])[0])
    while time.monotonic() < start + seconds:
        r, w, _ = select.select([x['sock'] for x in streams if not x['sender']],
                                [x['sock'] for x in streams if x['sender']], [], 0.05)
        for st_ in streams:
            if st_['sock'] in w and st_['bytes'] * 8 < rate * (time.monotonic() - start):
                try:
                    if udp:
                        st_['packets'] += 1
                        st_['bytes'] += st_['sock'].send(header(st_['packets']) + buf[12:])
                    else:
                        st_['bytes'] += st_['sock'].send(buf)
                except BlockingIOError:
                    pass
        drain(r)
    ctrl.sendall(b'\x04')                               # TEST_END
    while True:                                         # drain until EXCHANGE_RESULTS
        r, _, _ = select.select([ctrl] + [x['sock'] for x in streams if not x['sender']], [], [], 1)
        if ctrl in r:
            break
        drain(r)
    assert state(ctrl) == 13
    elapsed = time.monotonic() - start
    send_json(ctrl, {'cpu_util_total': 0, 'cpu_util_user': 0, 'cpu_util_system': 0,
                     'sender_has_retransmits': 0 if any(x['sender'] for x in streams) else -1,
                     'streams': [{'id': i, 'bytes': x['bytes'], 'retransmits': -1, 'jitter': 0, 'errors': 0,
                                  'packets': x['packets'], 'start_time': 0, 'end_time': elapsed}
                                 for i, x in zip(stream_ids(len(streams)), streams)]})
    theirs = recv_json(ctrl)
    assert state(ctrl) == 14
    for x in streams:
        x['sock'].close()
    ctrl.sendall(b'\x10')                               # IPERF_DONE
    ctrl.close()
    for i, x, t in zip(stream_ids(len(streams)), streams, theirs['streams']):
        assert t['id'] == i
        print(f'  stream {i}: {"sent" if x["sender"] else "received"} {x["bytes"]} bytes, iperf3 says {t["bytes"]}')

def server(port):
    lst = socket.socket()
    lst.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    lst.bind(('127.0.0.1', port))
    lst.listen(16)
    lst.settimeout(20)
    ctrl, _ = lst.accept()
    ctrl.settimeout(20)
    cookie = recv_exact(ctrl, 37)
    ctrl.sendall(b'\x09')
    p = recv_json(ctrl)
    udp, n = 'udp' in p, p.get('parallel', 1)
    size = p.get('len', 1460 if udp else 131072)
    if 'bidirectional' in p: roles = [False] * n + [True] * n   # the first to arrive are received on
    elif 'reverse' in p: roles = [True] * n
    else: roles = [False] * n
    def udp_listener():
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        u.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        u.bind(('127.0.0.1', port))
        u.settimeout(20)
        return u
    ul = udp_listener() if udp else None
    ctrl.sendall(b'\x0a')
    streams = []
    while len(streams) < len(roles):
        sender = roles[len(streams)]
        if udp:
            _, peer = ul.recvfrom(4)
            ul.connect(peer)
            s, ul = ul, udp_listener()                  # the next stream's listener first,
            s.send(b'6789')                             # then the answer
        else:
            s, _ = lst.accept()
            if recv_exact(s, 37) != cookie:
                s.send(b'\xff'); s.close(); continue
        streams.append({'sock': s, 'sender': sender, 'bytes': 0, 'max': 0, 'errors': 0,
                        'jitter': 0.0, 'prev': None})
    if ul:
        ul.close()
    ctrl.sendall(b'\x01'); ctrl.sendall(b'\x02')
    start, buf, rate = time.monotonic(), os.urandom(size), p.get('bandwidth', 0)
    for x in streams:
        x['sock'].setblocking(False)
    while True:
        r, w, _ = select.select([ctrl] + [x['sock'] for x in streams if not x['sender']],
                                [x['sock'] for x in streams if x['sender']], [], 0.05)
        if ctrl in r:
            st = state(ctrl)
            if st == 4: break
            raise SystemExit(f'unexpected state {st}')
        now = time.monotonic()
        if now > start + p.get('time', 10) + p.get('omit', 0) + 10:
            raise SystemExit('no TEST_END')
        for x in streams:
            s = x['sock']
            if x['sender'] and s in w and (not rate or x['bytes'] * 8 < rate * (now - start)):
                try:
                    if udp:
                        x['max'] += 1
                        x['bytes'] += s.send(header(x['max']) + buf[12:])
                    else:
                        x['bytes'] += s.send(buf)
                except BlockingIOError:
                    pass
            if not x['sender'] and s in r:
                try:
                    d = s.recv(65536)
                except (BlockingIOError, ConnectionResetError):
                    continue
                x['bytes'] += len(d)
                if udp and len(d) >= 12:
                    sec, usec, seq = struct.unpack('!III', d[:12])
                    if seq > x['max']:
                        x['errors'] += max(0, seq - x['max'] - 1); x['max'] = seq
                    elif x['errors']:
                        x['errors'] -= 1
                    transit = now - (sec + usec / 1e6)
                    if x['prev'] is not None:
                        x['jitter'] += (abs(transit - x['prev']) - x['jitter']) / 16
                    x['prev'] = transit
    elapsed = time.monotonic() - start
    for x in streams:
        x['sock'].close()
    ctrl.sendall(b'\x0d')
    recv_json(ctrl)
    send_json(ctrl, {'cpu_util_total': 1.0, 'cpu_util_user': 0.5, 'cpu_util_system': 0.5,
                     'sender_has_retransmits': 0 if any(x['sender'] for x in streams) else -1,
                     'streams': [{'id': i, 'bytes': x['bytes'], 'retransmits': -1, 'jitter': x['jitter'],
                                  'errors': x['errors'], 'packets': x['max'], 'start_time': 0,
                                  'end_time': elapsed} for i, x in zip(stream_ids(len(streams)), streams)]})
    ctrl.sendall(b'\x0e')
    assert recv_exact(ctrl, 1) == b'\x10'

def craft(port, which):
    # One UDP stream whose datagrams carry chosen sequence numbers (loss and reordering) or
    # chosen time stamps (every other one 10 ms late); prints what iperf3 -s reports.
    cookie = b'u' * 36 + b'\0'
    ctrl = socket.create_connection(('127.0.0.1', port), timeout=10)
    ctrl.sendall(cookie)
    assert state(ctrl) == 9
    send_json(ctrl, {'udp': True, 'time': 2, 'parallel': 1, 'len': 100, 'bandwidth': 1000000})
    assert state(ctrl) == 10
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    u.settimeout(10)
    u.connect(('127.0.0.1', port))
    u.send(b'9876')
    assert len(u.recv(4)) == 4
    assert state(ctrl) == 1 and state(ctrl) == 2
    seqs = [1, 2, 4, 3, 6, 7, 8, 8, 10] if which == 'order' else list(range(1, 21))
    for i, seq in enumerate(seqs):
        stamp = time.monotonic() - (0.010 if which == 'jitter' and i % 2 else 0.0)
        u.send(struct.pack('!III', int(stamp), int((stamp - int(stamp)) * 1e6), seq) + b'x' * 88)
        time.sleep(0.01)
    time.sleep(0.2)
    ctrl.sendall(b'\x04')
    assert state(ctrl) == 13
    send_json(ctrl, {'cpu_util_total': 0, 'cpu_util_user': 0, 'cpu_util_system': 0,
                     'sender_has_retransmits': 0,
                     'streams': [{'id': 1, 'bytes': 100 * len(seqs), 'retransmits': -1, 'jitter': 0,
                                  'errors': 0, 'packets': max(seqs), 'start_time': 0, 'end_time': 1}]})
    got = recv_json(ctrl)['streams'][0]
    assert state(ctrl) == 14
    ctrl.sendall(b'\x10')
    if which == 'order':
        print(f'  sequence {seqs}: iperf3 says errors {got["errors"]}, packets {got["packets"]}'
              ' (the document predicts 1 and 10)')
    else:
        print(f'  stamps 10 ms late every other datagram: iperf3 says jitter {got["jitter"]:.7f} s'
              f' (the document predicts {0.010 * (1 - (15 / 16) ** 19):.7f})')

if sys.argv[1] == 'client':
    client(int(sys.argv[2]), sys.argv[3], sys.argv[4], int(sys.argv[5]))
elif sys.argv[1] == 'craft':
    craft(int(sys.argv[2]), sys.argv[3])
else:
    server(int(sys.argv[2]))
EOF

probe() {
    local mode proto n port sp ok=0 failed=0 out
    for mode in normal reverse bidir; do
        for proto in tcp udp; do
            for n in 1 2; do
                port=$(free_port)
                timeout 30 iperf3 -s -1 -p "$port" >"$WORK/probe-server.out" 2>&1 &
                sp=$!
                sleep 0.3
                echo "## our client ($proto, $mode, -P $n) against iperf3 -s"
                if timeout 20 python3 "$WORK/peer.py" client "$port" "$mode" "$proto" "$n"; then
                    ok=$((ok + 1))
                else
                    failed=$((failed + 1))
                fi
                wait "$sp" || true

                port=$(free_port)
                timeout 30 python3 "$WORK/peer.py" server "$port" >"$WORK/probe-peer.out" 2>&1 &
                sp=$!
                sleep 0.5
                local flags=(-t 1 -P "$n")
                if [ "$proto" = udp ]; then flags+=(-u -b 10M -l 1400); else flags+=(-b 100M); fi
                case $mode in reverse) flags+=(-R) ;; bidir) flags+=(--bidir) ;; esac
                echo "## iperf3 -c ${flags[*]} against our server"
                out=$(timeout 20 iperf3 -c 127.0.0.1 -p "$port" "${flags[@]}" 2>&1) || true
                grep -E 'sender|receiver|error' <<<"$out" | grep -v '^\[SUM' | sed 's/^/  /' || true
                if wait "$sp" && grep -q receiver <<<"$out"; then
                    ok=$((ok + 1))
                else
                    failed=$((failed + 1))
                    sed 's/^/  server: /' "$WORK/probe-peer.out"
                fi
            done
        done
    done
    echo "probe: $ok runs completed, $failed failed"
    [ "$failed" = 0 ]
}

craft() {
    local which port sp
    for which in order jitter; do
        port=$(free_port)
        timeout 30 iperf3 -s -1 -J -p "$port" >"$OUT/craft-$which.json" 2>&1 &
        sp=$!
        sleep 0.3
        echo "## crafted UDP datagrams ($which) against iperf3 -s"
        timeout 20 python3 "$WORK/peer.py" craft "$port" "$which"
        wait "$sp" || true
        python3 - "$OUT/craft-$which.json" <<'EOF'
import json, sys
u = json.load(open(sys.argv[1]))['end']['streams'][0]['udp']
print(f"  its -J: lost_packets {u['lost_packets']}, packets {u['packets']},"
      f" out_of_order {u['out_of_order']}, jitter_ms {u['jitter_ms']:.4f}")
EOF
    done
}

case ${1:-} in
probe) probe; exit ;;
craft) craft; exit ;;
esac
while IFS='|' read -r name sopts copts action; do
    if [ $# -eq 0 ] || [[ " $* " == *" $name "* ]]; then
        capture "$name" "$sopts" "$copts" "$action"
    fi
done <<<"$SCENARIOS"
[ -z "${KEEP:-}" ] || echo "pcaps and outputs kept in $KEEP"
