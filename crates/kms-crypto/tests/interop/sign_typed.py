#!/usr/bin/env python3
"""Signs EIP-712 typed data with eth-account, the way a Python client of the KMS would.

Usage: python3 sign_typed.py TYPED_DATA.json [TYPED_DATA.json ...] PRIVATE_KEY_FILE

TYPED_DATA.json is the full typed-data JSON (types incl. EIP712Domain, primaryType, domain,
message), as produced by the Rust `Request::typed_data`. PRIVATE_KEY_FILE (the last argument)
holds one 32-byte secp256k1 key as hex (with or without 0x); it is read from a file so that the
key is not on the command line.

Prints, for each typed-data file in order, one line with a JSON object
{"digest": "0x<32 bytes>", "signature": "0x<65 bytes r||s||v>"}. The digest is eth-account's
EIP-712 signing hash; the signature is `Account.sign_message` over
`encode_typed_data(full_message=...)`. Several files may be given because importing eth-account
takes about a second. Any error exits non-zero with a message on stderr.
Used by tests/auth_interop.rs.
"""

from __future__ import annotations

import json
import re
import sys

from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_utils import keccak


def sign(typed_data_file: str, key_hex: str) -> dict[str, str]:
    with open(typed_data_file, encoding="utf-8") as f:
        # Python's json keeps integers exact (no 2^53 limit), like the Rust side.
        typed_data = json.load(f)
    signable = encode_typed_data(full_message=typed_data)
    signed = Account.sign_message(signable, private_key=key_hex)

    # The signing hash eth-account used must be the EIP-712 one: keccak(0x19 0x01 || domain
    # separator || hashStruct(message)). Check it so a change in eth-account is noticed here.
    if signable.version != b"\x01":
        raise ValueError(f"unexpected EIP-191 version {signable.version!r}")
    digest = bytes(signed.message_hash)
    if digest != keccak(b"\x19" + signable.version + signable.header + signable.body):
        raise ValueError("eth-account message_hash is not keccak(0x1901 || header || body)")
    signature = bytes(signed.signature)
    if len(digest) != 32 or len(signature) != 65:
        raise ValueError("unexpected digest or signature length")
    return {"digest": "0x" + digest.hex(), "signature": "0x" + signature.hex()}


def main(argv: list[str]) -> int:
    if len(argv) < 3:
        print(__doc__, file=sys.stderr)
        return 2
    *typed_data_files, key_file = argv[1:]
    with open(key_file, encoding="ascii") as f:
        key_hex = f.read().strip()
    if not re.fullmatch(r"(0x)?[0-9a-fA-F]{64}", key_hex):
        print("private key file must hold 32 bytes as hex", file=sys.stderr)
        return 2
    if not key_hex.startswith("0x"):
        key_hex = "0x" + key_hex
    for path in typed_data_files:
        try:
            result = sign(path, key_hex)
        except Exception as e:  # report which file, then fail
            print(f"{path}: {type(e).__name__}: {e}", file=sys.stderr)
            return 1
        print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
