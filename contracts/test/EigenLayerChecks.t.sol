// SPDX-License-Identifier: MIT
pragma solidity ^0.8.27;

import {TestBase} from "./TestBase.sol";
import {G2Math} from "./G2Math.sol";
import {BN254} from "../src/BN254.sol";
import {EigenLayerChecks} from "../src/EigenLayerChecks.sol";

contract EigenLayerChecksTest is TestBase {
    EigenLayerChecks internal checks;
    string internal tool;
    string internal signer;

    event NewPubkeyRegistration(address indexed operator, BN254.G1Point pubkeyG1, BN254.G2Point pubkeyG2);

    function setUp() public {
        checks = new EigenLayerChecks();
        assertEq(address(checks), DEPLOYED_AT, "fixtures expect this address (regenerate them)");
        assertEq(block.chainid, CHAIN_ID, "fixtures expect this chain");
        tool = readFixture("kms_bn254.json");
        signer = readFixture("kms_signer.json");
    }

    /// An operator's registration parameters from `kms bn254 registration-signature` or
    /// `kms signer registration`.
    function params(string memory json, uint256 i)
        internal
        pure
        returns (EigenLayerChecks.PubkeyRegistrationParams memory p)
    {
        string memory r = idx(".operators", i, ".registration.pubkeyRegistrationParams");
        p.pubkeyRegistrationSignature = g1At(json, string.concat(r, ".pubkeyRegistrationSignature"));
        p.pubkeyG1 = g1At(json, string.concat(r, ".pubkeyG1"));
        p.pubkeyG2 = g2At(json, string.concat(r, ".pubkeyG2"));
    }

    function operator(string memory json, uint256 i) internal pure returns (address) {
        return vm.parseJsonAddress(json, idx(".operators", i, ".address"));
    }

    function test_typehash_is_eigenlayers() public view {
        // The value in deployed RegistryCoordinator bytecode (crates/kms-crypto/tests/vectors).
        assertEq(
            checks.PUBKEY_REGISTRATION_TYPEHASH(),
            0x2bd82124057f0913bc3b772ce7b83e8057c1ad1f3510fc83778be20f10ec5de6,
            "typehash"
        );
    }

    function test_registration_digests_match_kms() public view {
        string[2] memory sources = [tool, signer];
        for (uint256 s = 0; s < 2; s++) {
            for (uint256 i = 0; i < 4; i++) {
                address op = operator(sources[s], i);
                assertEq(
                    checks.calculatePubkeyRegistrationMessageHash(op),
                    vm.parseJsonBytes32(sources[s], idx(".operators", i, ".registration.digest")),
                    "digest"
                );
                assertEq(
                    checks.pubkeyRegistrationMessageHash(op),
                    g1At(sources[s], idx(".operators", i, ".registration.message_point")),
                    "message point"
                );
            }
        }
    }

    function test_registers_kms_bn254_and_kms_signer_keys() public {
        string[2] memory sources = [tool, signer];
        for (uint256 s = 0; s < 2; s++) {
            for (uint256 i = 0; i < 4; i++) {
                address op = operator(sources[s], i);
                EigenLayerChecks.PubkeyRegistrationParams memory p = params(sources[s], i);
                bytes32 want = keccak256(abi.encodePacked(p.pubkeyG1.X, p.pubkeyG1.Y));
                vm.expectEmit(true, true, true, true, address(checks));
                emit NewPubkeyRegistration(op, p.pubkeyG1, p.pubkeyG2);
                assertEq(checks.registerBLSPublicKey(op, p), want, "pubkey hash");
                assertEq(checks.operatorToPubkeyHash(op), want, "operatorToPubkeyHash");
                assertEq(checks.pubkeyHashToOperator(want), op, "pubkeyHashToOperator");
                assertEq(checks.operatorToPubkey(op), p.pubkeyG1, "operatorToPubkey");
                // Same G1 key as the fixture's pubkey.
                assertEq(p.pubkeyG1, g1At(sources[s], idx(".operators", i, ".g1")), "g1");
            }
        }
    }

    function test_rejects_the_zero_key() public {
        EigenLayerChecks.PubkeyRegistrationParams memory p = params(tool, 0);
        p.pubkeyG1 = BN254.G1Point(0, 0);
        vm.expectRevert(EigenLayerChecks.ZeroPubkey.selector);
        checks.registerBLSPublicKey(operator(tool, 0), p);
    }

    function test_rejects_a_registered_operator_or_key() public {
        checks.registerBLSPublicKey(operator(tool, 0), params(tool, 0));
        // Same operator, another key.
        vm.expectRevert(abi.encodeWithSelector(EigenLayerChecks.OperatorAlreadyRegistered.selector, operator(tool, 0)));
        checks.registerBLSPublicKey(operator(tool, 0), params(tool, 1));
        // Same key, another operator.
        EigenLayerChecks.PubkeyRegistrationParams memory p = params(tool, 0);
        bytes32 hash = keccak256(abi.encodePacked(p.pubkeyG1.X, p.pubkeyG1.Y));
        vm.expectRevert(abi.encodeWithSelector(EigenLayerChecks.PubkeyAlreadyRegistered.selector, hash));
        checks.registerBLSPublicKey(operator(tool, 1), p);
    }

    function test_rejects_wrong_signatures() public {
        address op = operator(signer, 0);
        EigenLayerChecks.PubkeyRegistrationParams memory p = params(signer, 0);

        // Another operator's address: the digest differs.
        vm.expectRevert(EigenLayerChecks.InvalidRegistrationSignature.selector);
        checks.registerBLSPublicKey(operator(signer, 1), p);

        // Negated signature: on the curve, wrong.
        EigenLayerChecks.PubkeyRegistrationParams memory q = params(signer, 0);
        q.pubkeyRegistrationSignature = negG1(q.pubkeyRegistrationSignature);
        vm.expectRevert(EigenLayerChecks.InvalidRegistrationSignature.selector);
        checks.registerBLSPublicKey(op, q);

        // The G2 key of another secret.
        q = params(signer, 0);
        q.pubkeyG2 = g2At(signer, ".operators[1].g2");
        vm.expectRevert(EigenLayerChecks.InvalidRegistrationSignature.selector);
        checks.registerBLSPublicKey(op, q);

        // Another operator's signature over this one's key.
        q = params(signer, 0);
        q.pubkeyRegistrationSignature = params(signer, 1).pubkeyRegistrationSignature;
        vm.expectRevert(EigenLayerChecks.InvalidRegistrationSignature.selector);
        checks.registerBLSPublicKey(op, q);

        // G2 limbs in arkworks order: not a point, the precompile fails.
        q = params(signer, 0);
        q.pubkeyG2 = swapLimbs(q.pubkeyG2);
        vm.expectRevert(EigenLayerChecks.PairingPrecompileFailed.selector);
        checks.registerBLSPublicKey(op, q);

        // Another chain: the domain differs.
        vm.chainId(1);
        vm.expectRevert(EigenLayerChecks.InvalidRegistrationSignature.selector);
        checks.registerBLSPublicKey(op, p);
        vm.chainId(CHAIN_ID);

        // Nothing was stored; the untouched parameters still register.
        assertEq(checks.operatorToPubkeyHash(op), bytes32(0), "nothing stored");
        checks.registerBLSPublicKey(op, p);
    }

    // A failing ecAdd or ecMul takes all the gas it is given, so one such case per test.

    function test_rejects_a_signature_off_the_curve() public {
        EigenLayerChecks.PubkeyRegistrationParams memory q = params(signer, 0);
        q.pubkeyRegistrationSignature.Y += 1;
        vm.expectRevert(BN254.EcAddFailed.selector);
        checks.registerBLSPublicKey(operator(signer, 0), q);
    }

    function test_rejects_a_key_off_the_curve() public {
        EigenLayerChecks.PubkeyRegistrationParams memory q = params(signer, 0);
        q.pubkeyG1.Y += 1;
        vm.expectRevert(BN254.EcMulFailed.selector);
        checks.registerBLSPublicKey(operator(signer, 0), q);
    }

    function test_signature_check_accepts_single_signatures() public view {
        string[2] memory sources = [tool, signer];
        for (uint256 s = 0; s < 2; s++) {
            bytes32 msgHash = vm.parseJsonBytes32(sources[s], ".messageHash");
            for (uint256 i = 0; i < 4; i++) {
                string memory op = idx(".operators", i, "");
                BN254.G1Point memory pk1 = g1At(sources[s], string.concat(op, ".g1"));
                BN254.G2Point memory pk2 = g2At(sources[s], string.concat(op, ".g2"));
                BN254.G1Point memory sig = g1At(sources[s], string.concat(op, ".sign.signature"));
                assertEq(g1At(sources[s], string.concat(op, ".sign.message_point")), BN254.hashToG1(msgHash), "H(m)");
                (bool ok, bool valid) = checks.trySignatureAndApkVerification(msgHash, pk1, pk2, sig);
                assertTrue(ok && valid, "signature verifies");
            }
        }
    }

    function test_signature_check_rejects_tampering() public view {
        bytes32 msgHash = vm.parseJsonBytes32(signer, ".messageHash");
        BN254.G1Point memory pk1 = g1At(signer, ".operators[0].g1");
        BN254.G2Point memory pk2 = g2At(signer, ".operators[0].g2");
        BN254.G1Point memory sig = g1At(signer, ".operators[0].sign.signature");
        bool ok;
        bool valid;
        // (A neighbouring digest can map to the same point under try-and-increment; hash it instead.)
        (ok, valid) = checks.trySignatureAndApkVerification(keccak256(abi.encode(msgHash)), pk1, pk2, sig);
        assertTrue(ok && !valid, "other message");
        (ok, valid) = checks.trySignatureAndApkVerification(msgHash, pk1, pk2, negG1(sig));
        assertTrue(ok && !valid, "negated signature");
        (ok, valid) = checks.trySignatureAndApkVerification(msgHash, g1At(signer, ".operators[1].g1"), pk2, sig);
        assertTrue(ok && !valid, "G1 key of another secret");
        (ok, valid) = checks.trySignatureAndApkVerification(msgHash, pk1, g2At(signer, ".operators[1].g2"), sig);
        assertTrue(ok && !valid, "G2 key of another secret");
        (ok, valid) =
            checks.trySignatureAndApkVerification(msgHash, pk1, pk2, g1At(signer, ".operators[1].sign.signature"));
        assertTrue(ok && !valid, "another key's signature");
        (ok, valid) = checks.trySignatureAndApkVerification(msgHash, pk1, swapLimbs(pk2), sig);
        assertTrue(!ok && !valid, "swapped G2 limbs fail the precompile");
    }

    function test_signature_check_rejects_a_signature_off_the_curve() public {
        bytes32 msgHash = vm.parseJsonBytes32(signer, ".messageHash");
        BN254.G1Point memory sig = g1At(signer, ".operators[0].sign.signature");
        vm.expectRevert(BN254.EcAddFailed.selector);
        checks.trySignatureAndApkVerification(
            msgHash, g1At(signer, ".operators[0].g1"), g2At(signer, ".operators[0].g2"), BN254.G1Point(sig.X, sig.Y + 1)
        );
    }

    function test_signature_check_rejects_a_key_off_the_curve() public {
        bytes32 msgHash = vm.parseJsonBytes32(signer, ".messageHash");
        BN254.G1Point memory pk1 = g1At(signer, ".operators[0].g1");
        vm.expectRevert(BN254.EcMulFailed.selector);
        checks.trySignatureAndApkVerification(
            msgHash,
            BN254.G1Point(pk1.X, pk1.Y + 1),
            g2At(signer, ".operators[0].g2"),
            g1At(signer, ".operators[0].sign.signature")
        );
    }

    function test_signature_check_accepts_aggregates() public view {
        // kms bn254: the anchors' certificates (aggregate key of summed secrets).
        for (uint256 a = 0; a < 2; a++) {
            string memory an = idx(".anchors", a, "");
            (bool ok, bool valid) = checks.trySignatureAndApkVerification(
                vm.parseJsonBytes32(tool, string.concat(an, ".voteDigest")),
                g1At(tool, string.concat(an, ".apkG1")),
                g2At(tool, string.concat(an, ".apkG2")),
                g1At(tool, string.concat(an, ".sigma"))
            );
            assertTrue(ok && valid, "kms bn254 aggregate");
        }
        // kms-signer: sum of all four keys and signatures on the shared message.
        bytes32 msgHash = vm.parseJsonBytes32(signer, ".messageHash");
        BN254.G1Point memory apk = g1At(signer, ".operators[0].g1");
        BN254.G2Point memory apkG2 = g2At(signer, ".operators[0].g2");
        BN254.G1Point memory sigma = g1At(signer, ".operators[0].sign.signature");
        for (uint256 i = 1; i < 4; i++) {
            string memory op = idx(".operators", i, "");
            apk = BN254.plus(apk, g1At(signer, string.concat(op, ".g1")));
            apkG2 = G2Math.add(apkG2, g2At(signer, string.concat(op, ".g2")));
            sigma = BN254.plus(sigma, g1At(signer, string.concat(op, ".sign.signature")));
        }
        (bool ok2, bool valid2) = checks.trySignatureAndApkVerification(msgHash, apk, apkG2, sigma);
        assertTrue(ok2 && valid2, "kms-signer aggregate");
        // Missing one signature: invalid.
        sigma = BN254.plus(sigma, negG1(g1At(signer, ".operators[3].sign.signature")));
        (ok2, valid2) = checks.trySignatureAndApkVerification(msgHash, apk, apkG2, sigma);
        assertTrue(ok2 && !valid2, "aggregate missing a signature");
    }
}
