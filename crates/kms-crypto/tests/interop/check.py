#!/usr/bin/env python3
"""Independent checker for cryptographic outputs of the Rust kms-crypto crate.

Usage: python3 check.py [-v] CASES.json

Every case is checked on its own with py-ecc / eth-account.  A case whose
"expect_valid" is true passes when every check succeeds; a case whose
"expect_valid" is false is a deliberately tampered case and passes only when
at least one mathematical check rejects it.  The flag is never used to decide
whether a check succeeds; it only decides which outcome counts as a pass.

Output: one "FAIL" line per failed check of a case that did not meet its
expectation (with -v also the rejections of tampered cases, prefixed "ok"),
then a last line "N passed, M failed".  Exit status 0 iff M == 0.
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import json
import re
import sys
import time
from importlib.metadata import PackageNotFoundError, version
from typing import Any, Callable, Optional

from eth_account.messages import encode_typed_data
from eth_utils import keccak
from py_ecc import optimized_bls12_381 as bls
from py_ecc import optimized_bn128 as bn
from py_ecc.bls.hash_to_curve import hash_to_G1 as bls_hash_to_G1
from py_ecc.optimized_bn128.optimized_pairing import cast_point_to_fq12
from py_ecc.optimized_bn128.optimized_pairing import linefunc as bn_linefunc
from py_ecc.optimized_bn128.optimized_pairing import pseudo_binary_encoding
from py_ecc.bls.point_compression import (
    compress_G1,
    compress_G2,
    decompress_G1,
    decompress_G2,
)

# --------------------------------------------------------------------------
# Constants (cross-checked against py-ecc in environment_self_check()).
# --------------------------------------------------------------------------

# From Layr-Labs/eigenlayer-middleware src/libraries/BN254.sol
BN254_FP_MODULUS = (
    21888242871839275222246405745257275088696311157297823662689037894645226208583
)
BN254_FR_MODULUS = (
    21888242871839275222246405745257275088548364400416034343698204186575808495617
)
# exponent hard-coded in BN254.sol findYFromX: (p + 1) / 4
BN254_SQRT_EXP = 0xC19139CB84C680A6E14116DA060561765E05AA45A1C72A34F082305B61F3F52
# BN254.sol generatorG2() in Solidity / EIP-197 limb order ([c1, c0]).
BN254_SOL_G2 = (
    (
        11559732032986387107991004021392285783925812861821192530917403151452391805634,
        10857046999023057135944570762232829481370756359578518086990519993285655852781,
    ),
    (
        4082367875863433681332203403145435568316851327593401208105741076214120093531,
        8495653923123431417604973247489272438418190587263600148770280649306958101930,
    ),
)

BLS_Q = bls.field_modulus
BLS_R = bls.curve_order

# RFC 9380 Appendix J.9.1, suite BLS12381G1_XMD:SHA-256_SSWU_RO_
RFC9380_DST = b"QUUX-V01-CS02-with-BLS12381G1_XMD:SHA-256_SSWU_RO_"
RFC9380_G1_VECTORS = [
    (
        b"",
        0x052926ADD2207B76CA4FA57A8734416C8DC95E24501772C814278700EED6D1E4E8CF62D9C09DB0FAC349612B759E79A1,
        0x08BA738453BFED09CB546DBB0783DBB3A5F1F566ED67BB6BE0E8C67E2E81A4CC68EE29813BB7994998F3EAE0C9C6A265,
    ),
    (
        b"abc",
        0x03567BC5EF9C690C2AB2ECDF6A96EF1C139CC0B2F284DCA0A9A7943388A49A3AEE664BA5379A7655D3C68900BE2F6903,
        0x0B9C15F3FE6E5CF4211F346271D7B01C8F3B28BE689C8429C85B67AF215533311F0B8DFAAA154FA6B88176C229F2885D,
    ),
]

# EIP-712 domain fields in the order eth-account hashes them (it derives the
# EIP712Domain type from the keys of "domain", ignoring types.EIP712Domain).
EIP712_DOMAIN_CANONICAL = [
    ("name", "string"),
    ("version", "string"),
    ("chainId", "uint256"),
    ("verifyingContract", "address"),
    ("salt", "bytes32"),
]

SECTIONS = ("bn254", "bn254_aggregate", "bn254_schnorr", "bls12381", "eip712")


class CheckError(Exception):
    """A check found a wrong, malformed or unverifiable value."""


# --------------------------------------------------------------------------
# Per-case bookkeeping
# --------------------------------------------------------------------------


class Case:
    def __init__(self, kind: str, index: int, raw: Any) -> None:
        self.kind = kind
        self.raw = raw if isinstance(raw, dict) else {}
        cid = self.raw.get("id")
        self.id = cid if isinstance(cid, str) and cid else f"#{index}"
        self.failures: list[tuple[str, str]] = []
        self.schema_errors: list[str] = []
        if not isinstance(raw, dict):
            self.schema_errors.append("case is not a JSON object")
        ev = self.raw.get("expect_valid")
        if not isinstance(ev, bool):
            self.schema_errors.append('"expect_valid" missing or not a boolean')
            ev = True
        self.expect_valid = ev

    @property
    def label(self) -> str:
        return f"{self.kind}/{self.id}"

    def fail(self, check: str, reason: str) -> None:
        self.failures.append((check, reason))

    def run(self, check: str, fn: Callable[[], Any], *deps: Any) -> Any:
        """Run one check.  Returns its value, or None if it failed / was skipped.

        A check whose inputs could not be parsed is recorded as failed with
        reason "skipped"; the root cause is reported by the parse check.
        """
        if any(d is None for d in deps):
            self.fail(check, "skipped: an input it needs was rejected above")
            return None
        try:
            out = fn()
        except CheckError as e:
            self.fail(check, str(e))
            return None
        except Exception as e:  # malformed input reaching library code
            self.fail(check, f"{type(e).__name__}: {e}")
            return None
        return True if out is None else out

    def field(self, name: str) -> Any:
        if name not in self.raw:
            raise CheckError(f'missing field "{name}"')
        return self.raw[name]

    @property
    def passed(self) -> bool:
        if self.schema_errors:
            return False
        return (not self.failures) == self.expect_valid


# --------------------------------------------------------------------------
# Generic parsing helpers
# --------------------------------------------------------------------------

_DEC_RE = re.compile(r"^(0|[1-9][0-9]*)$")
_HEX_RE = re.compile(r"^0x([0-9a-fA-F]{2})*$")


def parse_dec(v: Any, what: str, bound: Optional[int] = None) -> int:
    """Decimal string (or JSON integer) -> int, optionally required < bound."""
    if isinstance(v, bool):
        raise CheckError(f"{what}: expected a decimal string, got a boolean")
    if isinstance(v, int):
        n = v
    elif isinstance(v, str) and _DEC_RE.match(v):
        n = int(v)
    else:
        raise CheckError(f"{what}: not a canonical decimal string: {v!r}")
    if n < 0:
        raise CheckError(f"{what}: negative")
    if bound is not None and n >= bound:
        raise CheckError(f"{what}: {n} is not below the modulus {bound}")
    return n


def parse_hex(v: Any, what: str, length: Optional[int] = None) -> bytes:
    if not isinstance(v, str) or not _HEX_RE.match(v):
        raise CheckError(f"{what}: not a 0x-prefixed even-length hex string: {v!r}")
    b = bytes.fromhex(v[2:])
    if length is not None and len(b) != length:
        raise CheckError(f"{what}: expected {length} bytes, got {len(b)}")
    return b


def pt_eq(mod: Any, a: Any, b: Any) -> bool:
    """Equality of two projective points of the given py-ecc module."""
    ia, ib = mod.is_inf(a), mod.is_inf(b)
    if ia or ib:
        return ia and ib
    return mod.normalize(a) == mod.normalize(b)


def fmt_bn_g1(pt: Any) -> str:
    if bn.is_inf(pt):
        return "infinity"
    x, y = bn.normalize(pt)
    return f"(x={x.n}, y={y.n})"


def fmt_bn_g2(pt: Any) -> str:
    """G2 point printed in the Solidity / EIP-197 order used by the schema."""
    if bn.is_inf(pt):
        return "infinity"
    x, y = bn.normalize(pt)
    return f"(x=[{x.coeffs[1]}, {x.coeffs[0]}], y=[{y.coeffs[1]}, {y.coeffs[0]}])"


# --------------------------------------------------------------------------
# BN254 (alt_bn128) helpers
# --------------------------------------------------------------------------


def bn254_parse_g1(v: Any, what: str) -> Any:
    if not isinstance(v, dict) or set(v) != {"x", "y"}:
        raise CheckError(f'{what}: expected an object with exactly "x" and "y"')
    x = parse_dec(v["x"], f"{what}.x", BN254_FP_MODULUS)
    y = parse_dec(v["y"], f"{what}.y", BN254_FP_MODULUS)
    if x == 0 and y == 0:
        raise CheckError(f"{what}: is the point at infinity (0, 0)")
    pt = (bn.FQ(x), bn.FQ(y), bn.FQ(1))
    if not bn.is_on_curve(pt, bn.b):
        raise CheckError(f"{what}: ({x}, {y}) is not on the curve y^2 = x^3 + 3")
    # G1 of BN254 has cofactor 1: on the curve means in the subgroup.
    return pt


def bn254_g2_limbs(v: Any, what: str) -> tuple[int, int, int, int]:
    """Returns the raw limbs (x_c1, x_c0, y_c1, y_c0) in the schema's order."""
    if not isinstance(v, dict) or set(v) != {"x", "y"}:
        raise CheckError(f'{what}: expected an object with exactly "x" and "y"')
    out = []
    for coord in ("x", "y"):
        pair = v[coord]
        if not isinstance(pair, list) or len(pair) != 2:
            raise CheckError(f"{what}.{coord}: expected [c1, c0]")
        for k, limb in enumerate(pair):
            out.append(parse_dec(limb, f"{what}.{coord}[{k}]", BN254_FP_MODULUS))
    return out[0], out[1], out[2], out[3]


