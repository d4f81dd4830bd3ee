#!/usr/bin/env python3
"""One end of a bare byte pipe through a magic-wormhole transit relay (bench/wormhole.sh).

    relay-pipe.py HOST:PORT TOKEN SIDE send < FILE
    relay-pipe.py HOST:PORT TOKEN SIDE recv > FILE

Each end sends the relay's handshake line, `please relay TOKEN for side SIDE` (TOKEN: 64
hex digits, the same at both ends; SIDE: 16 hex digits, different), and waits for the
relay's `ok`, which comes once both ends are there. Then `send` copies its standard input
to the relay and closes; `recv` copies what arrives to its standard output until the
relay closes. No encryption, no framing, no hashing: what the relay itself allows, the
ceiling of any client that goes through it.

The relay hangs up on an end that sends a byte before its `ok` (it answers `impatient`),
so nothing is sent early, and the line is read a byte at a time: the peer's data can
follow `ok` in the same segment.
"""

import os
import socket
import stat
import sys

CHUNK = 1 << 20  # bytes per read or write


def handshake(sock, token, side):
    sock.sendall(f"please relay {token} for side {side}\n".encode())
    line = b""
    while not line.endswith(b"\n") and len(line) < 64:
        byte = sock.recv(1)
        if not byte:
            break
        line += byte
    if line != b"ok\n":
        sys.exit(f"relay-pipe.py: the relay said {line!r} instead of ok")


def send(sock):
    stdin = sys.stdin.buffer
    if stat.S_ISREG(os.fstat(stdin.fileno()).st_mode):
        sock.sendfile(stdin)  # from a file: the kernel copies, as a tuned client would
        return
    while chunk := os.read(stdin.fileno(), CHUNK):
        sock.sendall(chunk)


def recv(sock):
    out = sys.stdout.fileno()
    buf = bytearray(CHUNK)
    view = memoryview(buf)
    while n := sock.recv_into(buf):
        done = 0
        while done < n:
            done += os.write(out, view[done:n])


def main():
    if len(sys.argv) != 5 or sys.argv[4] not in ("send", "recv"):
        sys.exit(__doc__.split("\n\n")[1])
    addr, token, side, role = sys.argv[1:]
    host, _, port = addr.rpartition(":")
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        sock.settimeout(None)
        handshake(sock, token, side)
        if role == "send":
            send(sock)
        else:
            recv(sock)


main()
