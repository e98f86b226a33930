// SPDX-License-Identifier: MIT
pragma solidity ^0.8.27;

import {TestBase} from "./TestBase.sol";
import {G2Math} from "./G2Math.sol";
import {BN254} from "../src/BN254.sol";

/// External entry points to the library, so reverts can be expected at call depth.
contract BN254Harness {
    function hashToG1(bytes32 h) external view returns (BN254.G1Point memory) {
        return BN254.hashToG1(h);
    }

    function plus(BN254.G1Point memory a, BN254.G1Point memory b) external view returns (BN254.G1Point memory) {
        return BN254.plus(a, b);
    }

    function scalarMul(BN254.G1Point memory p, uint256 s) external view returns (BN254.G1Point memory) {
        return BN254.scalarMul(p, s);
    }

    function negate(BN254.G1Point memory p) external pure returns (BN254.G1Point memory) {
        return BN254.negate(p);
    }

    function safePairing(
        BN254.G1Point memory a1,
        BN254.G2Point memory a2,
        BN254.G1Point memory b1,
        BN254.G2Point memory b2,
        uint256 gasCap
    ) external view returns (bool, bool) {
        return BN254.safePairing(a1, a2, b1, b2, gasCap);
    }

    function hashG1Point(BN254.G1Point memory p) external pure returns (bytes32) {
        return BN254.hashG1Point(p);
    }

    function negGeneratorG2() external pure returns (BN254.G2Point memory) {
        return BN254.negGeneratorG2();
    }
}