def bn254_parse_g2(v: Any, what: str) -> Any:
    """Parses a G2 point in Solidity order ([c1, c0]) and checks it is on the
    twist.  The subgroup check is separate (bn254_g2_subgroup)."""
    x1, x0, y1, y0 = bn254_g2_limbs(v, what)
    if x1 == x0 == y1 == y0 == 0:
        raise CheckError(f"{what}: is the point at infinity (all limbs 0)")
    # py-ecc FQ2 coefficients are [c0, c1] (real part first).
    pt = (bn.FQ2([x0, x1]), bn.FQ2([y0, y1]), bn.FQ2.one())
    if not bn.is_on_curve(pt, bn.b2):
        raise CheckError(
            f"{what}: not on the twist curve (limbs read as [c1, c0], "
            "Solidity/EIP-197 order)"
        )
    return pt


def bn254_g2_subgroup(pt: Any, what: str) -> None:
    if not bn.is_inf(bn.multiply(pt, BN254_FR_MODULUS)):
        raise CheckError(f"{what}: on the twist but not in the r-order subgroup G2")


def bn254_hash_to_g1(digest: bytes) -> tuple[int, int]:
    """BN254.sol hashToG1 (try-and-increment), written from its description."""
    p = BN254_FP_MODULUS
    x = int.from_bytes(digest, "big") % p
    while True:
        beta = (x * x % p * x + 3) % p
        y = pow(beta, BN254_SQRT_EXP, p)
        if y * y % p == beta:
            return x, y
        x = (x + 1) % p


