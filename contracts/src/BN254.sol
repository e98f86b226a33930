// SPDX-License-Identifier: MIT
pragma solidity ^0.8.27;

/// @title BN254 (alt_bn128) arithmetic over the EVM precompiles.
/// @notice G2 coordinates are in Solidity/EIP-197 order: imaginary limb first, X = [c1, c0].
/// hashToG1 is EigenLayer's try-and-increment, so points match its contracts and `kms bn254`.
library BN254 {
    /// Base field modulus p.
    uint256 internal constant P_MOD = 21888242871839275222246405745257275088696311157297823662689037894645226208583;
    /// Group order r.
    uint256 internal constant R_MOD = 21888242871839275222246405745257275088548364400416034343698204186575808495617;
    /// (p + 1) / 4: since p = 3 mod 4, beta^((p+1)/4) is a square root of beta when one exists.
    uint256 private constant SQRT_EXP = 5472060717959818805561601436314318772174077789324455915672259473661306552146;

    // -G2 (the G2 generator with y negated), imaginary limbs first.
    uint256 private constant NEG_G2_X1 = 11559732032986387107991004021392285783925812861821192530917403151452391805634;
    uint256 private constant NEG_G2_X0 = 10857046999023057135944570762232829481370756359578518086990519993285655852781;
    uint256 private constant NEG_G2_Y1 = 17805874995975841540914202342111839520379459829704422454583296818431106115052;
    uint256 private constant NEG_G2_Y0 = 13392588948715843804641432497768002650278120570034223513918757245338268106653;

    struct G1Point {
        uint256 X;
        uint256 Y;
    }

    struct G2Point {
        uint256[2] X;
        uint256[2] Y;
    }

    /// ecAdd (0x06) rejected its input: a coordinate >= p or a point off the curve.
    error EcAddFailed();
    /// ecMul (0x07) rejected its input.
    error EcMulFailed();
    /// modexp (0x05) failed (it cannot with well-formed input, so this means out of gas).
    error ModExpFailed();

    function generatorG1() internal pure returns (G1Point memory) {
        return G1Point(1, 2);
    }

    function negGeneratorG2() internal pure returns (G2Point memory) {
        return G2Point([NEG_G2_X1, NEG_G2_X0], [NEG_G2_Y1, NEG_G2_Y0]);
    }

    /// -p; the identity (0, 0) stays itself.
    function negate(G1Point memory p) internal pure returns (G1Point memory) {
        if (p.X == 0 && p.Y == 0) return G1Point(0, 0);
        return G1Point(p.X, P_MOD - (p.Y % P_MOD));
    }

    function plus(G1Point memory a, G1Point memory b) internal view returns (G1Point memory r) {
        uint256[4] memory input = [a.X, a.Y, b.X, b.Y];
        bool ok;
        assembly ("memory-safe") {
            ok := staticcall(gas(), 0x06, input, 0x80, r, 0x40)
        }
        if (!ok) revert EcAddFailed();
    }

    function scalarMul(G1Point memory p, uint256 s) internal view returns (G1Point memory r) {
        uint256[3] memory input = [p.X, p.Y, s];
        bool ok;
        assembly ("memory-safe") {
            ok := staticcall(gas(), 0x07, input, 0x60, r, 0x40)
        }
        if (!ok) revert EcMulFailed();
    }

    /// e(a1, a2)·e(b1, b2) == 1 with at most `gasCap` gas for the precompile. `success` is false
    /// when the precompile fails (a point off its curve or outside G2's subgroup, or out of gas);
    /// `valid` is the product's check, meaningful only when `success`.
    function safePairing(G1Point memory a1, G2Point memory a2, G1Point memory b1, G2Point memory b2, uint256 gasCap)
        internal
        view
        returns (bool success, bool valid)
    {
        uint256[12] memory input =
            [a1.X, a1.Y, a2.X[0], a2.X[1], a2.Y[0], a2.Y[1], b1.X, b1.Y, b2.X[0], b2.X[1], b2.Y[0], b2.Y[1]];
        uint256[1] memory out;
        assembly ("memory-safe") {
            success := staticcall(gasCap, 0x08, input, 0x180, out, 0x20)
        }
        valid = success && out[0] == 1;
    }

    /// keccak256 of the packed coordinates: EigenLayer's key hash of a G1 public key.
    function hashG1Point(G1Point memory p) internal pure returns (bytes32) {
        return keccak256(abi.encodePacked(p.X, p.Y));
    }

    /// EigenLayer's hashToG1: x = digest mod p; the first x (counting up mod p) for which
    /// y = (x^3 + 3)^((p+1)/4) squares back to x^3 + 3 gives (x, y). y is that power as is: the
    /// other root would be a different point than the one EigenLayer's contracts compute.
    function hashToG1(bytes32 digest) internal view returns (G1Point memory) {
        uint256 x = uint256(digest) % P_MOD;
        while (true) {
            uint256 beta = addmod(mulmod(mulmod(x, x, P_MOD), x, P_MOD), 3, P_MOD);
            uint256 y = _sqrtCandidate(beta);
            if (mulmod(y, y, P_MOD) == beta) return G1Point(x, y);
            x = addmod(x, 1, P_MOD);
        }
        // Unreachable: about half of all x give a square.
        return G1Point(0, 0);
    }

    /// beta^((p+1)/4) mod p with the modexp precompile.
    function _sqrtCandidate(uint256 beta) private view returns (uint256 y) {
        bool ok;
        assembly ("memory-safe") {
            let m := mload(0x40)
            mstore(m, 0x20)
            mstore(add(m, 0x20), 0x20)
            mstore(add(m, 0x40), 0x20)
            mstore(add(m, 0x60), beta)
            mstore(add(m, 0x80), SQRT_EXP)
            mstore(add(m, 0xa0), P_MOD)
            ok := staticcall(gas(), 0x05, m, 0xc0, m, 0x20)
            y := mload(m)
        }
        if (!ok) revert ModExpFailed();
    }
}
