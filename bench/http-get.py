#!/usr/bin/env python3
"""Downloads one URL over HTTP/1.1 and throws the body away; prints the body's bytes per
second (head included in the time). Usage: bench/http-get.py http://HOST:PORT/PATH

Used for the 1 GiB download instead of `curl -o /dev/null`: curl writes the body to
/dev/null through stdio, and how much of it stdio copies depends on where the body
starts in curl's buffer, i.e. on the length of the response head. With the same server,
a head 59 bytes longer moved curl from 2.4 to 3.3 GB/s, and `curl -N` reversed which
server looked faster. This client reads into one 1 MiB buffer and does nothing else
with the bytes, so the server and the kernel are what is measured.
"""
import socket
import sys
import time
from urllib.parse import urlsplit

url = urlsplit(sys.argv[1])
conn = socket.create_connection((url.hostname, url.port or 80))
start = time.perf_counter()
conn.sendall(f"GET {url.path} HTTP/1.1\r\nHost: {url.netloc}\r\n\r\n".encode())
buf = memoryview(bytearray(1 << 20))
head = b""
while b"\r\n\r\n" not in head:
    n = conn.recv_into(buf)
    if n == 0:
        sys.exit("http-get: connection closed in the response head")
    head += bytes(buf[:n])
head, _, body = head.partition(b"\r\n\r\n")
status = head.split(b"\r\n")[0]
if b" 200 " not in status + b" ":
    sys.exit(f"http-get: {status.decode(errors='replace')}")
length = None
for line in head.split(b"\r\n")[1:]:
    name, _, value = line.partition(b":")
    if name.strip().lower() == b"content-length":
        length = int(value)
if length is None:
    sys.exit("http-get: no content-length")
left = length - len(body)
while left > 0:
    n = conn.recv_into(buf, min(left, len(buf)))
    if n == 0:
        sys.exit(f"http-get: connection closed with {left} bytes to go")
    left -= n
print(f"{length / (time.perf_counter() - start):.0f}")