def bn254_g1_from_xy(xy: tuple[int, int]) -> Any:
    return (bn.FQ(xy[0]), bn.FQ(xy[1]), bn.FQ(1))


# ---- BN254 pairing ----------------------------------------------------------
# py-ecc's bn128 pairing works on points twisted into F_p12 and takes ~0.4 s;
# the checks below need a few per case.  So the default path is a product-of-
# pairings ("multi") Miller loop written here with the same loop encoding and
# final steps as py-ecc's optimized_bn128 (its linefunc/twist are reused for
# the two Frobenius steps), and a final exponentiation split as
#   (p^12 - 1)/r = (p^6 - 1)(p^2 + 1) * (p^4 - p^2 + 1)/r.
# It is cross-checked against py-ecc's own pairing on every run
# (environment_self_check), and `--pyecc-pairing` uses py-ecc's pairing only.
#
# F_p12 elements are lists of 12 ints over py-ecc's basis w^i with
# w^12 = 18 w^6 - 82; F_p2 = F_p[i] embeds as a0 + a1 i -> (a0 - 9 a1) + a1 w^6
# (py-ecc's twist), and a twist point (X, Y) maps to (X w^2, Y w^3).

USE_PYECC_PAIRING = False

_P = BN254_FP_MODULUS
_BN_W = bn.FQ12([0, 1] + [0] * 10)
_BN_FROB_TABLE = [bn.FQ12.one()]
for _ in range(11):
    _BN_FROB_TABLE.append(_BN_FROB_TABLE[-1] * (_BN_W ** _P))
_BN_HARD_EXP, _rem = divmod(_P ** 4 - _P ** 2 + 1, BN254_FR_MODULUS)
assert _rem == 0


def _bn_frobenius(x: Any) -> Any:
    """x -> x^p: F_p-linear on the coefficients, so a fixed table product."""
    acc = bn.FQ12.zero()
    for c, t in zip(x.coeffs, _BN_FROB_TABLE):
        if c:
            acc = acc + t * int(c)
    return acc


def bn254_final_exponentiate(f: Any) -> Any:
    f6 = f
    for _ in range(6):
        f6 = _bn_frobenius(f6)
    f1 = f6 / f  # f^(p^6 - 1)
    f2 = _bn_frobenius(_bn_frobenius(f1)) * f1  # f1^(p^2 + 1)
    return f2 ** _BN_HARD_EXP


def _fq12_mul(a: list, b: list) -> list:
    prod = [0] * 23
    for i, ai in enumerate(a):
        if ai:
            for j, bj in enumerate(b):
                if bj:
                    prod[i + j] += ai * bj
    for k in range(22, 11, -1):  # w^k = w^(k-12) * (18 w^6 - 82)
        top = prod[k]
        if top:
            prod[k - 6] += 18 * top
            prod[k - 12] -= 82 * top
    return [x % _P for x in prod[:12]]


def _f2mul(a: tuple, b: tuple) -> tuple:
    return ((a[0] * b[0] - a[1] * b[1]) % _P, (a[0] * b[1] + a[1] * b[0]) % _P)


def _f2sub(a: tuple, b: tuple) -> tuple:
    return ((a[0] - b[0]) % _P, (a[1] - b[1]) % _P)


def _f2inv(a: tuple) -> tuple:
    d = pow((a[0] * a[0] + a[1] * a[1]) % _P, -1, _P)  # raises on 0
    return (a[0] * d % _P, -a[1] * d % _P)


def _bn_line(lam: tuple, xr: tuple, yr: tuple, xp: int, yp: int) -> list:
    """Line through the twisted point R with twist slope lam, evaluated at
    P = (xp, yp):  yp - (lam xp) w + (lam xr - yr) w^3  (vertical-line
    denominators lie in F_p6 and vanish in the final exponentiation)."""
    a0, a1 = (-lam[0] * xp) % _P, (-lam[1] * xp) % _P
    m0, m1 = _f2sub(_f2mul(lam, xr), yr)
    return [yp, (a0 - 9 * a1) % _P, 0, (m0 - 9 * m1) % _P, 0, 0, 0, a1, 0, m1, 0, 0]


def bn254_multi_miller(pairs: list) -> Any:
    """prod_k f_{6u+2,Q_k}(P_k) * Frobenius lines, for pairs (P_k in G1, Q_k in G2)."""
    work = []
    for p1, q2 in pairs:
        if not bn.is_on_curve(p1, bn.b) or not bn.is_on_curve(q2, bn.b2):
            raise CheckError("pairing input not on the curve")
        if bn.is_inf(p1) or bn.is_inf(q2):
            continue  # e(O, Q) = e(P, O) = 1
        xp, yp = (c.n for c in bn.normalize(p1))
        xq, yq = (tuple(c.coeffs) for c in bn.normalize(q2))
        work.append([xp, yp, xq, yq, xq, yq])  # last two: running point R
    f = [1] + [0] * 11
    for v in pseudo_binary_encoding[63::-1]:
        f = _fq12_mul(f, f)
        for w in work:
            xp, yp, xq, yq, xr, yr = w
            xx = _f2mul(xr, xr)
            lam = _f2mul((3 * xx[0], 3 * xx[1]), _f2inv((2 * yr[0], 2 * yr[1])))
            f = _fq12_mul(f, _bn_line(lam, xr, yr, xp, yp))
            x3 = _f2sub(_f2sub(_f2mul(lam, lam), xr), xr)
            xr, yr = x3, _f2sub(_f2mul(lam, _f2sub(xr, x3)), yr)
            if v:
                yq2 = yq if v == 1 else ((-yq[0]) % _P, (-yq[1]) % _P)
                lam = _f2mul(_f2sub(yq2, yr), _f2inv(_f2sub(xq, xr)))
                f = _fq12_mul(f, _bn_line(lam, xr, yr, xp, yp))
                x3 = _f2sub(_f2sub(_f2mul(lam, lam), xr), xq)
                xr, yr = x3, _f2sub(_f2mul(lam, _f2sub(xr, x3)), yr)
            w[4], w[5] = xr, yr
    out = bn.FQ12(f)
    for xp, yp, xq, yq, xr, yr in work:
        pt = cast_point_to_fq12((bn.FQ(xp), bn.FQ(yp), bn.FQ(1)))
        qt = bn.twist((bn.FQ2(list(xq)), bn.FQ2(list(yq)), bn.FQ2.one()))
        rt = bn.twist((bn.FQ2(list(xr)), bn.FQ2(list(yr)), bn.FQ2.one()))
        q1 = (_bn_frobenius(qt[0]), _bn_frobenius(qt[1]), _bn_frobenius(qt[2]))
        nq2 = (_bn_frobenius(q1[0]), -_bn_frobenius(q1[1]), _bn_frobenius(q1[2]))
        n1, d1 = bn_linefunc(rt, q1, pt)
        rt = bn.add(rt, q1)
        n2, d2 = bn_linefunc(rt, nq2, pt)
        out = out * n1 * n2 / (d1 * d2)
    return out


