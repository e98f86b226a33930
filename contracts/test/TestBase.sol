// SPDX-License-Identifier: MIT
pragma solidity ^0.8.27;

import {Vm} from "./Vm.sol";
import {BN254} from "../src/BN254.sol";

/// Assertions and fixture readers shared by the tests.
abstract contract TestBase {
    Vm internal constant vm = Vm(0x7109709ECfa91a80626fF3989D68f67F5b1DD12D);

    /// What the fixtures were generated for (contracts/test/fixtures/generate.sh): forge's chain id and
    /// the first contract a test contract creates.
    uint256 internal constant CHAIN_ID = 31337;
    address internal constant DEPLOYED_AT = 0x5615dEB798BB3E4dFa0139dFa1b3D433Cc23b72f;

    error NotEqualUint(string what, uint256 got, uint256 want);
    error NotEqualBytes32(string what, bytes32 got, bytes32 want);
    error NotEqualAddress(string what, address got, address want);
    error NotEqualBytes(string what, bytes got, bytes want);
    error NotTrue(string what);

    function assertEq(uint256 got, uint256 want, string memory what) internal pure {
        if (got != want) revert NotEqualUint(what, got, want);
    }

    function assertEq(bytes32 got, bytes32 want, string memory what) internal pure {
        if (got != want) revert NotEqualBytes32(what, got, want);
    }

    function assertEq(address got, address want, string memory what) internal pure {
        if (got != want) revert NotEqualAddress(what, got, want);
    }

    function assertEq(bytes memory got, bytes memory want, string memory what) internal pure {
        if (keccak256(got) != keccak256(want)) revert NotEqualBytes(what, got, want);
    }

    function assertEq(string memory got, string memory want, string memory what) internal pure {
        assertEq(bytes(got), bytes(want), what);
    }

    function assertTrue(bool ok, string memory what) internal pure {
        if (!ok) revert NotTrue(what);
    }

    function assertFalse(bool ok, string memory what) internal pure {
        if (ok) revert NotTrue(what);
    }

    function assertEq(BN254.G1Point memory got, BN254.G1Point memory want, string memory what) internal pure {
        assertEq(got.X, want.X, string.concat(what, ".X"));
        assertEq(got.Y, want.Y, string.concat(what, ".Y"));
    }

    function assertEq(BN254.G2Point memory got, BN254.G2Point memory want, string memory what) internal pure {
        assertEq(got.X[0], want.X[0], string.concat(what, ".X[0]"));
        assertEq(got.X[1], want.X[1], string.concat(what, ".X[1]"));
        assertEq(got.Y[0], want.Y[0], string.concat(what, ".Y[0]"));
        assertEq(got.Y[1], want.Y[1], string.concat(what, ".Y[1]"));
    }

    // ---- fixtures ----

    function readFixture(string memory name) internal view returns (string memory) {
        return vm.readFile(string.concat(vm.projectRoot(), "/test/fixtures/", name));
    }

    function idx(string memory prefix, uint256 i, string memory suffix) internal pure returns (string memory) {
        return string.concat(prefix, "[", vm.toString(i), "]", suffix);
    }

    function g1At(string memory json, string memory key) internal pure returns (BN254.G1Point memory p) {
        p.X = vm.parseJsonUint(json, string.concat(key, ".x"));
        p.Y = vm.parseJsonUint(json, string.concat(key, ".y"));
    }

    /// G2 in the fixtures' (and Solidity's) order: x = [x_im, x_re].
    function g2At(string memory json, string memory key) internal pure returns (BN254.G2Point memory p) {
        p.X[0] = vm.parseJsonUint(json, string.concat(key, ".x[0]"));
        p.X[1] = vm.parseJsonUint(json, string.concat(key, ".x[1]"));
        p.Y[0] = vm.parseJsonUint(json, string.concat(key, ".y[0]"));
        p.Y[1] = vm.parseJsonUint(json, string.concat(key, ".y[1]"));
    }

    /// KeyRegistrar's signature bytes: abi.encode(sigma.X, sigma.Y).
    function sigBytes(BN254.G1Point memory s) internal pure returns (bytes memory) {
        return abi.encode(s.X, s.Y);
    }

    function keyDataOf(BN254.G1Point memory g1, BN254.G2Point memory g2) internal pure returns (bytes memory) {
        return abi.encode(g1.X, g1.Y, g2.X[0], g2.X[1], g2.Y[0], g2.Y[1]);
    }

    function swapLimbs(BN254.G2Point memory p) internal pure returns (BN254.G2Point memory q) {
        q.X = [p.X[1], p.X[0]];
        q.Y = [p.Y[1], p.Y[0]];
    }

    function negG1(BN254.G1Point memory p) internal pure returns (BN254.G1Point memory) {
        return BN254.G1Point(p.X, BN254.P_MOD - p.Y);
    }
}
