// SPDX-License-Identifier: MIT
pragma solidity ^0.8.27;

import {BN254} from "./BN254.sol";

/// @title The two pairing equations of EigenLayer's middleware, gamma included.
/// @notice Gamma ties the G1 and G2 keys to one secret, so the G2 key needs no separate check.
library BlsEquations {
    /// The pairing precompile's gas cap in EigenLayer's checks (two pairs cost 113,000).
    uint256 internal constant PAIRING_GAS = 120000;

    /// BLSSignatureChecker.trySignatureAndApkVerification:
    /// gamma = keccak(msgHash, apk, apkG2, sigma) mod r;
    /// e(sigma + gamma·apk, -G2)·e(H(msgHash) + gamma·G1, apkG2) == 1.
    function verifySignature(
        bytes32 msgHash,
        BN254.G1Point memory apk,
        BN254.G2Point memory apkG2,
        BN254.G1Point memory sigma
    ) internal view returns (bool pairingSuccessful, bool signatureIsValid) {
        // All static: abi.encode is the packed words msgHash, apk.X, apk.Y, apkG2.X[0], apkG2.X[1],
        // apkG2.Y[0], apkG2.Y[1], sigma.X, sigma.Y.
        uint256 gamma = uint256(keccak256(abi.encode(msgHash, apk, apkG2, sigma))) % BN254.R_MOD;
        return _check(sigma, apk, BN254.hashToG1(msgHash), apkG2, gamma);
    }

    /// BLSApkRegistry.registerBLSPublicKey (and KeyRegistrar's BN254 check), on the mapped
    /// message point h: gamma = keccak(sig, g1, g2, h) mod r;
    /// e(sig + gamma·g1, -G2)·e(h + gamma·G1, g2) == 1.
    function verifyRegistration(
        BN254.G1Point memory h,
        BN254.G1Point memory sig,
        BN254.G1Point memory g1,
        BN254.G2Point memory g2
    ) internal view returns (bool pairingSuccessful, bool signatureIsValid) {
        // The packed words sig.X, sig.Y, g1.X, g1.Y, g2.X[0], g2.X[1], g2.Y[0], g2.Y[1], h.X, h.Y.
        uint256 gamma = uint256(keccak256(abi.encode(sig, g1, g2, h))) % BN254.R_MOD;
        return _check(sig, g1, h, g2, gamma);
    }

    /// The shared form: e(s + gamma·k1, -G2)·e(m + gamma·G1, k2) == 1, each equation with its own
    /// gamma preimage.
    function _check(
        BN254.G1Point memory s,
        BN254.G1Point memory k1,
        BN254.G1Point memory m,
        BN254.G2Point memory k2,
        uint256 gamma
    ) private view returns (bool pairingSuccessful, bool signatureIsValid) {
        return BN254.safePairing(
            BN254.plus(s, BN254.scalarMul(k1, gamma)),
            BN254.negGeneratorG2(),
            BN254.plus(m, BN254.scalarMul(BN254.generatorG1(), gamma)),
            k2,
            PAIRING_GAS
        );
    }
}