def bn254_pairing_eq(p1: Any, q1: Any, p2: Any, q2: Any) -> bool:
    """e(p1, q1) == e(p2, q2) for p in G1, q in G2, with one final exponentiation."""
    if USE_PYECC_PAIRING:
        f = bn.pairing(q1, p1, final_exponentiate=False) * bn.pairing(
            q2, bn.neg(p2), final_exponentiate=False
        )
        return bn.final_exponentiate(f) == bn.FQ12.one()
    f = bn254_multi_miller([(p1, q1), (bn.neg(p2), q2)])
    return bn254_final_exponentiate(f) == bn.FQ12.one()


def u256(n: int) -> bytes:
    return n.to_bytes(32, "big")


# --------------------------------------------------------------------------
# BN254 section
# --------------------------------------------------------------------------


def check_bn254(c: Case) -> None:
    sk = c.run(
        "secret_key",
        lambda: _nonzero(parse_dec(c.field("secret_key"), "secret_key", BN254_FR_MODULUS), "secret_key"),
    )
    g1 = c.run("g1.parse", lambda: bn254_parse_g1(c.field("g1"), "g1"))
    g2_limbs = c.run("g2.parse", lambda: bn254_g2_limbs(c.field("g2"), "g2"))
    g2 = c.run("g2.on_curve", lambda: bn254_parse_g2(c.field("g2"), "g2"), g2_limbs)
    c.run("g2.subgroup", lambda: bn254_g2_subgroup(g2, "g2"), g2)
    mh = c.run("message_hash.parse", lambda: parse_hex(c.field("message_hash"), "message_hash", 32))
    mp = c.run("message_point.parse", lambda: bn254_parse_g1(c.field("message_point"), "message_point"))
    sig = c.run("signature.parse", lambda: bn254_parse_g1(c.field("signature"), "signature"))

    h_xy = bn254_hash_to_g1(mh) if mh is not None else None
    h = bn254_g1_from_xy(h_xy) if h_xy is not None else None

    def g1_ok() -> None:
        want = bn.multiply(bn.G1, sk)
        if not pt_eq(bn, g1, want):
            raise CheckError(f"g1 != sk*G1: expected {fmt_bn_g1(want)}")

    def g2_ok() -> None:
        want = bn.multiply(bn.G2, sk)
        if not pt_eq(bn, g2, want):
            raise CheckError(f"g2 != sk*G2: expected {fmt_bn_g2(want)} (Solidity order)")

    def h2c_ok() -> None:
        if bn.normalize(mp) != (bn.FQ(h_xy[0]), bn.FQ(h_xy[1])):
            raise CheckError(
                f"message_point != BN254.sol hashToG1(message_hash): expected "
                f"(x={h_xy[0]}, y={h_xy[1]})"
            )

    def sig_ok() -> None:
        want = bn.multiply(mp, sk)
        if not pt_eq(bn, sig, want):
            raise CheckError(f"signature != sk*message_point: expected {fmt_bn_g1(want)}")

    def pairing_ok() -> None:
        if not bn254_pairing_eq(sig, bn.G2, h, g2):
            raise CheckError("e(signature, G2gen) != e(hashToG1(message_hash), g2)")

    def checker_ok() -> None:
        # BLSSignatureChecker.trySignatureAndApkVerification with apk = g1,
        # apkG2 = g2, sigma = signature; abi.encodePacked of uint256 words,
        # G2 limbs in Solidity order X[0]=c1, X[1]=c0.
        ax, ay = (e.n for e in bn.normalize(g1))
        sx, sy = (e.n for e in bn.normalize(sig))
        gamma = int.from_bytes(
            keccak(
                mh
                + u256(ax) + u256(ay)
                + b"".join(u256(n) for n in g2_limbs)
                + u256(sx) + u256(sy)
            ),
            "big",
        ) % BN254_FR_MODULUS
        lhs = bn.add(sig, bn.multiply(g1, gamma))
        rhs = bn.add(h, bn.multiply(bn.G1, gamma))
        # e(lhs, -G2) * e(rhs, apkG2) == 1  <=>  e(lhs, G2) == e(rhs, apkG2)
        if not bn254_pairing_eq(lhs, bn.G2, rhs, g2):
            raise CheckError(
                "BLSSignatureChecker equation e(sigma + gamma*apk, -G2) * "
                "e(H(m) + gamma*G1, apkG2) == 1 does not hold"
            )

    c.run("g1 == sk*G1", g1_ok, sk, g1)
    c.run("g2 == sk*G2", g2_ok, sk, g2)
    c.run("message_point == hashToG1", h2c_ok, mp, h_xy)
    c.run("signature == sk*message_point", sig_ok, sk, sig, mp)
    c.run("pairing e(sig,G2)==e(H(m),g2)", pairing_ok, sig, h, g2)
    c.run("BLSSignatureChecker gamma check", checker_ok, mh, g1, g2, g2_limbs, sig, h)


