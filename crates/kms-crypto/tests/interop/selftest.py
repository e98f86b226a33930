#!/usr/bin/env python3
"""Self-test for check.py, needing no Rust output.

Builds a CASES.json with py-ecc (good cases plus tampered cases of every kind),
runs check.py on it and asserts that
  * every good case is accepted and every tampered case is rejected,
  * each tampered case is rejected by the specific check it targets
    (so every check is shown to be live, not just "something failed"),
  * the final line is "N passed, 0 failed" and the exit status is 0,
and, on small extra files, that a mislabelled case is counted as failed with
exit status 1 and that an unreadable file fails.

The values here are built by code paths separate from check.py's (own
try-and-increment over py-ecc field elements, a secret-based recovered
signature instead of Lagrange interpolation, an own spec-literal EIP-712
encoder); check.py itself is only run as a subprocess.

Usage: python3 selftest.py [--seed N] [--keep PATH] [--bench]
  --bench  instead: time check.py on 10 good cases of each kind.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import re
import subprocess
import sys
import tempfile
import time
from typing import Any

from eth_utils import keccak
from py_ecc import optimized_bls12_381 as bls
from py_ecc import optimized_bn128 as bn
from py_ecc.bls.hash_to_curve import hash_to_G1 as bls_hash_to_G1
from py_ecc.bls.point_compression import (
    compress_G1,
    compress_G2,
    modular_squareroot_in_FQ2,
)

HERE = os.path.dirname(os.path.abspath(__file__))
CHECK = os.path.join(HERE, "check.py")

P = bn.field_modulus
R = bn.curve_order
Q = bls.field_modulus
RB = bls.curve_order


# --------------------------------------------------------------------------
# BN254 builders
# --------------------------------------------------------------------------


def hash_to_g1_bn(digest: bytes) -> tuple[int, int, int]:
    """Try-and-increment per BN254.sol, via py-ecc field arithmetic and Euler's
    criterion (a different code path from check.py).  Returns (x, y, tries)."""
    x = bn.FQ(int.from_bytes(digest, "big"))  # FQ reduces mod p
    tries = 0
    while True:
        beta = x * x * x + bn.FQ(3)
        if beta == bn.FQ(0) or beta ** ((P - 1) // 2) == bn.FQ(1):
            y = beta ** ((P + 1) // 4)
            assert y * y == beta
            return x.n, y.n, tries
        x = x + bn.FQ(1)
        tries += 1


def g1j(pt: Any) -> dict:
    x, y = bn.normalize(pt)
    return {"x": str(x.n), "y": str(y.n)}


def g2j(pt: Any, solidity_order: bool = True) -> dict:
    x, y = bn.normalize(pt)
    if solidity_order:  # [c1, c0]
        return {"x": [str(x.coeffs[1]), str(x.coeffs[0])], "y": [str(y.coeffs[1]), str(y.coeffs[0])]}
    return {"x": [str(x.coeffs[0]), str(x.coeffs[1])], "y": [str(y.coeffs[0]), str(y.coeffs[1])]}


def bn_pt(x: int, y: int) -> Any:
    return (bn.FQ(x), bn.FQ(y), bn.FQ(1))


def bn_twist_point_outside_g2(rng: random.Random) -> Any:
    """A point on the BN254 twist that is not in the r-order subgroup."""
    while True:
        x = bn.FQ2([rng.randrange(P), rng.randrange(P)])
        a = x ** 3 + bn.b2
        # sqrt in F_p^2 for p = 3 mod 4 (complex method)
        a1 = a ** ((P - 3) // 4)
        alpha = a1 * a1 * a
        x0 = a1 * a
        if alpha == bn.FQ2([P - 1, 0]):
            y = bn.FQ2([0, 1]) * x0
        else:
            y = (bn.FQ2.one() + alpha) ** ((P - 1) // 2) * x0
        if y * y != a:
            continue
        pt = (x, y, bn.FQ2.one())
        assert bn.is_on_curve(pt, bn.b2)
        if not bn.is_inf(bn.multiply(pt, R)):
            return pt


def bn254_good(rng: random.Random, cid: str, sk: int, mh: bytes) -> dict:
    hx, hy, _ = hash_to_g1_bn(mh)
    H = bn_pt(hx, hy)
    return {
        "id": cid,
        "expect_valid": True,
        "secret_key": str(sk),
        "g1": g1j(bn.multiply(bn.G1, sk)),
        "g2": g2j(bn.multiply(bn.G2, sk)),
        "message_hash": "0x" + mh.hex(),
        "message_point": {"x": str(hx), "y": str(hy)},
        "signature": g1j(bn.multiply(H, sk)),
    }


def build_bn254(rng: random.Random, n_good: int, tampered: bool) -> tuple[list, dict]:
    cases, expect = [], {}
    # good cases: random, plus edge inputs
    mhs = [rng.randbytes(32) for _ in range(n_good)]
    sks = [rng.randrange(1, R) for _ in range(n_good)]
    if n_good >= 4:
        mhs[1] = b"\xff" * 32  # >= p: exercises the mod-p reduction
        mhs[2] = b"\x00" * 32
        sks[2] = 1
        sks[3] = R - 1
        # a digest whose first x is not on the curve: exercises the increment
        while True:
            m = rng.randbytes(32)
            if hash_to_g1_bn(m)[2] >= 2:
                mhs[0] = m
                break
    for i in range(n_good):
        cases.append(bn254_good(rng, f"good_{i}", sks[i], mhs[i]))
    if not tampered:
        return cases, expect

    sk = rng.randrange(1, R)
    mh = rng.randbytes(32)
    base = bn254_good(rng, "base", sk, mh)
    hx, hy, _ = hash_to_g1_bn(mh)
    H = bn_pt(hx, hy)

    def t(cid: str, check: str, **over: Any) -> None:
        c = dict(base)
        c.update(over)
        c["id"] = cid
        c["expect_valid"] = False
        cases.append(c)
        expect[cid] = check

    g1 = base["g1"]
    sig = base["signature"]
    t("t_g1_wrong_key", "g1 == sk*G1", g1=g1j(bn.multiply(bn.G1, sk + 1)))
    t("t_g1_off_curve", "g1.parse", g1={"x": g1["x"], "y": str((int(g1["y"]) + 1) % P)})
    t("t_g1_coord_not_reduced", "g1.parse", g1={"x": str(int(g1["x"]) + P), "y": g1["y"]})
    t("t_g2_wrong_key", "g2 == sk*G2", g2=g2j(bn.multiply(bn.G2, sk + 1)))
    t("t_g2_pyecc_limb_order", "g2.on_curve", g2=g2j(bn.multiply(bn.G2, sk), solidity_order=False))
    t("t_g2_not_in_subgroup", "g2.subgroup", g2=g2j(bn_twist_point_outside_g2(rng)))
    # message point of another hash, signature consistent with it
    H2x, H2y, _ = hash_to_g1_bn(rng.randbytes(32))
    H2 = bn_pt(H2x, H2y)
    t("t_h2c_other_point", "message_point == hashToG1",
      message_point=g1j(H2), signature=g1j(bn.multiply(H2, sk)))
    # the other square root (-y), signature consistent with it
    nH = bn.neg(H)
    t("t_h2c_other_root", "message_point == hashToG1",
      message_point=g1j(nH), signature=g1j(bn.multiply(nH, sk)))
    # off-by-one in the loop: start searching at x+1
    x0 = int.from_bytes(mh, "big") % P
    sx, sy, _ = hash_to_g1_bn(((x0 + 1) % P).to_bytes(32, "big"))
    if (sx, sy) != (hx, hy):
        Hs = bn_pt(sx, sy)
        t("t_h2c_start_at_x_plus_1", "message_point == hashToG1",
          message_point=g1j(Hs), signature=g1j(bn.multiply(Hs, sk)))
    # signed something else: flip one byte of the hash, keep everything else
    mh_bad = bytearray(mh)
    mh_bad[7] ^= 0x01
    t("t_message_hash_changed", "message_point == hashToG1", message_hash="0x" + mh_bad.hex())
    t("t_sig_wrong_key", "signature == sk*message_point", signature=g1j(bn.multiply(H, sk + 1)))
    t("t_sig_negated", "signature == sk*message_point", signature=g1j(bn.neg(bn.multiply(H, sk))))
    t("t_sig_off_curve", "signature.parse", signature={"x": sig["x"], "y": str((int(sig["y"]) + 2) % P)})
    t("t_sig_infinity", "signature.parse", signature={"x": "0", "y": "0"})
    t("t_sk_not_reduced", "secret_key", secret_key=str(sk + R))
    # g1 inconsistent with g2 but the signature verifies against g2: only the
    # BLSSignatureChecker gamma equation (and g1 == sk*G1) can see it
    t("t_apk_g1_g2_mismatch", "BLSSignatureChecker gamma check", g1=g1j(bn.multiply(bn.G1, sk + 7)))
    return cases, expect


def build_bn254_aggregate(rng: random.Random, n_good: int, tampered: bool) -> tuple[list, dict]:
    cases, expect = [], {}

    def agg(cid: str, sks: list[int], mh: bytes) -> dict:
        hx, hy, _ = hash_to_g1_bn(mh)
        H = bn_pt(hx, hy)
        return {
            "id": cid,
            "expect_valid": True,
            "message_hash": "0x" + mh.hex(),
            "g2_keys": [g2j(bn.multiply(bn.G2, k)) for k in sks],
            # built as a sum of individual signatures
            "signature": g1j(_sum_bn([bn.multiply(H, k) for k in sks])),
        }

    sizes = [1, 2, 3, 4, 5]
    for i in range(n_good):
        sks = [rng.randrange(1, R) for _ in range(sizes[i % len(sizes)])]
        cases.append(agg(f"good_{i}_n{len(sks)}", sks, rng.randbytes(32)))
    if not tampered:
        return cases, expect

    sks = [rng.randrange(1, R) for _ in range(3)]
    mh = rng.randbytes(32)
    base = agg("base", sks, mh)
    hx, hy, _ = hash_to_g1_bn(mh)
    H = bn_pt(hx, hy)

    def t(cid: str, check: str, **over: Any) -> None:
        c = dict(base)
        c.update(over)
        c["id"] = cid
        c["expect_valid"] = False
        cases.append(c)
        expect[cid] = check

    keys = base["g2_keys"]
    t("t_missing_key", "pairing e(sig,G2)==e(H(m),apk)", g2_keys=keys[:2])
    t("t_extra_key", "pairing e(sig,G2)==e(H(m),apk)",
      g2_keys=keys + [g2j(bn.multiply(bn.G2, rng.randrange(1, R)))])
    t("t_one_signer_only", "pairing e(sig,G2)==e(H(m),apk)", signature=g1j(bn.multiply(H, sks[0])))
    mh_bad = bytearray(mh)
    mh_bad[0] ^= 0x80
    t("t_message_hash_changed", "pairing e(sig,G2)==e(H(m),apk)", message_hash="0x" + mh_bad.hex())
    t("t_key_pyecc_limb_order", "g2_keys[1].on_curve",
      g2_keys=[keys[0], g2j(bn.multiply(bn.G2, sks[1]), solidity_order=False), keys[2]])
    t("t_key_not_in_subgroup", "g2_keys[2].subgroup",
      g2_keys=[keys[0], keys[1], g2j(bn_twist_point_outside_g2(rng))])
    k = bn.multiply(bn.G2, sks[0])
    t("t_keys_cancel_to_infinity", "apk = sum(g2_keys)", g2_keys=[g2j(k), g2j(bn.neg(k))])
    return cases, expect


def _sum_bn(pts: list) -> Any:
    acc = bn.Z1
    for p in pts:
        acc = bn.add(acc, p)
    return acc


# --------------------------------------------------------------------------
# BLS12-381 builders
# --------------------------------------------------------------------------


def g1hex(pt: Any) -> str:
    return "0x" + compress_G1(pt).to_bytes(48, "big").hex()


def g2hex(pt: Any) -> str:
    z1, z2 = compress_G2(pt)
    return "0x" + z1.to_bytes(48, "big").hex() + z2.to_bytes(48, "big").hex()


def bls_e1_point_outside_g1(rng: random.Random) -> Any:
    while True:
        x = rng.randrange(Q)
        rhs = (x ** 3 + 4) % Q
        y = pow(rhs, (Q + 1) // 4, Q)
        if y * y % Q != rhs:
            continue
        pt = (bls.FQ(x), bls.FQ(y), bls.FQ(1))
        if not bls.is_inf(bls.multiply(pt, RB)):
            return pt


def bls_e2_point_outside_g2(rng: random.Random) -> Any:
    while True:
        x = bls.FQ2([rng.randrange(Q), rng.randrange(Q)])
        y = modular_squareroot_in_FQ2(x ** 3 + bls.b2)
        if y is None:
            continue
        pt = (x, y, bls.FQ2.one())
        if not bls.is_inf(bls.multiply(pt, RB)):
            return pt


class Dkg:
    """A Shamir/Feldman sharing of a random secret, with partial signatures
    on H(app_id) and the full signature a_0 * H computed from the secret."""

    def __init__(self, rng: random.Random, t: int, eval_points: list[int], dst: str, app_id: bytes):
        self.t = t
        self.coeffs = [rng.randrange(1, RB) for _ in range(t)]
        self.dst = dst
        self.app_id = app_id
        self.h = bls_hash_to_G1(app_id, dst.encode(), hashlib.sha256)
        self.eval_points = eval_points

    def share(self, x: int) -> int:
        return sum(a * pow(x, j, RB) for j, a in enumerate(self.coeffs)) % RB

    def case(self, cid: str) -> dict:
        return {
            "id": cid,
            "expect_valid": True,
            "dst": self.dst,
            "app_id": "0x" + self.app_id.hex(),
            "h_app": g1hex(self.h),
            "threshold": self.t,
            "commitments": [g2hex(bls.multiply(bls.G2, a)) for a in self.coeffs],
            "partials": [
                {
                    "eval_point": str(x),
                    "share": str(self.share(x)),
                    "signature": g1hex(bls.multiply(self.h, self.share(x))),
                }
                for x in self.eval_points
            ],
            "recovered": g1hex(bls.multiply(self.h, self.coeffs[0])),
        }


DSTS = [
    "KMS-V01-CS01-with-BLS12381G1_XMD:SHA-256_SSWU_RO_",
    "BLS_SIG_BLS12381G1_XMD:SHA-256_SSWU_RO_NUL_",
]


def build_bls12381(rng: random.Random, n_good: int, tampered: bool) -> tuple[list, dict]:
    cases, expect = [], {}
    shapes = [(1, [1]), (2, [1, 2, 3]), (3, None), (4, [4, 3, 2, 1]), (2, [7, 11])]
    for i in range(n_good):
        t, eps = shapes[i % len(shapes)]
        if eps is None:
            eps = list({rng.randrange(1, RB) for _ in range(t + 2)})  # large random eval points
        app_id = b"" if i == 1 else rng.randbytes(rng.choice([8, 20, 32]))
        d = Dkg(rng, t, eps, DSTS[i % 2], app_id)
        cases.append(d.case(f"good_{i}_t{t}_n{len(eps)}"))
    if not tampered:
        return cases, expect

    d = Dkg(rng, 2, [1, 2, 3], DSTS[0], b"kms-app-0001")
    base = d.case("base")

    def t(cid: str, check: str, **over: Any) -> dict:
        c = json.loads(json.dumps(base))
        c.update(over)
        c["id"] = cid
        c["expect_valid"] = False
        cases.append(c)
        expect[cid] = check
        return c

    def resign(c: dict, h: Any) -> None:
        """Make all signatures consistent with another hash point h."""
        c["h_app"] = g1hex(h)
        for p in c["partials"]:
            p["signature"] = g1hex(bls.multiply(h, int(p["share"])))
        c["recovered"] = g1hex(bls.multiply(h, d.coeffs[0]))

    c = t("t_h_app_other_dst", "h_app == hash_to_G1(app_id, dst)")
    resign(c, bls_hash_to_G1(d.app_id, DSTS[1].encode(), hashlib.sha256))
    c = t("t_h_app_other_app_id", "h_app == hash_to_G1(app_id, dst)")
    resign(c, bls_hash_to_G1(b"kms-app-0002", DSTS[0].encode(), hashlib.sha256))
    c = t("t_h_app_nu_suite_dst", "h_app == hash_to_G1(app_id, dst)")
    resign(c, bls_hash_to_G1(d.app_id, DSTS[0].replace("RO", "NU").encode(), hashlib.sha256))

    comms = base["commitments"]
    t("t_commitment1_replaced", "partials[0].feldman",
      commitments=[comms[0], g2hex(bls.multiply(bls.G2, d.coeffs[1] + 1))])
    t("t_mpk_replaced", "pairing e(recovered,G2)==e(h_app,MPK)",
      commitments=[g2hex(bls.multiply(bls.G2, d.coeffs[0] + 1)), comms[1]])
    t("t_commitments_swapped", "partials[1].feldman", commitments=[comms[1], comms[0]])
    t("t_commitment_not_in_subgroup", "commitments[1].subgroup",
      commitments=[comms[0], g2hex(bls_e2_point_outside_g2(rng))])
    t("t_threshold_mismatch", "commitments.parse", threshold=3)

    parts = base["partials"]

    def with_partial(i: int, **over: Any) -> list:
        ps = json.loads(json.dumps(parts))
        ps[i].update(over)
        return ps

    s1 = d.share(2)
    t("t_share_wrong_sig_consistent", "partials[1].feldman",
      partials=with_partial(1, share=str(s1 + 1), signature=g1hex(bls.multiply(d.h, s1 + 1))))
    t("t_partial_sig_wrong", "partials[1].signature == share*h_app",
      partials=with_partial(1, signature=g1hex(bls.multiply(d.h, s1 + 1))))
    t("t_partial_sig_negated", "partials[0].signature == share*h_app",
      partials=with_partial(0, signature=g1hex(bls.neg(bls.multiply(d.h, d.share(1))))))
    t("t_eval_point_shifted", "partials[2].feldman", partials=with_partial(2, eval_point="4"))
    t("t_eval_point_duplicate", "partials.eval_points_distinct",
      partials=[parts[0], parts[1], dict(parts[0])])
    t("t_eval_point_zero_is_secret", "partials[0].eval_point",
      partials=with_partial(0, eval_point="0", share=str(d.coeffs[0]),
                            signature=g1hex(bls.multiply(d.h, d.coeffs[0]))))
    t("t_eval_point_not_reduced", "partials[0].eval_point", partials=with_partial(0, eval_point=str(1 + RB)))
    t("t_partial_sig_not_in_subgroup", "partials[1].signature.subgroup",
      partials=with_partial(1, signature=g1hex(bls_e1_point_outside_g1(rng))))
    good_sig = bytes.fromhex(parts[1]["signature"][2:])
    no_cflag = bytes([good_sig[0] & 0x7F]) + good_sig[1:]
    t("t_partial_sig_c_flag_cleared", "partials[1].signature.parse",
      partials=with_partial(1, signature="0x" + no_cflag.hex()))
    t("t_partial_sig_truncated", "partials[1].signature.parse",
      partials=with_partial(1, signature="0x" + good_sig[:47].hex()))

    t("t_recovered_wrong", "recovered == lagrange(first t partials)",
      recovered=g1hex(bls.multiply(d.h, d.coeffs[0] + 1)))
    # classic bugs: summing partials without Lagrange weights; sign error in
    # the Lagrange denominator (x_i - x_j), which negates the result for t=2
    plain = bls.add(bls.multiply(d.h, d.share(1)), bls.multiply(d.h, d.share(2)))
    t("t_recovered_plain_sum", "recovered == lagrange(first t partials)", recovered=g1hex(plain))
    t("t_recovered_lagrange_sign_error", "recovered == lagrange(first t partials)",
      recovered=g1hex(bls.neg(bls.multiply(d.h, d.coeffs[0]))))
    # recovered interpolated at x=1 instead of x=0 (i.e. share 1's signature)
    t("t_recovered_at_wrong_x", "recovered == lagrange(first t partials)", recovered=parts[0]["signature"])
    return cases, expect


# --------------------------------------------------------------------------
# EIP-712: own spec-literal encoder
# --------------------------------------------------------------------------


def _deps(t: str, types: dict, acc: set) -> set:
    base = t.split("[")[0]
    if base not in types or base in acc:
        return acc
    acc.add(base)
    for f in types[base]:
        _deps(f["type"], types, acc)
    return acc


def encode_type(primary: str, types: dict) -> str:
    deps = _deps(primary, types, set()) - {primary}
    return "".join(
        f"{t}(" + ",".join(f"{f['type']} {f['name']}" for f in types[t]) + ")"
        for t in [primary] + sorted(deps)
    )


def _int(v: Any) -> int:
    if isinstance(v, str):
        return int(v, 16) if v.startswith("0x") else int(v)
    return int(v)


def encode_value(t: str, v: Any, types: dict) -> bytes:
    if t in types:
        return keccak(encode_data(t, v, types))
    if t.endswith("]"):
        inner = t[: t.rindex("[")]
        return keccak(b"".join(encode_value(inner, x, types) for x in v))
    if t == "string":
        return keccak(v.encode("utf-8"))
    if t == "bytes":
        return keccak(bytes.fromhex(v[2:]))
    if t.startswith("bytes"):
        b = bytes.fromhex(v[2:])
        assert len(b) == int(t[5:])
        return b.ljust(32, b"\x00")
    if t == "address":
        return int(v, 16).to_bytes(32, "big")
    if t == "bool":
        return (1 if v else 0).to_bytes(32, "big")
    if t.startswith("uint"):
        return _int(v).to_bytes(32, "big")
    if t.startswith("int"):
        return (_int(v) % 2 ** 256).to_bytes(32, "big")
    raise ValueError(t)


def encode_data(t: str, v: dict, types: dict) -> bytes:
    return keccak(encode_type(t, types).encode()) + b"".join(
        encode_value(f["type"], v[f["name"]], types) for f in types[t]
    )


def hash_struct(t: str, v: dict, types: dict) -> bytes:
    return keccak(encode_data(t, v, types))


def eip712_digest(td: dict) -> bytes:
    return keccak(
        b"\x19\x01"
        + hash_struct("EIP712Domain", td["domain"], td["types"])
        + hash_struct(td["primaryType"], td["message"], td["types"])
    )


DOMAIN_FIELDS = [
    {"name": "name", "type": "string"},
    {"name": "version", "type": "string"},
    {"name": "chainId", "type": "uint256"},
    {"name": "verifyingContract", "type": "address"},
    {"name": "salt", "type": "bytes32"},
]


def domain_types(domain: dict) -> list:
    return [f for f in DOMAIN_FIELDS if f["name"] in domain]


def mail_example() -> dict:
    domain = {"name": "Ether Mail", "version": "1", "chainId": 1,
              "verifyingContract": "0xCcCCccccCCCCcCCCCCCcCcCccCcCCCcCcccccccC"}
    return {
        "types": {
            "EIP712Domain": domain_types(domain),
            "Person": [{"name": "name", "type": "string"}, {"name": "wallet", "type": "address"}],
            "Mail": [{"name": "from", "type": "Person"}, {"name": "to", "type": "Person"},
                     {"name": "contents", "type": "string"}],
        },
        "primaryType": "Mail",
        "domain": domain,
        "message": {
            "from": {"name": "Cow", "wallet": "0xCD2a3d9F938E13CD947Ec05AbC7FE734Df8DD826"},
            "to": {"name": "Bob", "wallet": "0xbBbBBBBbbBBBbbbBbbBbbbbBBbBbbbbBbBbbBBbB"},
            "contents": "Hello, Bob!",
        },
    }


def addr(rng: random.Random) -> str:
    return "0x" + rng.randbytes(20).hex()


def random_typed_data(rng: random.Random, i: int) -> dict:
    kind = i % 4
    if kind == 0:
        td = mail_example()
        td["message"]["contents"] = f"msg {rng.randrange(10**9)} ünïcödé"
        td["domain"]["chainId"] = rng.choice([1, 17000, 31337])
        return td
    if kind == 1:  # EigenLayer-style operator registration digest
        domain = {"name": "EigenLayer", "version": "v1.0.0", "chainId": rng.choice([1, 17000]),
                  "verifyingContract": addr(rng)}
        return {
            "types": {
                "EIP712Domain": domain_types(domain),
                "OperatorAVSRegistration": [
                    {"name": "operator", "type": "address"},
                    {"name": "avs", "type": "address"},
                    {"name": "salt", "type": "bytes32"},
                    {"name": "expiry", "type": "uint256"},
                ],
            },
            "primaryType": "OperatorAVSRegistration",
            "domain": domain,
            "message": {"operator": addr(rng), "avs": addr(rng),
                        "salt": "0x" + rng.randbytes(32).hex(),
                        "expiry": str(rng.randrange(2**64))},
        }
    if kind == 2:  # domain with salt, nested arrays of structs, all atom kinds
        domain = {"name": "KMS", "version": "2", "chainId": str(rng.randrange(1, 2**32)),
                  "verifyingContract": addr(rng), "salt": "0x" + rng.randbytes(32).hex()}
        return {
            "types": {
                "EIP712Domain": domain_types(domain),
                "Key": [{"name": "id", "type": "bytes32"}, {"name": "owner", "type": "address"},
                        {"name": "weight", "type": "uint8"}],
                "Batch": [
                    {"name": "keys", "type": "Key[]"},
                    {"name": "nonces", "type": "uint256[]"},
                    {"name": "delta", "type": "int256"},
                    {"name": "active", "type": "bool"},
                    {"name": "blob", "type": "bytes"},
                    {"name": "note", "type": "string"},
                    {"name": "tag", "type": "bytes4"},
                ],
            },
            "primaryType": "Batch",
            "domain": domain,
            "message": {
                "keys": [{"id": "0x" + rng.randbytes(32).hex(), "owner": addr(rng),
                          "weight": rng.randrange(256)} for _ in range(rng.randrange(0, 4))],
                "nonces": [str(rng.randrange(2**256)) for _ in range(3)],
                "delta": -rng.randrange(1, 2**200),
                "active": bool(i % 3),
                "blob": "0x" + rng.randbytes(rng.randrange(0, 70)).hex(),
                "note": "",
                "tag": "0x" + rng.randbytes(4).hex(),
            },
        }
    # minimal domain (only chainId + verifyingContract)
    domain = {"chainId": 1, "verifyingContract": addr(rng)}
    return {
        "types": {"EIP712Domain": domain_types(domain),
                  "Ping": [{"name": "n", "type": "uint64"}]},
        "primaryType": "Ping",
        "domain": domain,
        "message": {"n": rng.randrange(2**64)},
    }


MAIL_SPEC_DIGEST = "0xbe609aee343fb3c4b28e1df9e632fca64fcfaede20f02e86244efddf30957bd2"


def build_eip712(rng: random.Random, n_good: int, tampered: bool) -> tuple[list, dict]:
    cases, expect = [], {}
    mail = mail_example()
    assert "0x" + eip712_digest(mail).hex() == MAIL_SPEC_DIGEST, "own EIP-712 encoder fails spec vector"
    cases.append({"id": "good_spec_ether_mail", "expect_valid": True, "typed_data": mail,
                  "digest": MAIL_SPEC_DIGEST})
    for i in range(1, n_good):
        td = random_typed_data(rng, i)
        cases.append({"id": f"good_{i}", "expect_valid": True, "typed_data": td,
                      "digest": "0x" + eip712_digest(td).hex()})
    if not tampered:
        return cases, expect

    good_digest = bytes.fromhex(MAIL_SPEC_DIGEST[2:])

    def t(cid: str, check: str, td: dict, digest: bytes) -> None:
        cases.append({"id": cid, "expect_valid": False, "typed_data": td, "digest": "0x" + digest.hex()})
        expect[cid] = check

    D = "digest == keccak(0x1901 || domainSeparator || hashStruct)"

    def mod(f) -> dict:
        td = mail_example()
        f(td)
        return td

    flipped = bytearray(good_digest)
    flipped[31] ^= 1
    t("t_digest_bit_flip", D, mail_example(), bytes(flipped))
    t("t_message_changed", D, mod(lambda td: td["message"].update(contents="Hello, Bob?")), good_digest)
    t("t_chain_id_changed", D, mod(lambda td: td["domain"].update(chainId=5)), good_digest)
    t("t_verifying_contract_changed", D,
      mod(lambda td: td["domain"].update(verifyingContract="0x" + "cc" * 19 + "cd")), good_digest)

    def rename(td: dict) -> None:
        td["types"]["Letter"] = td["types"].pop("Mail")
        td["primaryType"] = "Letter"

    t("t_type_renamed", D, mod(rename), good_digest)
    t("t_struct_fields_reordered", D,
      mod(lambda td: td["types"]["Person"].reverse()), good_digest)
    t("t_field_type_changed", D,
      mod(lambda td: td["types"]["Mail"][2].update(type="bytes")), good_digest)
    td = mail_example()
    ds = hash_struct("EIP712Domain", td["domain"], td["types"])
    hs = hash_struct("Mail", td["message"], td["types"])
    t("t_digest_without_1901_prefix", D, mail_example(), keccak(ds + hs))
    t("t_digest_is_hash_struct", D, mail_example(), hs)
    t("t_digest_is_domain_separator", D, mail_example(), ds)
    t("t_primary_type_wrong", D, mod(lambda td: td.update(primaryType="Person")), good_digest)
    # A non-canonical EIP712Domain field order: spec-literal digest differs from
    # eth-account's (which ignores types.EIP712Domain) -> must not be accepted.
    td = mail_example()
    td["types"]["EIP712Domain"] = [td["types"]["EIP712Domain"][i] for i in (1, 0, 2, 3)]
    t("t_domain_type_order_unverifiable", "types.EIP712Domain canonical", td, eip712_digest(td))
    return cases, expect


# --------------------------------------------------------------------------
# Running check.py
# --------------------------------------------------------------------------

LINE_RE = re.compile(r"^(ok  |FAIL) (\S+?)/(\S+?): (.*)$")


def run_check(path: str, *extra: str) -> tuple[int, list[str], float]:
    t0 = time.perf_counter()
    p = subprocess.run([sys.executable, CHECK, *extra, path], capture_output=True, text=True)
    dt = time.perf_counter() - t0
    if p.stderr.strip():
        sys.stderr.write(p.stderr)
    return p.returncode, p.stdout.splitlines(), dt


def write(doc: dict, path: str) -> None:
    with open(path, "w", encoding="utf-8") as f:
        json.dump(doc, f, indent=1, ensure_ascii=False)


BUILDERS = {
    "bn254": build_bn254,
    "bn254_aggregate": build_bn254_aggregate,
    "bls12381": build_bls12381,
    "eip712": build_eip712,
}


def main() -> int:
    ap = argparse.ArgumentParser(description="self-test for check.py")
    ap.add_argument("--seed", type=int, default=20240601)
    ap.add_argument("--keep", help="also write the generated CASES.json here")
    ap.add_argument("--bench", action="store_true", help="time check.py on 10 good cases of each kind")
    ap.add_argument("--cross-pairing", action="store_true",
                    help="also run the BN254 sections with check.py --pyecc-pairing and "
                         "require the same verdicts check by check (slow, ~1 min)")
    args = ap.parse_args()
    rng = random.Random(args.seed)
    tmp = tempfile.mkdtemp(prefix="kms-interop-")

    if args.bench:
        doc = {k: b(rng, 10, False)[0] for k, b in BUILDERS.items()}
        path = args.keep or os.path.join(tmp, "bench.json")
        write(doc, path)
        rc, out, dt = run_check(path)
        print("\n".join(out))
        n = sum(len(v) for v in doc.values())
        assert rc == 0 and out[-1] == f"{n} passed, 0 failed", "bench run did not pass"
        print(f"bench: {n} good cases (10 per kind) checked in {dt:.1f}s")
        return 0

    doc, expect = {}, {}
    n_good = {"bn254": 6, "bn254_aggregate": 5, "bls12381": 5, "eip712": 6}
    for kind, build in BUILDERS.items():
        cases, exp = build(rng, n_good[kind], True)
        doc[kind] = cases
        expect.update({(kind, cid): chk for cid, chk in exp.items()})
        ids = [c["id"] for c in cases]
        assert len(ids) == len(set(ids)), f"duplicate ids in {kind}"
    path = args.keep or os.path.join(tmp, "cases.json")
    write(doc, path)

    n_cases = sum(len(v) for v in doc.values())
    n_tampered = sum(1 for v in doc.values() for c in v if not c["expect_valid"])
    rc, out, dt = run_check(path, "-v")

    problems: list[str] = []
    rejected_by: dict[tuple[str, str], list[str]] = {}
    fail_lines = []
    for line in out:
        m = LINE_RE.match(line)
        if not m:
            continue
        tag, kind, cid, rest = m.groups()
        if tag == "FAIL":
            fail_lines.append(line)
        elif rest.startswith("rejected as expected: "):
            chk = rest[len("rejected as expected: "):].split(": ", 1)[0]
            rejected_by.setdefault((kind, cid), []).append(chk)
    if fail_lines:
        problems.append("check.py reported failures:\n  " + "\n  ".join(fail_lines))
    want_last = f"{n_cases} passed, 0 failed"
    if not out or out[-1] != want_last:
        problems.append(f"last line {out[-1] if out else None!r}, expected {want_last!r}")
    if rc != 0:
        problems.append(f"check.py exit status {rc}, expected 0")
    for key, chk in expect.items():
        got = rejected_by.get(key, [])
        if chk not in got:
            problems.append(f"{key[0]}/{key[1]}: expected rejection by {chk!r}, got {got}")

    # Meta-tests: counting and exit status with mislabelled cases
    good_bn = next(c for c in doc["bn254"] if c["expect_valid"])
    bad_eip = next(c for c in doc["eip712"] if not c["expect_valid"])
    good_eip = next(c for c in doc["eip712"] if c["expect_valid"])
    meta = {
        "bn254": [dict(good_bn, id="meta_good_labelled_tampered", expect_valid=False)],
        "eip712": [dict(bad_eip, id="meta_tampered_labelled_valid", expect_valid=True), good_eip],
    }
    mpath = os.path.join(tmp, "meta.json")
    write(meta, mpath)
    mrc, mout, _ = run_check(mpath)
    if mrc != 1 or not mout or mout[-1] != "1 passed, 2 failed":
        problems.append(f"meta: expected exit 1 and '1 passed, 2 failed', got {mrc} {mout[-1:]}")
    if not any("meta_good_labelled_tampered" in l and "ACCEPTED" in l for l in mout):
        problems.append("meta: accepted 'tampered' case not reported")
    if not any("meta_tampered_labelled_valid" in l and "digest" in l for l in mout):
        problems.append("meta: digest mismatch of 'valid' case not reported")
    with open(os.path.join(tmp, "broken.json"), "w") as f:
        f.write("{not json")
    brc, bout, _ = run_check(os.path.join(tmp, "broken.json"))
    if brc == 0 or not bout or not re.match(r"^\d+ passed, [1-9]\d* failed$", bout[-1]):
        problems.append(f"meta: unreadable file gave exit {brc}, last line {bout[-1:]}")

    if args.cross_pairing:
        sub = {k: doc[k] for k in ("bn254", "bn254_aggregate")}
        spath = os.path.join(tmp, "bn_only.json")
        write(sub, spath)
        _, fast_out, fdt = run_check(spath, "-v")
        src, slow_out, sdt = run_check(spath, "-v", "--pyecc-pairing")
        strip = lambda lines: [re.sub(r" \([0-9.]+s\)$", "", l) for l in lines if not l.startswith("#")]
        if src != 0 or strip(fast_out) != strip(slow_out):
            problems.append("--pyecc-pairing verdicts differ from the default BN254 pairing path")
        print(f"selftest: BN254 sections: default pairing {fdt:.1f}s, py-ecc pairing {sdt:.1f}s, "
              f"{'same' if strip(fast_out) == strip(slow_out) else 'DIFFERENT'} verdicts")

    per_kind = ", ".join(
        f"{k}: {sum(c['expect_valid'] for c in v)} good + {sum(not c['expect_valid'] for c in v)} tampered"
        for k, v in doc.items()
    )
    print(f"selftest: {per_kind}")
    print(f"selftest: check.py took {dt:.1f}s for {n_cases} cases; last line: {out[-1] if out else ''}")
    if problems:
        print("SELFTEST FAILED:")
        for p in problems:
            print(" - " + p)
        return 1
    print(f"selftest: OK ({n_tampered} tampered cases each rejected by its targeted check; "
          "meta-tests on counting/exit status passed)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
