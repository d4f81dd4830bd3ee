"""Prints the known answers that src/wormhole/*_tests.rs check sockit against, computed
by the Python magic-wormhole client's own functions (run with its venv's python:
/opt/wormhole/bin/python src/wormhole/testdata/vectors.py [RUST_PAKE_MSG_HEX]).

With the PAKE message that sockit makes from its fixed test scalar, it also prints the
Python side's message and the key both must agree on."""
import sys
from nacl.secret import SecretBox
from spake2 import SPAKE2_Symmetric
from wormhole._key import derive_key, derive_phase_key
from wormhole.transit import (build_receiver_handshake, build_sender_handshake,
                              build_sided_relay_handshake)
from wormhole.util import HKDF

key = bytes(range(32))
print("verifier", derive_key(key, b"wormhole:verifier").hex())
print("phase_version_side_0123456789", derive_phase_key(key, "0123456789", "version").hex())
print("phase_0_side_abcdef", derive_phase_key(key, "abcdef", "0").hex())
phase_key = derive_phase_key(key, "0123456789", "version")
nonce = bytes(range(24))
print("box", SecretBox(phase_key).encrypt(b'{"app_versions": {}}', nonce).hex())
transit = derive_key(key, b"lothar.com/wormhole/text-or-file-xfer/transit-key")
print("transit_key", transit.hex())
print("sender_handshake", build_sender_handshake(transit))
print("receiver_handshake", build_receiver_handshake(transit))
print("relay_handshake", build_sided_relay_handshake(transit, "0011223344556677"))
send_key = HKDF(transit, 32, CTXinfo=b"transit_record_sender_key")
print("record_sender_key", send_key.hex())
print("record_receiver_key", HKDF(transit, 32, CTXinfo=b"transit_record_receiver_key").hex())
box = SecretBox(send_key)
print("record_0", box.encrypt(b"hello", bytes(24)).hex())
print("record_1", box.encrypt(b"hello", bytes(23) + b"\x01").hex())

if len(sys.argv) > 1:
    fixed = lambda n: bytes([0x42]) * n
    py = SPAKE2_Symmetric(b"7-guitarist-revenge", idSymmetric=b"lothar.com/wormhole/text-or-file-xfer",
                          entropy_f=fixed)
    print("pake_python_msg", py.start().hex())
    print("pake_key", py.finish(bytes.fromhex(sys.argv[1])).hex())