def _nonzero(n: int, what: str) -> int:
    if n == 0:
        raise CheckError(f"{what}: is zero")
    return n


SCHNORR_TAG = b"KMS_BN254_SCHNORR_V1"
SCHNORR_NONCE_TAG = b"KMS_BN254_SCHNORR_NONCE_V1"


def check_bn254_schnorr(c: Case) -> None:
    """docs/0006: s*G1 == R + e*P with e = keccak(tag, R, P, m) mod r, s < r; and the
    deterministic nonce R == k*G1 when the secret key is given."""
    mh = c.run("message_hash.parse", lambda: parse_hex(c.field("message_hash"), "message_hash", 32))
    pk = c.run("g1.parse", lambda: bn254_parse_g1(c.field("g1"), "g1"))
    r_pt = c.run("R.parse", lambda: bn254_parse_g1(c.field("R"), "R"))
    s = c.run("s.parse", lambda: parse_dec(c.field("s"), "s", BN254_FR_MODULUS))

    def equation_ok() -> None:
        rx, ry = (e.n for e in bn.normalize(r_pt))
        px, py = (e.n for e in bn.normalize(pk))
        e = int.from_bytes(
            keccak(SCHNORR_TAG + u256(rx) + u256(ry) + u256(px) + u256(py) + mh), "big"
        ) % BN254_FR_MODULUS
        lhs = bn.multiply(bn.G1, s)
        rhs = bn.add(r_pt, bn.multiply(pk, e))
        if not pt_eq(bn, lhs, rhs):
            raise CheckError("s*G1 != R + e*P")

    def nonce_ok() -> None:
        sk = parse_dec(c.field("secret_key"), "secret_key", BN254_FR_MODULUS)
        wide = b"".join(
            keccak(SCHNORR_NONCE_TAG + bytes([0, half]) + u256(sk) + mh) for half in (0, 1)
        )
        k = int.from_bytes(wide, "big") % BN254_FR_MODULUS
        if not pt_eq(bn, r_pt, bn.multiply(bn.G1, k)):
            raise CheckError("R is not the documented deterministic nonce times G1")

    c.run("s*G1 == R + e*P", equation_ok, mh, pk, r_pt, s)
    if "secret_key" in c.raw:
        c.run("R == k*G1 (deterministic nonce)", nonce_ok, mh, r_pt)


def check_bn254_aggregate(c: Case) -> None:
    mh = c.run("message_hash.parse", lambda: parse_hex(c.field("message_hash"), "message_hash", 32))
    h = bn254_g1_from_xy(bn254_hash_to_g1(mh)) if mh is not None else None

    def keys_list() -> list:
        ks = c.field("g2_keys")
        if not isinstance(ks, list) or not ks:
            raise CheckError("g2_keys: expected a non-empty list")
        return ks

    ks = c.run("g2_keys.parse", keys_list)
    keys: list = []
    if ks is not None:
        for i, kv in enumerate(ks):
            k = c.run(f"g2_keys[{i}].on_curve", lambda kv=kv, i=i: bn254_parse_g2(kv, f"g2_keys[{i}]"))
            c.run(f"g2_keys[{i}].subgroup", lambda k=k, i=i: bn254_g2_subgroup(k, f"g2_keys[{i}]"), k)
            keys.append(k)
    sig = c.run("signature.parse", lambda: bn254_parse_g1(c.field("signature"), "signature"))

    def apk_sum() -> Any:
        acc = bn.Z2
        for k in keys:
            acc = bn.add(acc, k)
        if bn.is_inf(acc):
            raise CheckError("sum of g2_keys is the point at infinity")
        return acc

    apk = None
    if ks is not None and keys and all(k is not None for k in keys):
        apk = c.run("apk = sum(g2_keys)", apk_sum)
    else:
        c.fail("apk = sum(g2_keys)", "skipped: an input it needs was rejected above")

    def pairing_ok() -> None:
        if not bn254_pairing_eq(sig, bn.G2, h, apk):
            raise CheckError("e(signature, G2gen) != e(hashToG1(message_hash), sum(g2_keys))")

    c.run("pairing e(sig,G2)==e(H(m),apk)", pairing_ok, sig, h, apk)


# --------------------------------------------------------------------------
# BLS12-381 section
# --------------------------------------------------------------------------


def bls_parse_g1(v: Any, what: str, allow_inf: bool = False) -> Any:
    z = int.from_bytes(parse_hex(v, what, 48), "big")
    try:
        pt = decompress_G1(z)
    except ValueError as e:
        raise CheckError(f"{what}: invalid compressed G1 point: {e}") from None
    if compress_G1(pt) != z:
        raise CheckError(f"{what}: non-canonical compressed encoding")
    if bls.is_inf(pt) and not allow_inf:
        raise CheckError(f"{what}: is the point at infinity")
    return pt


def bls_parse_g2(v: Any, what: str, allow_inf: bool = False) -> Any:
    raw = parse_hex(v, what, 96)
    z = (int.from_bytes(raw[:48], "big"), int.from_bytes(raw[48:], "big"))
    try:
        pt = decompress_G2(z)
    except ValueError as e:
        raise CheckError(f"{what}: invalid compressed G2 point: {e}") from None
    if tuple(compress_G2(pt)) != z:
        raise CheckError(f"{what}: non-canonical compressed encoding")
    if bls.is_inf(pt) and not allow_inf:
        raise CheckError(f"{what}: is the point at infinity")
    return pt


