#!/usr/bin/env python3
"""Memory and responsiveness of sockit's servers under a flood, with stdout not read at
all or read slowly (a terminal, ssh, `| less`): peak RSS, how long a second client
waits for an answer in the middle of the flood, and how long SIGTERM takes.

Usage: bench/bounded.py SOCKIT CASE MODE SECONDS
  CASE  tcp | udp | broadcast | dump | broker
  MODE  unread | slow (stdout read at 20 MB/s) | read (stdout read as fast as it comes)
Prints one line: CASE MODE peak_rss_mib second_client_ms sigterm_s flood_mib

Loopback only; the flood stops after SECONDS or FLOOD_LIMIT bytes, whichever is first.
"""
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time

SOCKIT, CASE, MODE, SECONDS = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])
FLOOD_LIMIT = 64 << 30
SLOW_RATE = 20 << 20  # bytes/s read from stdout in `slow` mode

ARGS = {
    "tcp": ["tcp", "serve", "--framing", "len", "--reply", "ok"],
    "udp": ["udp", "serve"],
    "broadcast": ["broadcast", "listen"],
    "dump": ["http", "dump"],
    "broker": ["tcp", "serve", "--framing", "len", "--broker"],
}[CASE]

server = subprocess.Popen(
    [SOCKIT, "--json", *ARGS, "--bind", "127.0.0.1:0"],
    stdin=subprocess.DEVNULL,
    stdout=subprocess.PIPE,
    stderr=subprocess.DEVNULL,
)
first = json.loads(server.stdout.readline())
host, port = first["addr"].rsplit(":", 1)
addr = (host, int(port))


def reader(rate):
    """Reads the server's stdout at `rate` bytes/s (None: as fast as it comes)."""
    fd = server.stdout.fileno()
    start, got = time.monotonic(), 0
    while True:
        try:
            chunk = os.read(fd, 1 << 16)
        except OSError:
            return
        if not chunk:
            return
        got += len(chunk)
        if rate:
            ahead = got / rate - (time.monotonic() - start)
            if ahead > 0:
                time.sleep(ahead)


if MODE != "unread":
    threading.Thread(target=reader, args=(SLOW_RATE if MODE == "slow" else None,), daemon=True).start()

peak = 0


def rss_sampler(stop):
    global peak
    while not stop.is_set():
        try:
            with open(f"/proc/{server.pid}/status") as f:
                for line in f:
                    if line.startswith("VmHWM:"):
                        peak = max(peak, int(line.split()[1]) << 10)
        except OSError:
            return
        time.sleep(0.2)


stop = threading.Event()
threading.Thread(target=rss_sampler, args=(stop,), daemon=True).start()
sent = 0
deadline = time.monotonic() + SECONDS


def drain(sock):
    try:
        while sock.recv(1 << 16):
            pass
    except OSError:
        pass


def flood():
    global sent
    if CASE in ("tcp", "broker"):
        s = socket.create_connection(addr)
        if CASE == "tcp":
            threading.Thread(target=drain, args=(s,), daemon=True).start()
        frame = (1 << 20).to_bytes(4, "big") + b"x" * (1 << 20)
        s.settimeout(0.2)
        while time.monotonic() < deadline and sent < FLOOD_LIMIT:
            try:
                sent += s.send(frame)
            except (socket.timeout, BlockingIOError):
                pass
            except OSError:
                return
    elif CASE in ("udp", "broadcast"):
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        datagram = b"y" * 60000
        while time.monotonic() < deadline and sent < FLOOD_LIMIT:
            try:
                sent += u.sendto(datagram, addr)
            except OSError:
                pass
    else:  # dump: POSTs of 1 MiB on one keep-alive connection
        s = socket.create_connection(addr)
        threading.Thread(target=drain, args=(s,), daemon=True).start()
        body = b"z" * (1 << 20)
        head = f"POST /flood HTTP/1.1\r\nHost: x\r\nContent-Length: {len(body)}\r\n\r\n".encode()
        s.settimeout(1)
        while time.monotonic() < deadline and sent < FLOOD_LIMIT:
            try:
                s.sendall(head + body)
                sent += len(head) + len(body)
            except socket.timeout:
                pass
            except OSError:
                return


def second_client():
    """One exchange by another client; its time in ms (None where the case has none)."""
    start = time.monotonic()
    if CASE == "tcp":
        s = socket.create_connection(addr, timeout=30)
        s.sendall((5).to_bytes(4, "big") + b"hello")
        want = 4 + 2
        got = b""
        while len(got) < want:
            chunk = s.recv(want - len(got))
            if not chunk:
                return None
            got += chunk
    elif CASE == "udp":
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        u.settimeout(30)
        u.sendto(b"hello", addr)
        u.recvfrom(1 << 16)
    elif CASE == "dump":
        s = socket.create_connection(addr, timeout=30)
        s.sendall(b"GET /second HTTP/1.1\r\nHost: x\r\n\r\n")
        if not s.recv(1 << 16):
            return None
    elif CASE == "broker":
        # Two chatters beside the non-reading flooder: one says hello, the other hears it.
        a = socket.create_connection(addr, timeout=30)
        b = socket.create_connection(addr, timeout=30)
        time.sleep(0.2)  # both subscribed (the server prints `connect` once they are)
        start = time.monotonic()
        a.sendall((5).to_bytes(4, "big") + b"hello")
        got = b""
        while len(got) < 9:
            chunk = b.recv(9 - len(got))
            if not chunk:
                return None
            got += chunk
    else:
        return None
    return (time.monotonic() - start) * 1000


flooder = threading.Thread(target=flood, daemon=True)
flooder.start()
time.sleep(min(SECONDS / 2, 5))
try:
    latency = second_client()
except OSError:
    latency = None
flooder.join()
time.sleep(0.3)
stop.set()
started = time.monotonic()
server.send_signal(signal.SIGTERM)
try:
    server.wait(timeout=30)
    took = time.monotonic() - started
except subprocess.TimeoutExpired:
    server.kill()
    took = float("inf")
lat = "-" if latency is None else f"{latency:.1f}"
print(f"{CASE} {MODE} {peak / (1 << 20):.0f} {lat} {took:.2f} {sent >> 20}")