contract BN254Test is TestBase {
    BN254Harness internal h;

    /// The G2 generator (EIP-197), imaginary limbs first.
    function g2Generator() internal pure returns (BN254.G2Point memory) {
        return BN254.G2Point(
            [
                11559732032986387107991004021392285783925812861821192530917403151452391805634,
                10857046999023057135944570762232829481370756359578518086990519993285655852781
            ],
            [
                4082367875863433681332203403145435568316851327593401208105741076214120093531,
                8495653923123431417604973247489272438418190587263600148770280649306958101930
            ]
        );
    }

    function setUp() public {
        h = new BN254Harness();
    }

    function test_constants() public view {
        // p and r are the BN254 base field and group order: r·G1 is the identity, (r-1)·G1 = -G1.
        BN254.G1Point memory g = BN254.G1Point(1, 2);
        BN254.G1Point memory z = h.scalarMul(g, BN254.R_MOD);
        assertEq(z, BN254.G1Point(0, 0), "r*G1");
        assertEq(h.scalarMul(g, BN254.R_MOD - 1), BN254.G1Point(1, BN254.P_MOD - 2), "(r-1)*G1");
        // -G2 is G2 with y negated, and e(G1, -G2)·e(G1, G2) = 1.
        BN254.G2Point memory neg = h.negGeneratorG2();
        BN254.G2Point memory gen = g2Generator();
        assertEq(neg.X[0], gen.X[0], "-G2 x");
        assertEq(neg.X[1], gen.X[1], "-G2 x");
        assertEq(neg.Y[0], BN254.P_MOD - gen.Y[0], "-G2 y");
        assertEq(neg.Y[1], BN254.P_MOD - gen.Y[1], "-G2 y");
        (bool ok, bool valid) = h.safePairing(g, neg, g, gen, 120000);
        assertTrue(ok && valid, "e(G1,-G2)e(G1,G2)");
    }

    function test_hashToG1_matches_kms() public view {
        string memory json = readFixture("hash_to_g1.json");
        for (uint256 i = 0; i < 8; i++) {
            string memory c = idx(".cases", i, "");
            bytes32 digest = vm.parseJsonBytes32(json, string.concat(c, ".messageHash"));
            BN254.G1Point memory want = g1At(json, c);
            assertEq(h.hashToG1(digest), want, string.concat("hashToG1 case ", vm.toString(i)));
        }
    }

    function test_hashToG1_keeps_the_unnormalised_root() public view {
        // p - 1: x^3 + 3 = 2, and beta^((p+1)/4) is the root above p/2; the other root is wrong.
        BN254.G1Point memory q = h.hashToG1(bytes32(BN254.P_MOD - 1));
        assertEq(q.X, BN254.P_MOD - 1, "x");
        assertTrue(q.Y > BN254.P_MOD / 2, "y is the larger root here");
        // Digests at or above p reduce: p maps like 0 (x = 0 has no root, so x = 1).
        assertEq(h.hashToG1(bytes32(BN254.P_MOD)), BN254.G1Point(1, 2), "p");
        assertEq(h.hashToG1(bytes32(0)), BN254.G1Point(1, 2), "0");
    }

    function test_plus_and_scalarMul() public view {
        BN254.G1Point memory g = BN254.G1Point(1, 2);
        BN254.G1Point memory two = h.scalarMul(g, 2);
        assertEq(h.plus(g, g), two, "G + G");
        assertEq(h.plus(two, h.negate(g)), g, "2G - G");
        assertEq(h.plus(g, BN254.G1Point(0, 0)), g, "G + 0");
        assertEq(h.scalarMul(g, 0), BN254.G1Point(0, 0), "0*G");
    }

    function test_plus_rejects_points_off_the_curve() public {
        vm.expectRevert(BN254.EcAddFailed.selector);
        h.plus(BN254.G1Point(1, 3), BN254.G1Point(1, 2));
        vm.expectRevert(BN254.EcAddFailed.selector);
        h.plus(BN254.G1Point(1, 2), BN254.G1Point(BN254.P_MOD + 1, 2));
    }

    function test_scalarMul_rejects_points_off_the_curve() public {
        vm.expectRevert(BN254.EcMulFailed.selector);
        h.scalarMul(BN254.G1Point(1, 3), 5);
        vm.expectRevert(BN254.EcMulFailed.selector);
        h.scalarMul(BN254.G1Point(BN254.P_MOD + 1, 2), 5);
    }

    function test_negate() public view {
        assertEq(h.negate(BN254.G1Point(0, 0)), BN254.G1Point(0, 0), "-0");
        assertEq(h.negate(BN254.G1Point(1, 2)), BN254.G1Point(1, BN254.P_MOD - 2), "-G");
        assertEq(h.negate(h.negate(BN254.G1Point(1, 2))), BN254.G1Point(1, 2), "--G");
    }

    function test_safePairing_reports_failure_and_invalidity() public view {
        BN254.G1Point memory g = BN254.G1Point(1, 2);
        BN254.G2Point memory gen = g2Generator();
        // Holds: e(2G, -G2)·e(G, 2·G2) with 2·G2 = G2 + G2.
        BN254.G2Point memory gen2 = G2Math.add(gen, gen);
        (bool ok, bool valid) = h.safePairing(h.scalarMul(g, 2), h.negGeneratorG2(), g, gen2, 120000);
        assertTrue(ok && valid, "e(2G,-G2)e(G,2G2)");
        // Does not hold: (true, false).
        (ok, valid) = h.safePairing(g, h.negGeneratorG2(), g, gen2, 120000);
        assertTrue(ok && !valid, "unequal pairing");
        // Limbs swapped: not on the twist, the precompile fails.
        (ok, valid) = h.safePairing(g, h.negGeneratorG2(), g, swapLimbs(gen), 120000);
        assertTrue(!ok && !valid, "swapped limbs");
        // G1 off the curve.
        (ok, valid) = h.safePairing(BN254.G1Point(1, 3), h.negGeneratorG2(), g, gen, 120000);
        assertTrue(!ok && !valid, "G1 off curve");
        // Under the gas cap needed for two pairs (113,000).
        (ok, valid) = h.safePairing(g, h.negGeneratorG2(), g, gen, 100000);
        assertTrue(!ok && !valid, "gas cap");
    }

    function test_hashG1Point() public view {
        assertEq(h.hashG1Point(BN254.G1Point(1, 2)), keccak256(abi.encodePacked(uint256(1), uint256(2))), "hash");
    }

    function test_g2_sum_matches_summed_secret() public view {
        // The test helper's G2 sum against the key of the summed secrets (kms bn254 pubkey).
        string memory json = readFixture("kms_bn254.json");
        BN254.G2Point memory s = g2At(json, ".operators[0].g2");
        s = G2Math.add(s, g2At(json, ".operators[1].g2"));
        s = G2Math.add(s, g2At(json, ".operators[2].g2"));
        assertEq(s, g2At(json, ".anchors[0].apkG2"), "G2 sum of operators 0..2");
        BN254.G2Point memory gen = g2Generator();
        (bool ok, bool valid) = h.safePairing(
            h.scalarMul(BN254.G1Point(1, 2), 2), h.negGeneratorG2(), BN254.G1Point(1, 2), G2Math.add(gen, gen), 120000
        );
        assertTrue(ok && valid, "doubling");
    }

    /// `kms bn254 scalar-mul` and `kms signer scalar-mul` results: sk·P, checked with the key's G2
    /// (e(sk·P, -G2)·e(P, pkG2) = 1) and, for the known tool keys, against ecMul.
    function test_scalarMul_fixtures() public view {
        string memory tool = readFixture("kms_bn254.json");
        string memory signer = readFixture("kms_signer.json");
        for (uint256 i = 0; i < 4; i++) {
            string memory op = idx(".operators", i, "");
            BN254.G1Point memory point = g1At(tool, string.concat(op, ".scalarMul.point"));
            BN254.G1Point memory result = g1At(tool, string.concat(op, ".scalarMul.signature"));
            uint256 sk = vm.parseJsonUint(tool, string.concat(op, ".secretKey"));
            assertEq(h.scalarMul(point, sk), result, "tool scalar-mul = ecMul");
            assertEq(h.scalarMul(BN254.G1Point(1, 2), sk), g1At(tool, string.concat(op, ".g1")), "tool g1 = sk*G1");
            (bool ok, bool valid) =
                h.safePairing(result, h.negGeneratorG2(), point, g2At(tool, string.concat(op, ".g2")), 120000);
            assertTrue(ok && valid, "tool scalar-mul pairing");

            point = g1At(signer, string.concat(op, ".scalarMul.point"));
            result = g1At(signer, string.concat(op, ".scalarMul.signature"));
            (ok, valid) =
                h.safePairing(result, h.negGeneratorG2(), point, g2At(signer, string.concat(op, ".g2")), 120000);
            assertTrue(ok && valid, "signer scalar-mul pairing");
            // The point was hashToG1(message) and the result equals the plain signature.
            assertEq(point, h.hashToG1(vm.parseJsonBytes32(signer, ".messageHash")), "signer point");
            assertEq(result, g1At(signer, string.concat(op, ".sign.signature")), "signer scalar-mul = sign");
            // A wrong result fails.
            (ok, valid) =
                h.safePairing(negG1(result), h.negGeneratorG2(), point, g2At(signer, string.concat(op, ".g2")), 120000);
            assertTrue(ok && !valid, "tampered scalar-mul");
        }
    }
}