def bls_subgroup(pt: Any, what: str) -> None:
    if not bls.is_inf(bls.multiply(pt, BLS_R)):
        raise CheckError(f"{what}: on the curve but not in the r-order subgroup")


def bls_hex_g1(pt: Any) -> str:
    return "0x" + compress_G1(pt).to_bytes(48, "big").hex()


def bls_pairing_eq(p1: Any, q1: Any, p2: Any, q2: Any) -> bool:
    """e(p1, q1) == e(p2, q2) for p in G1, q in G2, with one final exponentiation."""
    f = bls.pairing(q1, p1, final_exponentiate=False) * bls.pairing(
        q2, bls.neg(p2), final_exponentiate=False
    )
    return bls.final_exponentiate(f) == bls.FQ12.one()


def lagrange_at_zero(xs: list[int], r: int) -> list[int]:
    """Lagrange coefficients l_i(0) = prod_{j != i} x_j / (x_j - x_i) mod r."""
    coeffs = []
    for i, xi in enumerate(xs):
        num, den = 1, 1
        for j, xj in enumerate(xs):
            if j != i:
                num = num * xj % r
                den = den * (xj - xi) % r
        coeffs.append(num * pow(den, -1, r) % r)
    return coeffs


def check_bls12381(c: Case) -> None:
    def dst_parse() -> bytes:
        d = c.field("dst")
        if not isinstance(d, str):
            raise CheckError("dst: expected a string")
        b = d.encode("utf-8")
        if not b:
            raise CheckError("dst: empty (RFC 9380 requires a non-empty DST)")
        if len(b) > 255:
            raise CheckError("dst: longer than 255 bytes (oversize-DST rule not supported by py-ecc)")
        return b

    dst = c.run("dst.parse", dst_parse)
    app_id = c.run("app_id.parse", lambda: parse_hex(c.field("app_id"), "app_id"))
    h_app = c.run("h_app.parse", lambda: bls_parse_g1(c.field("h_app"), "h_app"))
    c.run("h_app.subgroup", lambda: bls_subgroup(h_app, "h_app"), h_app)

    def h2c_ok() -> None:
        want = bls_hash_to_G1(app_id, dst, hashlib.sha256)
        if not pt_eq(bls, h_app, want):
            raise CheckError(
                f"h_app != hash_to_G1(app_id, dst) (RFC 9380 "
                f"BLS12381G1_XMD:SHA-256_SSWU_RO_): expected {bls_hex_g1(want)}"
            )

    c.run("h_app == hash_to_G1(app_id, dst)", h2c_ok, dst, app_id, h_app)

    def t_parse() -> int:
        t = parse_dec(c.field("threshold"), "threshold")
        if t < 1:
            raise CheckError("threshold: must be >= 1")
        return t

    t = c.run("threshold.parse", t_parse)

    def commitments_list() -> list:
        cs = c.field("commitments")
        if not isinstance(cs, list) or not cs:
            raise CheckError("commitments: expected a non-empty list")
        if t is not None and len(cs) != t:
            raise CheckError(f"commitments: expected exactly threshold={t} entries, got {len(cs)}")
        return cs

    cs = c.run("commitments.parse", commitments_list)
    comms: list = []
    if cs is not None:
        for j, cv in enumerate(cs):
            # a_j for j >= 1 may in principle be 0, so only the MPK must be finite
            cj = c.run(
                f"commitments[{j}].parse",
                lambda cv=cv, j=j: bls_parse_g2(cv, f"commitments[{j}]", allow_inf=j > 0),
            )
            c.run(f"commitments[{j}].subgroup", lambda cj=cj, j=j: bls_subgroup(cj, f"commitments[{j}]"), cj)
            comms.append(cj)
    all_comms = comms if (cs is not None and all(x is not None for x in comms)) else None

    def partials_list() -> list:
        ps = c.field("partials")
        if not isinstance(ps, list):
            raise CheckError("partials: expected a list")
        if t is not None and len(ps) < t:
            raise CheckError(f"partials: {len(ps)} given, fewer than threshold={t}")
        for i, pv in enumerate(ps):
            if not isinstance(pv, dict):
                raise CheckError(f"partials[{i}]: expected an object")
        return ps

    ps = c.run("partials.parse", partials_list)
    parts: list[tuple[Any, Any, Any]] = []  # (eval_point, share, signature) or None entries
    if ps is not None:
        for i, pv in enumerate(ps):
            w = f"partials[{i}]"

            def ep_parse(pv=pv, w=w) -> int:
                x = parse_dec(pv.get("eval_point"), f"{w}.eval_point", BLS_R)
                if x == 0:
                    raise CheckError(f"{w}.eval_point: is 0 (the share would be the master secret)")
                return x

            ep = c.run(f"{w}.eval_point", ep_parse)
            sh = c.run(f"{w}.share", lambda pv=pv, w=w: parse_dec(pv.get("share"), f"{w}.share", BLS_R))
            sg = c.run(f"{w}.signature.parse", lambda pv=pv, w=w: bls_parse_g1(pv.get("signature"), f"{w}.signature"))
            c.run(f"{w}.signature.subgroup", lambda sg=sg, w=w: bls_subgroup(sg, f"{w}.signature"), sg)
            parts.append((ep, sh, sg))

        def distinct() -> None:
            eps = [p[0] for p in parts]
            if len(set(eps)) != len(eps):
                raise CheckError("partials: eval_point values are not distinct")

        c.run("partials.eval_points_distinct", distinct, *[p[0] for p in parts])

    # Feldman verification: share_i * G2 == sum_j C_j * x_i^j   (Horner)
    for i, (ep, sh, sg) in enumerate(parts):
        w = f"partials[{i}]"

        def feldman(ep=ep, sh=sh, w=w) -> None:
            acc = all_comms[-1]
            for cj in reversed(all_comms[:-1]):
                acc = bls.add(bls.multiply(acc, ep), cj)
            if not pt_eq(bls, bls.multiply(bls.G2, sh), acc):
                raise CheckError(f"{w}: share*G2 != sum_j commitments[j] * eval_point^j")

        def partial_sig(sh=sh, sg=sg, w=w) -> None:
            # equivalent to e(signature, G2) == e(h_app, share*G2), but cheaper
            want = bls.multiply(h_app, sh)
            if not pt_eq(bls, sg, want):
                raise CheckError(f"{w}: signature != share*h_app: expected {bls_hex_g1(want)}")

        c.run(f"{w}.feldman", feldman, all_comms, ep, sh)
        c.run(f"{w}.signature == share*h_app", partial_sig, h_app, sh, sg)

    rec = c.run("recovered.parse", lambda: bls_parse_g1(c.field("recovered"), "recovered"))
    c.run("recovered.subgroup", lambda: bls_subgroup(rec, "recovered"), rec)

    first = parts[:t] if (t is not None and len(parts) >= t) else None
    first_ok = (
        first is not None
        and all(p[0] is not None and p[2] is not None for p in first)
        and len({p[0] for p in first}) == len(first)
    )

    def lagrange_ok() -> None:
        xs = [p[0] for p in first]
        lam = lagrange_at_zero(xs, BLS_R)
        acc = bls.Z1
        for li, p in zip(lam, first):
            acc = bls.add(acc, bls.multiply(p[2], li))
        if not pt_eq(bls, rec, acc):
            raise CheckError(
                f"recovered != Lagrange interpolation at 0 of the first {t} partial "
                f"signatures: expected {bls_hex_g1(acc)}"
            )

    c.run("recovered == lagrange(first t partials)", lagrange_ok, rec, True if first_ok else None)

    def mpk_pairing() -> None:
        if not bls_pairing_eq(rec, bls.G2, h_app, all_comms[0]):
            raise CheckError("e(recovered, G2gen) != e(h_app, commitments[0])")

    c.run("pairing e(recovered,G2)==e(h_app,MPK)", mpk_pairing, rec, h_app, all_comms)


