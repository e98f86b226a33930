#!/usr/bin/env python3
"""Generates EIP-2335-layout BN254 keystores (Layr-Labs crypto-libs layout) with an implementation
independent of the Rust code under test: Python's hashlib (scrypt, PBKDF2, SHA-256), pycryptodome
(AES-128-CTR), unicodedata (NFKD) and py_ecc (BN254 G2 public key).

    pip install pycryptodome py_ecc
    python3 gen_eip2335.py          # rewrites the two generated_*.json files next to this script

Everything is deterministic (salts, IVs, UUIDs and secrets come from SHA-256 of fixed labels), so
rerunning reproduces the committed files byte for byte.
"""

import hashlib
import json
import os
import unicodedata

from Crypto.Cipher import AES
from py_ecc.bn128 import G2, curve_order, multiply

HERE = os.path.dirname(os.path.abspath(__file__))


def h(label: str) -> bytes:
    return hashlib.sha256(label.encode()).digest()


def process_password(password: str) -> bytes:
    """EIP-2335: NFKD, strip C0 (0x00-0x1f), DEL (0x7f) and C1 (0x80-0x9f), UTF-8."""
    nfkd = unicodedata.normalize("NFKD", password)
    kept = "".join(c for c in nfkd if not (ord(c) <= 0x1F or 0x7F <= ord(c) <= 0x9F))
    return kept.encode("utf-8")


def g2_pubkey_hex(sk: int) -> str:
    """crypto-libs `pubkey`: gnark G2Affine.Marshal() = x.c1 | x.c0 | y.c1 | y.c0, big-endian."""
    x, y = multiply(G2, sk)
    limbs = [x.coeffs[1], x.coeffs[0], y.coeffs[1], y.coeffs[0]]
    return b"".join(int(c).to_bytes(32, "big") for c in limbs).hex()


def uuid4(seed: bytes) -> str:
    b = bytearray(seed[:16])
    b[6] = (b[6] & 0x0F) | 0x40
    b[8] = (b[8] & 0x3F) | 0x80
    s = b.hex()
    return f"{s[0:8]}-{s[8:12]}-{s[12:16]}-{s[16:20]}-{s[20:32]}"


def keystore(label: str, plaintext: bytes, sk: int, password: str, kdf: dict) -> dict:
    salt = h(label + "/salt")
    iv = h(label + "/iv")[:16]
    pw = process_password(password)
    if kdf["function"] == "scrypt":
        p = kdf["params"]
        dk = hashlib.scrypt(pw, salt=salt, n=p["n"], r=p["r"], p=p["p"], dklen=32, maxmem=2**30)
    else:
        dk = hashlib.pbkdf2_hmac("sha256", pw, salt, kdf["params"]["c"], 32)
    kdf["params"]["salt"] = salt.hex()
    ciphertext = AES.new(dk[:16], AES.MODE_CTR, initial_value=iv, nonce=b"").encrypt(plaintext)
    checksum = hashlib.sha256(dk[16:32] + ciphertext).hexdigest()
    return {
        "crypto": {
            "kdf": {"function": kdf["function"], "params": kdf["params"], "message": ""},
            "checksum": {"function": "sha256", "params": {}, "message": checksum},
            "cipher": {"function": "aes-128-ctr", "params": {"iv": iv.hex()}, "message": ciphertext.hex()},
        },
        "pubkey": g2_pubkey_hex(sk),
        "path": "m/1/0/0",
        "uuid": uuid4(h(label + "/uuid")),
        "version": 4,
        "curveType": "bn254",
    }


def main() -> None:
    # A: PBKDF2, a password whose NFKD form differs from its NFC form (é, ①, ﬁ), 32-byte plaintext.
    sk_a = int.from_bytes(h("kms-crypto keystore vector A/secret"), "big") % curve_order
    pw_a = "Caf\u00e9 \u2460 \ufb01"
    ks_a = keystore(
        "kms-crypto keystore vector A",
        sk_a.to_bytes(32, "big"),
        sk_a,
        pw_a,
        {"function": "pbkdf2", "params": {"c": 4096, "dklen": 32, "prf": "hmac-sha256"}},
    )
    # B: light scrypt, a secret with a leading zero byte stored minimal-length (31 bytes), as
    # crypto-libs does with big.Int.Bytes().
    sk_b = int.from_bytes(b"\x00" + h("kms-crypto keystore vector B/secret")[1:], "big")
    assert sk_b < curve_order and sk_b.bit_length() <= 248
    pw_b = "correct horse battery staple"
    ks_b = keystore(
        "kms-crypto keystore vector B",
        sk_b.to_bytes((sk_b.bit_length() + 7) // 8, "big"),
        sk_b,
        pw_b,
        {"function": "scrypt", "params": {"dklen": 32, "n": 4096, "p": 1, "r": 8}},
    )
    for name, ks, sk, pw in [
        ("generated_eip2335_pbkdf2_unicode.json", ks_a, sk_a, pw_a),
        ("generated_eip2335_scrypt_short_plaintext.json", ks_b, sk_b, pw_b),
    ]:
        with open(os.path.join(HERE, name), "w", encoding="utf-8") as f:
            json.dump(ks, f, indent=2)
            f.write("\n")
        print(f"{name}: password={pw!r} processed={process_password(pw)!r} secret=0x{sk:064x}")


if __name__ == "__main__":
    main()
