// SPDX-License-Identifier: MIT
pragma solidity ^0.8.27;

import {BN254} from "../src/BN254.sol";

/// Affine G2 addition, for the tests only: the EVM has no BN254 G2 precompile, and the tests
/// aggregate kms-signer keys, whose secrets they cannot sum. Fp2 = Fp[i]/(i^2 + 1); a G2Point's
/// limbs are [imaginary, real]. A wrong sum fails the pairing checks it feeds, so mistakes here show.
library G2Math {
    uint256 private constant P = BN254.P_MOD;

    error G2SumIsIdentity();
    error InverseFailed();

    struct Fp2 {
        uint256 re;
        uint256 im;
    }

    function add(BN254.G2Point memory a, BN254.G2Point memory b) internal view returns (BN254.G2Point memory) {
        Fp2 memory x1 = Fp2(a.X[1], a.X[0]);
        Fp2 memory y1 = Fp2(a.Y[1], a.Y[0]);
        Fp2 memory x2 = Fp2(b.X[1], b.X[0]);
        Fp2 memory y2 = Fp2(b.Y[1], b.Y[0]);
        Fp2 memory lambda;
        if (_eq(x1, x2)) {
            if (!_eq(y1, y2)) revert G2SumIsIdentity();
            // Tangent: 3x^2 / 2y.
            lambda = _mul(_mul(Fp2(3, 0), _mul(x1, x1)), _inv(_add(y1, y1)));
        } else {
            lambda = _mul(_sub(y2, y1), _inv(_sub(x2, x1)));
        }
        Fp2 memory x3 = _sub(_sub(_mul(lambda, lambda), x1), x2);
        Fp2 memory y3 = _sub(_mul(lambda, _sub(x1, x3)), y1);
        return BN254.G2Point([x3.im, x3.re], [y3.im, y3.re]);
    }

    function _eq(Fp2 memory a, Fp2 memory b) private pure returns (bool) {
        return a.re == b.re && a.im == b.im;
    }

    function _add(Fp2 memory a, Fp2 memory b) private pure returns (Fp2 memory) {
        return Fp2(addmod(a.re, b.re, P), addmod(a.im, b.im, P));
    }

    function _sub(Fp2 memory a, Fp2 memory b) private pure returns (Fp2 memory) {
        return Fp2(addmod(a.re, P - b.re, P), addmod(a.im, P - b.im, P));
    }

    /// (a + bi)(c + di) = (ac - bd) + (ad + bc)i
    function _mul(Fp2 memory a, Fp2 memory b) private pure returns (Fp2 memory) {
        return Fp2(
            addmod(mulmod(a.re, b.re, P), P - mulmod(a.im, b.im, P), P),
            addmod(mulmod(a.re, b.im, P), mulmod(a.im, b.re, P), P)
        );
    }

    /// 1/(a + bi) = (a - bi)/(a^2 + b^2)
    function _inv(Fp2 memory a) private view returns (Fp2 memory) {
        uint256 n = _invFp(addmod(mulmod(a.re, a.re, P), mulmod(a.im, a.im, P), P));
        return Fp2(mulmod(a.re, n, P), mulmod(P - a.im, n, P));
    }

    /// a^(p-2) with the modexp precompile.
    function _invFp(uint256 a) private view returns (uint256 r) {
        (bool ok, bytes memory out) = address(0x05).staticcall(abi.encode(32, 32, 32, a, P - 2, P));
        if (!ok || out.length != 32) revert InverseFailed();
        r = abi.decode(out, (uint256));
    }
}