# --------------------------------------------------------------------------
# EIP-712 section
# --------------------------------------------------------------------------


def check_eip712(c: Case) -> None:
    def td_parse() -> dict:
        td = c.field("typed_data")
        if not isinstance(td, dict):
            raise CheckError("typed_data: expected an object")
        for k in ("types", "primaryType", "domain", "message"):
            if k not in td:
                raise CheckError(f'typed_data: missing "{k}"')
        if not isinstance(td["types"], dict) or not isinstance(td["domain"], dict):
            raise CheckError("typed_data: types and domain must be objects")
        return td

    td = c.run("typed_data.parse", td_parse)
    digest = c.run("digest.parse", lambda: parse_hex(c.field("digest"), "digest", 32))

    def domain_type_ok() -> None:
        dt = td["types"].get("EIP712Domain")
        if not isinstance(dt, list):
            raise CheckError("types.EIP712Domain missing")
        given = [(f.get("name"), f.get("type")) for f in dt if isinstance(f, dict)]
        want = [nt for nt in EIP712_DOMAIN_CANONICAL if nt[0] in td["domain"]]
        if given != want:
            raise CheckError(
                f"types.EIP712Domain {given} differs from the canonical field "
                f"list/order {want} that eth-account hashes; cannot validate"
            )

    dom_ok = c.run("types.EIP712Domain canonical", domain_type_ok, td)

    def digest_ok() -> None:
        sm = encode_typed_data(full_message=copy.deepcopy(td))
        if sm.version != b"\x01":
            raise CheckError(f"eth-account returned EIP-191 version {sm.version!r}")
        want = keccak(b"\x19\x01" + bytes(sm.header) + bytes(sm.body))
        if want != digest:
            raise CheckError(
                f"digest mismatch: eth-account computes 0x{want.hex()} "
                f"(domainSeparator 0x{bytes(sm.header).hex()}, "
                f"hashStruct(message) 0x{bytes(sm.body).hex()})"
            )

    c.run("digest == keccak(0x1901 || domainSeparator || hashStruct)", digest_ok, td, digest, dom_ok)


CHECKERS = {
    "bn254": check_bn254,
    "bn254_aggregate": check_bn254_aggregate,
    "bn254_schnorr": check_bn254_schnorr,
    "bls12381": check_bls12381,
    "eip712": check_eip712,
}


# --------------------------------------------------------------------------
# Environment self-check: the libraries and constants agree with known facts
# --------------------------------------------------------------------------


def environment_self_check() -> list[str]:
    errs = []
    if bn.field_modulus != BN254_FP_MODULUS or bn.curve_order != BN254_FR_MODULUS:
        errs.append("py-ecc bn128 moduli differ from BN254.sol FP/FR_MODULUS")
    if BN254_SQRT_EXP != (BN254_FP_MODULUS + 1) // 4:
        errs.append("BN254.sol sqrt exponent != (p+1)/4")
    (gx1, gx0), (gy1, gy0) = BN254_SOL_G2
    if bn.normalize(bn.G2) != (bn.FQ2([gx0, gx1]), bn.FQ2([gy0, gy1])):
        errs.append("BN254.sol generatorG2 (Solidity limb order) != py-ecc G2")
    if bn.normalize(bn.G1) != (bn.FQ(1), bn.FQ(2)):
        errs.append("py-ecc bn128 G1 != (1, 2)")
    # The fast BN254 pairing path against py-ecc's pairing, on fresh points.
    a, b = (int.from_bytes(hashlib.sha256(bytes([k])).digest(), "big") % BN254_FR_MODULUS for k in (1, 2))
    pa, qb = bn.multiply(bn.G1, a), bn.multiply(bn.G2, b)
    ref = bn.final_exponentiate(bn.pairing(qb, pa, final_exponentiate=False))
    mine = bn254_final_exponentiate(bn254_multi_miller([(pa, qb)]))
    if mine != ref or ref == bn.FQ12.one():
        errs.append("fast BN254 pairing disagrees with py-ecc's pairing")
    if bn254_final_exponentiate(bn254_multi_miller([(pa, qb), (bn.neg(bn.multiply(bn.G1, a * b)), bn.G2)])) != bn.FQ12.one():
        errs.append("fast BN254 pairing is not bilinear: e(aP, bQ) != e(abP, Q)")
    if bn254_final_exponentiate(bn254_multi_miller([(pa, qb), (bn.neg(bn.multiply(bn.G1, a * b + 1)), bn.G2)])) == bn.FQ12.one():
        errs.append("fast BN254 pairing accepts e(aP, bQ) == e((ab+1)P, Q)")
    for msg, x, y in RFC9380_G1_VECTORS:
        got = bls.normalize(bls_hash_to_G1(msg, RFC9380_DST, hashlib.sha256))
        if got != (bls.FQ(x), bls.FQ(y)):
            errs.append(f"py-ecc hash_to_G1 fails RFC 9380 J.9.1 vector msg={msg!r}")
    # EIP-712 spec example ("Ether Mail"), digest from the EIP's Example.js
    mail = {
        "types": {
            "EIP712Domain": [
                {"name": "name", "type": "string"},
                {"name": "version", "type": "string"},
                {"name": "chainId", "type": "uint256"},
                {"name": "verifyingContract", "type": "address"},
            ],
            "Person": [{"name": "name", "type": "string"}, {"name": "wallet", "type": "address"}],
            "Mail": [
                {"name": "from", "type": "Person"},
                {"name": "to", "type": "Person"},
                {"name": "contents", "type": "string"},
            ],
        },
        "primaryType": "Mail",
        "domain": {
            "name": "Ether Mail",
            "version": "1",
            "chainId": 1,
            "verifyingContract": "0xCcCCccccCCCCcCCCCCCcCcCccCcCCCcCcccccccC",
        },
        "message": {
            "from": {"name": "Cow", "wallet": "0xCD2a3d9F938E13CD947Ec05AbC7FE734Df8DD826"},
            "to": {"name": "Bob", "wallet": "0xbBbBBBBbbBBBbbbBbbBbbbbBBbBbbbbBbBbbBBbB"},
            "contents": "Hello, Bob!",
        },
    }
    sm = encode_typed_data(full_message=mail)
    d = keccak(b"\x19" + sm.version + bytes(sm.header) + bytes(sm.body))
    if d.hex() != "be609aee343fb3c4b28e1df9e632fca64fcfaede20f02e86244efddf30957bd2":
        errs.append("eth-account fails the EIP-712 spec 'Ether Mail' example")
    return errs


def lib_versions() -> str:
    out = []
    for name in ("py-ecc", "eth-account"):
        try:
            out.append(f"{name} {version(name)}")
        except PackageNotFoundError:
            out.append(f"{name} ?")
    return ", ".join(out)


# --------------------------------------------------------------------------
# Driver
# --------------------------------------------------------------------------


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("cases", help="CASES.json")
    ap.add_argument("-v", "--verbose", action="store_true",
                    help="also print passing cases and the rejections of tampered cases")
    ap.add_argument("--pyecc-pairing", action="store_true",
                    help="BN254: use py-ecc's own (slow) pairing instead of the multi-Miller loop")
    args = ap.parse_args(argv)
    global USE_PYECC_PAIRING
    USE_PYECC_PAIRING = args.pyecc_pairing

    def bail(msg: str) -> int:
        print(f"FAIL {msg}")
        print("0 passed, 1 failed")
        return 1

    try:
        with open(args.cases, encoding="utf-8") as f:
            doc = json.load(f)
    except (OSError, ValueError) as e:
        return bail(f"cannot read {args.cases}: {e}")
    if not isinstance(doc, dict):
        return bail("top level of the cases file is not a JSON object")

    env_errs = environment_self_check()
    if env_errs:
        for e in env_errs:
            print(f"FAIL environment: {e}")
        print("0 passed, 1 failed")
        return 1
    if args.verbose:
        print(f"# {lib_versions()}; environment self-check ok")

    passed = failed = 0
    seen: set[str] = set()
    for key in doc:
        if key not in CHECKERS:
            print(f"FAIL schema: unknown section {key!r} (known: {', '.join(SECTIONS)})")
            failed += 1
    for kind in SECTIONS:
        cases = doc.get(kind, [])
        if not isinstance(cases, list):
            print(f"FAIL schema: section {kind!r} is not a list")
            failed += 1
            continue
        for idx, raw in enumerate(cases):
            c = Case(kind, idx, raw)
            if c.label in seen:  # keep output lines unambiguous
                c.id = f"{c.id}#{idx}"
            seen.add(c.label)
            t0 = time.perf_counter()
            if not c.schema_errors:
                CHECKERS[kind](c)
            dt = time.perf_counter() - t0
            if c.passed:
                passed += 1
                if args.verbose:
                    if c.expect_valid:
                        print(f"ok   {c.label}: valid, all checks passed ({dt:.2f}s)")
                    else:
                        for chk, why in c.failures:
                            print(f"ok   {c.label}: rejected as expected: {chk}: {why}")
                continue
            failed += 1
            for e in c.schema_errors:
                print(f"FAIL {c.label}: schema: {e}")
            if c.schema_errors:
                continue
            if c.expect_valid:
                for chk, why in c.failures:
                    print(f"FAIL {c.label}: {chk}: {why}")
            else:
                print(f"FAIL {c.label}: tampered case was ACCEPTED: every check passed")
    if passed + failed == 0:
        print("warning: no cases in the file", file=sys.stderr)
    print(f"{passed} passed, {failed} failed")
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
