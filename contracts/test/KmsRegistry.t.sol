// SPDX-License-Identifier: MIT
pragma solidity ^0.8.27;

import {TestBase} from "./TestBase.sol";
import {G2Math} from "./G2Math.sol";
import {BN254} from "../src/BN254.sol";
import {KmsRegistry} from "../src/KmsRegistry.sol";

/// Shared state and helpers: a registry at the fixtures' address, the two fixture sets.
abstract contract RegistryFixture is TestBase {
    address internal constant OWNER = address(0xC0FFEE);
    address internal constant STRANGER = address(0xBAD);
    address internal constant AVS = 0x1111111111111111111111111111111111111111;
    uint32 internal constant SET_ID = 7;

    KmsRegistry internal reg;
    string internal tool;
    string internal signer;

    struct Anchor {
        uint64 epoch;
        uint32 attempt;
        bytes32 round;
        bytes32 setHash;
        bytes mpk;
        address[] signers;
        BN254.G2Point apkG2;
        BN254.G1Point sigma;
        bytes32 voteDigest;
    }

    function setUp() public virtual {
        reg = new KmsRegistry(OWNER, AVS, SET_ID);
        assertEq(address(reg), DEPLOYED_AT, "fixtures expect this address (regenerate them)");
        assertEq(block.chainid, CHAIN_ID, "fixtures expect this chain");
        tool = readFixture("kms_bn254.json");
        signer = readFixture("kms_signer.json");
        assertEq(vm.parseJsonAddress(tool, ".avs"), AVS, "fixture avs");
        assertEq(vm.parseJsonUint(tool, ".operatorSetId"), SET_ID, "fixture operator set");
        assertEq(vm.parseJsonAddress(signer, ".registry"), DEPLOYED_AT, "fixture registry");
    }

    function op(string memory json, uint256 i) internal pure returns (address) {
        return vm.parseJsonAddress(json, idx(".operators", i, ".address"));
    }

    function keyData(string memory json, uint256 i) internal pure returns (bytes memory) {
        return vm.parseJsonBytes(json, idx(".operators", i, ".keyRegistration.keyData"));
    }

    function keySig(string memory json, uint256 i) internal pure returns (bytes memory) {
        return sigBytes(g1At(json, idx(".operators", i, ".keyRegistration.signature")));
    }

    function encKey(address a) internal pure returns (bytes32) {
        return keccak256(abi.encode("encryption key", a));
    }

    function urlOf(address a) internal pure returns (string memory) {
        return string.concat("https://", vm.toString(a), ".example:8443");
    }

    function register(string memory json, uint256 i) internal {
        address a = op(json, i);
        vm.prank(a);
        reg.registerOperator(keyData(json, i), keySig(json, i), encKey(a), urlOf(a));
    }

    function admit(address a) internal {
        vm.prank(OWNER);
        reg.admitOperator(a);
    }

    function remove(address a) internal {
        vm.prank(OWNER);
        reg.removeOperator(a);
    }

    /// The kms bn254 operators: registered at block 10, admitted at block 20.
    function setupToolSet() internal {
        vm.roll(10);
        for (uint256 i = 0; i < 4; i++) {
            register(tool, i);
        }
        vm.roll(20);
        for (uint256 i = 0; i < 4; i++) {
            admit(op(tool, i));
        }
    }

    function toolAnchor(uint256 a) internal view returns (Anchor memory x) {
        string memory k = idx(".anchors", a, "");
        x.epoch = uint64(vm.parseJsonUint(tool, string.concat(k, ".epoch")));
        x.attempt = uint32(vm.parseJsonUint(tool, string.concat(k, ".attempt")));
        x.round = vm.parseJsonBytes32(tool, string.concat(k, ".round"));
        x.setHash = vm.parseJsonBytes32(tool, string.concat(k, ".setHash"));
        x.mpk = vm.parseJsonBytes(tool, string.concat(k, ".mpk"));
        x.signers = vm.parseJsonAddressArray(tool, string.concat(k, ".signers"));
        x.apkG2 = g2At(tool, string.concat(k, ".apkG2"));
        x.sigma = g1At(tool, string.concat(k, ".sigma"));
        x.voteDigest = vm.parseJsonBytes32(tool, string.concat(k, ".voteDigest"));
    }

    function submit(Anchor memory x) internal {
        reg.anchorEpoch(x.epoch, x.attempt, x.round, x.setHash, x.mpk, x.signers, x.apkG2, x.sigma);
    }

    function expectAnchorRevert(bytes memory err, Anchor memory x) internal {
        vm.expectRevert(err);
        submit(x);
    }

    function addrs(address a, address b) internal pure returns (address[] memory r) {
        r = new address[](2);
        (r[0], r[1]) = (a, b);
    }

    function addrs(address a, address b, address c) internal pure returns (address[] memory r) {
        r = new address[](3);
        (r[0], r[1], r[2]) = (a, b, c);
    }
}

contract KmsRegistryOperatorsTest is RegistryFixture {
    function test_constructor() public {
        assertEq(reg.owner(), OWNER, "owner");
        assertEq(reg.avs(), AVS, "avs");
        assertEq(reg.operatorSetId(), SET_ID, "operatorSetId");
        assertEq(reg.latestEpoch(), 0, "latestEpoch");
        assertEq(reg.mpk(), "", "mpk");
        assertEq(reg.operatorCount(), 0, "count");
        assertEq(reg.registeredOperators().length, 0, "registered");
        assertEq(
            reg.BN254_KEY_REGISTRATION_TYPEHASH(),
            keccak256("BN254KeyRegistration(address operator,address avs,uint32 operatorSetId,bytes keyData)"),
            "typehash"
        );
        vm.expectEmit(true, true, true, true);
        emit KmsRegistry.OwnershipTransferred(address(0), STRANGER);
        new KmsRegistry(STRANGER, AVS, SET_ID);
    }

    function test_constructor_rejects_zero_owner() public {
        vm.expectRevert(KmsRegistry.ZeroAddressOwner.selector);
        new KmsRegistry(address(0), AVS, SET_ID);
    }

    function test_transferOwnership() public {
        vm.prank(STRANGER);
        vm.expectRevert(abi.encodeWithSelector(KmsRegistry.NotOwner.selector, STRANGER));
        reg.transferOwnership(STRANGER);

        vm.prank(OWNER);
        vm.expectRevert(KmsRegistry.ZeroAddressOwner.selector);
        reg.transferOwnership(address(0));

        vm.expectEmit(true, true, true, true, address(reg));
        emit KmsRegistry.OwnershipTransferred(OWNER, STRANGER);
        vm.prank(OWNER);
        reg.transferOwnership(STRANGER);
        assertEq(reg.owner(), STRANGER, "new owner");

        // The old owner lost its rights; the new one has them.
        register(tool, 0);
        vm.prank(OWNER);
        vm.expectRevert(abi.encodeWithSelector(KmsRegistry.NotOwner.selector, OWNER));
        reg.admitOperator(op(tool, 0));
        vm.prank(STRANGER);
        reg.admitOperator(op(tool, 0));
    }

    function test_key_registration_digest_matches_kms() public view {
        string[2] memory sources = [tool, signer];
        for (uint256 s = 0; s < 2; s++) {
            for (uint256 i = 0; i < 4; i++) {
                string memory k = idx(".operators", i, "");
                bytes memory kd = keyData(sources[s], i);
                // keyData is abi.encode(g1, g2) of the operator's public keys.
                assertEq(
                    kd,
                    keyDataOf(g1At(sources[s], string.concat(k, ".g1")), g2At(sources[s], string.concat(k, ".g2"))),
                    "keyData"
                );
                bytes32 digest = reg.getBN254KeyRegistrationMessageHash(op(sources[s], i), kd);
                assertEq(digest, vm.parseJsonBytes32(sources[s], string.concat(k, ".keyRegistration.digest")), "digest");
                assertEq(
                    BN254.hashToG1(digest),
                    g1At(sources[s], string.concat(k, ".keyRegistration.message_point")),
                    "message point"
                );
            }
        }
    }

    function test_registers_kms_bn254_and_kms_signer_operators() public {
        string[2] memory sources = [tool, signer];
        uint64 id = 0;
        vm.roll(5);
        for (uint256 s = 0; s < 2; s++) {
            for (uint256 i = 0; i < 4; i++) {
                id++;
                address a = op(sources[s], i);
                BN254.G1Point memory g1 = g1At(sources[s], idx(".operators", i, ".g1"));
                BN254.G2Point memory g2 = g2At(sources[s], idx(".operators", i, ".g2"));
                vm.expectEmit(true, true, true, true, address(reg));
                emit KmsRegistry.OperatorRegistered(a, id, g1, g2, encKey(a), urlOf(a));
                register(sources[s], i);

                KmsRegistry.OperatorInfo memory info = reg.operatorInfo(a);
                assertEq(info.operator, a, "operator");
                assertEq(info.id, id, "id");
                assertEq(info.g1, g1, "g1");
                assertEq(info.g2, g2, "g2");
                assertEq(info.encryptionKey, encKey(a), "encryption key");
                assertEq(info.url, urlOf(a), "url");
                assertEq(uint8(info.status), uint8(KmsRegistry.OperatorStatus.Registered), "status");
                assertEq(info.admittedAt, 0, "admittedAt");
                assertEq(info.removedAt, 0, "removedAt");
                assertTrue(reg.isKeyGloballyRegistered(keccak256(abi.encodePacked(g1.X, g1.Y))), "key used");
                assertEq(reg.registeredOperators()[id - 1], a, "registration order");
            }
        }
        assertEq(reg.registeredOperators().length, 8, "registered");
        assertEq(reg.operatorCount(), 0, "none admitted");
        assertEq(reg.activeOperators().length, 0, "none active");
        KmsRegistry.OperatorInfo memory none = reg.operatorInfo(STRANGER);
        assertEq(uint8(none.status), 0, "unknown status");
        assertEq(none.id, 0, "unknown id");
    }

    function test_register_rejects_a_second_registration() public {
        register(tool, 0);
        address a = op(tool, 0);
        vm.prank(a);
        vm.expectRevert(abi.encodeWithSelector(KmsRegistry.OperatorAlreadyRegistered.selector, a));
        reg.registerOperator(keyData(tool, 1), keySig(tool, 1), bytes32(0), "https://x");
        // Removal is final: the address cannot come back, not even with a fresh key.
        remove(a);
        vm.prank(a);
        vm.expectRevert(abi.encodeWithSelector(KmsRegistry.OperatorAlreadyRegistered.selector, a));
        reg.registerOperator(keyData(tool, 1), keySig(tool, 1), bytes32(0), "https://x");
    }

    function test_register_rejects_malformed_input() public {
        address a = op(signer, 0);
        bytes memory kd = keyData(signer, 0);
        bytes memory sig = keySig(signer, 0);
        vm.startPrank(a);
        vm.expectRevert(abi.encodeWithSelector(KmsRegistry.InvalidKeyDataLength.selector, 193));
        reg.registerOperator(bytes.concat(kd, hex"00"), sig, bytes32(0), "https://x");
        vm.expectRevert(abi.encodeWithSelector(KmsRegistry.InvalidKeyDataLength.selector, 64));
        reg.registerOperator(sig, sig, bytes32(0), "https://x");
        vm.expectRevert(abi.encodeWithSelector(KmsRegistry.InvalidSignatureLength.selector, 65));
        reg.registerOperator(kd, bytes.concat(sig, hex"00"), bytes32(0), "https://x");
        vm.expectRevert(abi.encodeWithSelector(KmsRegistry.InvalidSignatureLength.selector, 0));
        reg.registerOperator(kd, "", bytes32(0), "https://x");
        vm.expectRevert(abi.encodeWithSelector(KmsRegistry.InvalidUrlLength.selector, 0));
        reg.registerOperator(kd, sig, bytes32(0), "");
        vm.expectRevert(abi.encodeWithSelector(KmsRegistry.InvalidUrlLength.selector, 513));
        reg.registerOperator(kd, sig, bytes32(0), string(new bytes(513)));
        // The identity as key.
        bytes memory zero = keyDataOf(BN254.G1Point(0, 0), g2At(signer, ".operators[0].g2"));
        vm.expectRevert(KmsRegistry.ZeroPubkey.selector);
        reg.registerOperator(zero, sig, bytes32(0), "https://x");
        // The longest URL is fine.
        reg.registerOperator(kd, sig, bytes32(0), string(new bytes(512)));
        vm.stopPrank();
    }

    function test_register_rejects_a_used_key() public {
        register(tool, 0);
        BN254.G1Point memory g1 = g1At(tool, ".operators[0].g1");
        bytes32 keyHash = keccak256(abi.encodePacked(g1.X, g1.Y));
        // Another operator with the same key (checked before the signature).
        vm.prank(op(tool, 1));
        vm.expectRevert(abi.encodeWithSelector(KmsRegistry.KeyAlreadyRegistered.selector, keyHash));
        reg.registerOperator(keyData(tool, 0), keySig(tool, 0), bytes32(0), "https://x");
        // Still used after its operator is removed.
        remove(op(tool, 0));
        vm.prank(op(tool, 1));
        vm.expectRevert(abi.encodeWithSelector(KmsRegistry.KeyAlreadyRegistered.selector, keyHash));
        reg.registerOperator(keyData(tool, 0), keySig(tool, 0), bytes32(0), "https://x");
    }

    function test_register_rejects_wrong_signatures() public {
        address a = op(signer, 0);
        bytes memory kd = keyData(signer, 0);
        BN254.G1Point memory sigma = g1At(signer, ".operators[0].keyRegistration.signature");
        BN254.G1Point memory g1 = g1At(signer, ".operators[0].g1");

        // Sent by another address: the digest names the operator.
        vm.prank(op(signer, 1));
        vm.expectRevert(KmsRegistry.InvalidKeySignature.selector);
        reg.registerOperator(kd, sigBytes(sigma), bytes32(0), "https://x");

        vm.startPrank(a);
        vm.expectRevert(KmsRegistry.InvalidKeySignature.selector);
        reg.registerOperator(kd, sigBytes(negG1(sigma)), bytes32(0), "https://x");
        // Another operator's registration signature.
        vm.expectRevert(KmsRegistry.InvalidKeySignature.selector);
        reg.registerOperator(kd, keySig(signer, 1), bytes32(0), "https://x");
        // The RegistryCoordinator-scheme signature of the same key: another domain and type.
        vm.expectRevert(KmsRegistry.InvalidKeySignature.selector);
        reg.registerOperator(
            kd,
            sigBytes(g1At(signer, ".operators[0].registration.pubkeyRegistrationParams.pubkeyRegistrationSignature")),
            bytes32(0),
            "https://x"
        );
        // G1 and G2 keys of different secrets.
        vm.expectRevert(KmsRegistry.InvalidKeySignature.selector);
        reg.registerOperator(keyDataOf(g1, g2At(signer, ".operators[1].g2")), sigBytes(sigma), bytes32(0), "https://x");
        vm.stopPrank();

        // Another chain: the EIP-712 domain differs.
        vm.chainId(1);
        vm.prank(a);
        vm.expectRevert(KmsRegistry.InvalidKeySignature.selector);
        reg.registerOperator(kd, sigBytes(sigma), bytes32(0), "https://x");
        vm.chainId(CHAIN_ID);

        // Another registry: so is the verifying contract.
        KmsRegistry other = new KmsRegistry(OWNER, AVS, SET_ID);
        vm.prank(a);
        vm.expectRevert(KmsRegistry.InvalidKeySignature.selector);
        other.registerOperator(kd, sigBytes(sigma), bytes32(0), "https://x");
        // Another operator set.
        other = new KmsRegistry(OWNER, AVS, SET_ID + 1);
        vm.prank(a);
        vm.expectRevert(KmsRegistry.InvalidKeySignature.selector);
        other.registerOperator(kd, sigBytes(sigma), bytes32(0), "https://x");

        // The genuine one is accepted.
        vm.prank(a);
        reg.registerOperator(kd, sigBytes(sigma), bytes32(0), "https://x");
        assertEq(reg.operatorInfo(a).id, 1, "first id");
    }

    // A failing ecAdd or ecMul takes all the gas it is given, so one such case per test.

    function test_register_rejects_g2_limbs_swapped() public {
        // Arkworks order: not a point, the pairing precompile fails.
        BN254.G1Point memory g1 = g1At(signer, ".operators[0].g1");
        BN254.G2Point memory g2 = g2At(signer, ".operators[0].g2");
        vm.prank(op(signer, 0));
        vm.expectRevert(KmsRegistry.PairingPrecompileFailed.selector);
        reg.registerOperator(keyDataOf(g1, swapLimbs(g2)), keySig(signer, 0), bytes32(0), "https://x");
    }

    function test_register_rejects_a_signature_off_the_curve() public {
        BN254.G1Point memory sigma = g1At(signer, ".operators[0].keyRegistration.signature");
        vm.prank(op(signer, 0));
        vm.expectRevert(BN254.EcAddFailed.selector);
        reg.registerOperator(keyData(signer, 0), sigBytes(BN254.G1Point(sigma.X, sigma.Y + 1)), bytes32(0), "https://x");
    }

    function test_register_rejects_a_key_off_the_curve() public {
        BN254.G1Point memory g1 = g1At(signer, ".operators[0].g1");
        BN254.G2Point memory g2 = g2At(signer, ".operators[0].g2");
        vm.prank(op(signer, 0));
        vm.expectRevert(BN254.EcMulFailed.selector);
        reg.registerOperator(keyDataOf(BN254.G1Point(g1.X, g1.Y + 1), g2), keySig(signer, 0), bytes32(0), "https://x");
    }

    function test_updateOperator() public {
        address a = op(tool, 0);
        vm.prank(a);
        vm.expectRevert(abi.encodeWithSelector(KmsRegistry.OperatorNotRegistered.selector, a));
        reg.updateOperator(bytes32(uint256(1)), "https://new");

        register(tool, 0);
        vm.expectEmit(true, true, true, true, address(reg));
        emit KmsRegistry.OperatorUpdated(a, 1, bytes32(uint256(1)), "https://new");
        vm.prank(a);
        reg.updateOperator(bytes32(uint256(1)), "https://new");
        KmsRegistry.OperatorInfo memory info = reg.operatorInfo(a);
        assertEq(info.encryptionKey, bytes32(uint256(1)), "key");
        assertEq(info.url, "https://new", "url");

        vm.prank(a);
        vm.expectRevert(abi.encodeWithSelector(KmsRegistry.InvalidUrlLength.selector, 0));
        reg.updateOperator(bytes32(0), "");

        // Admitted operators update too; the status is kept.
        admit(a);
        vm.prank(a);
        reg.updateOperator(bytes32(uint256(2)), "https://newer");
        info = reg.operatorInfo(a);
        assertEq(info.url, "https://newer", "url after admission");
        assertEq(uint8(info.status), uint8(KmsRegistry.OperatorStatus.Admitted), "still admitted");

        remove(a);
        vm.prank(a);
        vm.expectRevert(abi.encodeWithSelector(KmsRegistry.OperatorAlreadyRemoved.selector, a));
        reg.updateOperator(bytes32(0), "https://x");
    }

    function test_admitOperator() public {
        address a = op(tool, 0);
        vm.prank(OWNER);
        vm.expectRevert(abi.encodeWithSelector(KmsRegistry.OperatorNotRegistered.selector, a));
        reg.admitOperator(a);

        register(tool, 0);
        vm.prank(STRANGER);
        vm.expectRevert(abi.encodeWithSelector(KmsRegistry.NotOwner.selector, STRANGER));
        reg.admitOperator(a);

        vm.roll(33);
        vm.expectEmit(true, true, true, true, address(reg));
        emit KmsRegistry.OperatorAdmitted(a, 1);
        admit(a);
        KmsRegistry.OperatorInfo memory info = reg.operatorInfo(a);
        assertEq(uint8(info.status), uint8(KmsRegistry.OperatorStatus.Admitted), "status");
        assertEq(info.admittedAt, 33, "admittedAt");
        assertEq(reg.operatorCount(), 1, "count");

        vm.prank(OWNER);
        vm.expectRevert(abi.encodeWithSelector(KmsRegistry.OperatorAlreadyAdmitted.selector, a));
        reg.admitOperator(a);

        remove(a);
        vm.prank(OWNER);
        vm.expectRevert(abi.encodeWithSelector(KmsRegistry.OperatorAlreadyRemoved.selector, a));
        reg.admitOperator(a);
    }

    function test_removeOperator() public {
        address a = op(tool, 0);
        address b = op(tool, 1);
        vm.prank(OWNER);
        vm.expectRevert(abi.encodeWithSelector(KmsRegistry.OperatorNotRegistered.selector, a));
        reg.removeOperator(a);

        register(tool, 0);
        register(tool, 1);
        admit(a);
        vm.prank(STRANGER);
        vm.expectRevert(abi.encodeWithSelector(KmsRegistry.NotOwner.selector, STRANGER));
        reg.removeOperator(a);

        // A registered, never admitted operator: the count is unchanged.
        vm.roll(40);
        vm.expectEmit(true, true, true, true, address(reg));
        emit KmsRegistry.OperatorRemoved(b, 2);
        remove(b);
        assertEq(reg.operatorCount(), 1, "count after removing a registered one");
        assertEq(reg.operatorInfo(b).removedAt, 40, "removedAt");
        assertFalse(reg.isActiveAt(b, 40), "never active");

        vm.roll(41);
        remove(a);
        KmsRegistry.OperatorInfo memory info = reg.operatorInfo(a);
        assertEq(uint8(info.status), uint8(KmsRegistry.OperatorStatus.Removed), "status");
        assertEq(info.removedAt, 41, "removedAt");
        assertEq(reg.operatorCount(), 0, "count");
        // Still listed as registered, with its id.
        assertEq(reg.registeredOperators()[0], a, "still registered");
        assertEq(info.id, 1, "id kept");

        vm.prank(OWNER);
        vm.expectRevert(abi.encodeWithSelector(KmsRegistry.OperatorAlreadyRemoved.selector, a));
        reg.removeOperator(a);

        // A new address with a new key gets the next id.
        register(tool, 2);
        assertEq(reg.operatorInfo(op(tool, 2)).id, 3, "next id");
    }

    function test_set_at_a_block() public {
        address[4] memory o = [op(tool, 0), op(tool, 1), op(tool, 2), op(tool, 3)];
        vm.roll(10);
        for (uint256 i = 0; i < 4; i++) {
            register(tool, i);
        }
        vm.roll(20);
        admit(o[0]);
        admit(o[1]);
        vm.roll(25);
        admit(o[2]);
        vm.roll(30);
        remove(o[1]);
        // Admitted and removed in one block: never in the set, one checkpoint.
        vm.roll(35);
        admit(o[3]);
        remove(o[3]);
        vm.roll(50);

        uint64[8] memory blocks = [uint64(0), 19, 20, 24, 25, 29, 30, 35];
        uint64[8] memory counts = [uint64(0), 0, 2, 2, 3, 3, 2, 2];
        for (uint256 k = 0; k < 8; k++) {
            assertEq(reg.operatorCountAt(blocks[k]), counts[k], string.concat("count at ", vm.toString(blocks[k])));
        }
        assertEq(reg.operatorCountAt(1000), 2, "count at a later block");
        assertEq(reg.operatorCount(), 2, "count now");

        assertFalse(reg.isActiveAt(o[0], 19), "o0 before admission");
        assertTrue(reg.isActiveAt(o[0], 20), "o0 at admission");
        assertTrue(reg.isActiveAt(o[0], 1000), "o0 later");
        assertTrue(reg.isActiveAt(o[1], 29), "o1 before removal");
        assertFalse(reg.isActiveAt(o[1], 30), "o1 at removal");
        assertFalse(reg.isActiveAt(o[2], 24), "o2 before admission");
        assertTrue(reg.isActiveAt(o[2], 25), "o2 at admission");
        assertFalse(reg.isActiveAt(o[3], 35), "o3 admitted and removed in one block");
        assertFalse(reg.isActiveAt(STRANGER, 35), "unknown");

        // activeOperators: the admitted ones now, in id order.
        KmsRegistry.OperatorInfo[] memory active = reg.activeOperators();
        assertEq(active.length, 2, "active");
        assertEq(active[0].operator, o[0], "active[0]");
        assertEq(active[0].id, 1, "active[0].id");
        assertEq(active[0].admittedAt, 20, "active[0].admittedAt");
        assertEq(active[0].g1, g1At(tool, ".operators[0].g1"), "active[0].g1");
        assertEq(active[0].g2, g2At(tool, ".operators[0].g2"), "active[0].g2");
        assertEq(active[0].url, urlOf(o[0]), "active[0].url");
        assertEq(active[0].encryptionKey, encKey(o[0]), "active[0].encryptionKey");
        assertEq(uint8(active[0].status), uint8(KmsRegistry.OperatorStatus.Admitted), "active[0].status");
        assertEq(active[1].operator, o[2], "active[1]");
        assertEq(active[1].id, 3, "active[1].id");
        assertEq(reg.registeredOperators().length, 4, "registered");
    }
}

contract KmsRegistryAppsTest is RegistryFixture {
    address internal constant ALICE = address(0xA11CE);
    address internal constant BOB = address(0xB0B);

    function setApp(string memory id, address owner) internal {
        vm.prank(OWNER);
        reg.setAppOwner(id, owner);
    }

    function approvedList(bytes32 a, bytes32 b) internal pure returns (bytes32[] memory list) {
        list = new bytes32[](2);
        list[0] = a;
        list[1] = b;
    }

    function test_setAppOwner() public {
        string memory id = "my-app.v1:prod_2";
        vm.expectEmit(true, true, true, true, address(reg));
        emit KmsRegistry.AppOwnerSet(id, address(0), ALICE);
        setApp(id, ALICE);
        assertEq(reg.appOwner(id), ALICE, "owner");
        KmsRegistry.Release memory r = reg.appPolicy(id);
        assertEq(r.credential, reg.CREDENTIAL_OWNER(), "a new app is released to its owner");
        assertEq(r.delay, 0, "no delay");
        assertEq(r.approved.length, 0, "nothing approved");
        assertEq(reg.appOwner("unknown"), address(0), "unknown app");

        vm.prank(STRANGER);
        vm.expectRevert(abi.encodeWithSelector(KmsRegistry.NotOwner.selector, STRANGER));
        reg.setAppOwner(id, STRANGER);
        vm.prank(OWNER);
        vm.expectRevert(KmsRegistry.ZeroAddressOwner.selector);
        reg.setAppOwner("other", address(0));
    }

    /// An app meant for TEEs only is registered so from the start: never released to an owner.
    function test_registerApp_with_its_first_policy() public {
        string memory id = "tee-only";
        bytes32[] memory images = approvedList(keccak256("image 1"), keccak256("image 2"));
        vm.prank(OWNER);
        reg.registerApp(id, ALICE, 2, 1 days, images);
        KmsRegistry.Release memory r = reg.appPolicy(id);
        assertEq(r.owner, ALICE, "owner");
        assertEq(r.credential, 2, "attestation from the start");
        assertEq(r.delay, 1 days, "delay");
        assertEq(r.approved.length, 2, "images");
        vm.startPrank(OWNER);
        vm.expectRevert(KmsRegistry.NothingApproved.selector);
        reg.registerApp("x1", ALICE, 2, 0, new bytes32[](0));
        vm.expectRevert(abi.encodeWithSelector(KmsRegistry.InvalidCredential.selector, uint8(9)));
        reg.registerApp("x2", ALICE, 9, 0, images);
        vm.expectRevert(KmsRegistry.ZeroAddressOwner.selector);
        reg.registerApp("x3", address(0), 2, 0, images);
        vm.stopPrank();
        vm.prank(ALICE);
        vm.expectRevert(abi.encodeWithSelector(KmsRegistry.NotOwner.selector, ALICE));
        reg.registerApp("x4", ALICE, 1, 0, new bytes32[](0));
    }

    /// The registry's owner cannot take an app, existing or removed: an id is registered once.
    function test_registry_owner_cannot_take_an_app() public {
        string memory id = "guarded";
        setApp(id, ALICE);
        vm.prank(OWNER);
        vm.expectRevert(abi.encodeWithSelector(KmsRegistry.AppIdTaken.selector, id));
        reg.setAppOwner(id, OWNER);
        vm.prank(OWNER);
        vm.expectRevert(abi.encodeWithSelector(KmsRegistry.AppIdTaken.selector, id));
        reg.registerApp(id, OWNER, 1, 0, new bytes32[](0));
        // Removed by its owner: still taken (its key may have been released).
        vm.prank(ALICE);
        reg.transferApp(id, address(0));
        assertEq(reg.appOwner(id), address(0), "removed");
        vm.prank(OWNER);
        vm.expectRevert(abi.encodeWithSelector(KmsRegistry.AppIdTaken.selector, id));
        reg.setAppOwner(id, OWNER);
        assertEq(reg.appOwner(id), address(0), "still removed");
    }

    /// A change waits the delay; the owner sees it and cancels it meanwhile.
    function test_a_pending_change_can_be_cancelled() public {
        string memory id = "watched";
        vm.warp(1000);
        setApp(id, ALICE);
        vm.prank(ALICE);
        reg.proposeRelease(id, ALICE, 1, 1 days, new bytes32[](0));
        assertEq(reg.appPolicy(id).delay, 1 days, "the delay of a no-delay app applies at once");
        vm.expectEmit(true, true, true, true, address(reg));
        emit KmsRegistry.ReleaseProposed(id, ALICE, BOB, 1, 1 days, new bytes32[](0), 1000 + 1 days);
        vm.prank(ALICE);
        reg.transferApp(id, BOB);
        vm.warp(1000 + 1 days - 1);
        assertEq(reg.appOwner(id), ALICE, "not before the delay");
        vm.prank(ALICE);
        reg.cancelRelease(id);
        vm.warp(1000 + 2 days);
        assertEq(reg.appOwner(id), ALICE, "cancelled");
        vm.prank(ALICE);
        vm.expectRevert(abi.encodeWithSelector(KmsRegistry.NoPendingRelease.selector, id));
        reg.cancelRelease(id);
        vm.prank(STRANGER);
        vm.expectRevert(abi.encodeWithSelector(KmsRegistry.NotAppOwner.selector, id, STRANGER));
        reg.cancelRelease(id);
    }

    /// Revoking needs no delay: a restriction applies at once; anything wider is refused.
    function test_restrictions_apply_at_once() public {
        string memory id = "revocable";
        bytes32 img1 = keccak256("image 1");
        bytes32 img2 = keccak256("image 2");
        vm.prank(OWNER);
        reg.registerApp(id, ALICE, 2, 1 days, approvedList(img1, img2));
        // A pending change survives a restriction.
        vm.prank(ALICE);
        reg.proposeRelease(id, BOB, 2, 1 days, approvedList(img1, img2));
        bytes32[] memory only2 = new bytes32[](1);
        only2[0] = img2;
        vm.expectEmit(true, true, true, true, address(reg));
        emit KmsRegistry.ReleaseRestricted(id, 3, 2 days, only2);
        vm.prank(ALICE);
        reg.restrictRelease(id, 3, 2 days, only2);
        KmsRegistry.Release memory r = reg.appPolicy(id);
        assertEq(r.credential, 3, "both");
        assertEq(r.delay, 2 days, "longer delay");
        assertEq(r.approved.length, 1, "image 1 revoked");
        assertEq(r.approved[0], img2, "image 2 kept");
        (, uint64 due) = reg.pendingRelease(id);
        assertTrue(due != 0, "still pending");

        vm.startPrank(ALICE);
        vm.expectRevert(KmsRegistry.NotARestriction.selector);
        reg.restrictRelease(id, 3, 2 days, approvedList(img1, img2)); // adds image 1 back
        vm.expectRevert(KmsRegistry.NotARestriction.selector);
        reg.restrictRelease(id, 3, 1 days, only2); // shorter delay
        vm.expectRevert(KmsRegistry.NotARestriction.selector);
        reg.restrictRelease(id, 2, 2 days, only2); // both to attestation
        vm.expectRevert(KmsRegistry.NotARestriction.selector);
        reg.restrictRelease(id, 1, 2 days, new bytes32[](0)); // to the owner
        vm.expectRevert(KmsRegistry.NothingApproved.selector);
        reg.restrictRelease(id, 3, 2 days, new bytes32[](0));
        vm.stopPrank();
        vm.prank(BOB);
        vm.expectRevert(abi.encodeWithSelector(KmsRegistry.NotAppOwner.selector, id, BOB));
        reg.restrictRelease(id, 3, 2 days, only2);
    }

    function test_release_changes_wait_for_the_delay() public {
        string memory id = "attested";
        vm.warp(5000);
        setApp(id, ALICE);
        bytes32[] memory images = approvedList(keccak256("image 1"), keccak256("image 2"));
        vm.prank(ALICE);
        reg.proposeRelease(id, ALICE, 2, 600, images);
        KmsRegistry.Release memory r = reg.appPolicy(id);
        assertEq(r.credential, 2, "attestation");
        assertEq(r.approved.length, 2, "two images");
        assertEq(r.approved[1], keccak256("image 2"), "image 2");

        // Back to the owner's signature: waits 600 s, as the event says.
        vm.expectEmit(true, true, true, true, address(reg));
        emit KmsRegistry.ReleaseProposed(id, ALICE, ALICE, 1, 600, new bytes32[](0), 5600);
        vm.prank(ALICE);
        reg.proposeRelease(id, ALICE, 1, 600, new bytes32[](0));
        assertEq(reg.appPolicy(id).credential, 2, "still attestation");
        (KmsRegistry.Release memory p, uint64 due) = reg.pendingRelease(id);
        assertEq(p.credential, 1, "pending");
        assertEq(due, 5600, "effective at");
        vm.warp(5599);
        assertEq(reg.appPolicy(id).credential, 2, "one second before");
        vm.warp(5600);
        assertEq(reg.appPolicy(id).credential, 1, "at the time");
        assertEq(reg.appPolicy(id).approved.length, 0, "nothing approved");

        // The next change is settled first, then waits the delay in force (600 s).
        vm.prank(ALICE);
        reg.proposeRelease(id, ALICE, 3, 0, images);
        assertEq(reg.appPolicy(id).credential, 1, "waits");
        vm.warp(6200);
        assertEq(reg.appPolicy(id).credential, 3, "both");
        assertEq(reg.appPolicy(id).delay, 0, "the new delay");
    }

    function test_release_proposals_are_checked() public {
        string memory id = "app";
        setApp(id, ALICE);
        bytes32[] memory none = new bytes32[](0);
        vm.startPrank(ALICE);
        vm.expectRevert(abi.encodeWithSelector(KmsRegistry.InvalidCredential.selector, uint8(0)));
        reg.proposeRelease(id, ALICE, 0, 0, none);
        vm.expectRevert(abi.encodeWithSelector(KmsRegistry.InvalidCredential.selector, uint8(4)));
        reg.proposeRelease(id, ALICE, 4, 0, none);
        vm.expectRevert(KmsRegistry.NothingApproved.selector);
        reg.proposeRelease(id, ALICE, 2, 0, none);
        vm.expectRevert(KmsRegistry.NothingApproved.selector);
        reg.proposeRelease(id, ALICE, 3, 0, none);
        vm.expectRevert(abi.encodeWithSelector(KmsRegistry.DelayTooLong.selector, uint64(365 days + 1)));
        reg.proposeRelease(id, ALICE, 1, 365 days + 1, none);
        bytes32[] memory many = new bytes32[](65);
        vm.expectRevert(abi.encodeWithSelector(KmsRegistry.TooManyApproved.selector, uint256(65)));
        reg.proposeRelease(id, ALICE, 2, 0, many);
        vm.stopPrank();
        vm.prank(BOB);
        vm.expectRevert(abi.encodeWithSelector(KmsRegistry.NotAppOwner.selector, id, BOB));
        reg.proposeRelease(id, BOB, 1, 0, none);
        string memory unknown = "nope";
        vm.prank(BOB);
        vm.expectRevert(abi.encodeWithSelector(KmsRegistry.NotAppOwner.selector, unknown, BOB));
        reg.proposeRelease(unknown, BOB, 1, 0, none);
    }

    function test_app_id_rule() public {
        bytes memory longest = new bytes(128);
        for (uint256 i = 0; i < 128; i++) {
            longest[i] = "a";
        }
        setApp(string(longest), ALICE);
        setApp("ABCXYZabcxyz0189._:-", ALICE);
        setApp("x", ALICE);

        string[9] memory bad =
            ["", "a b", "a/b", "a@b", unicode"é", "a\x00", "a\n", "a+b", string(bytes.concat(longest, "a"))];
        for (uint256 i = 0; i < bad.length; i++) {
            vm.prank(OWNER);
            vm.expectRevert(abi.encodeWithSelector(KmsRegistry.InvalidAppId.selector, bad[i]));
            reg.setAppOwner(bad[i], ALICE);
        }
    }

    function test_transferApp() public {
        string memory id = "app";
        vm.prank(ALICE);
        vm.expectRevert(abi.encodeWithSelector(KmsRegistry.NotAppOwner.selector, id, ALICE));
        reg.transferApp(id, BOB);

        setApp(id, ALICE);
        vm.prank(STRANGER);
        vm.expectRevert(abi.encodeWithSelector(KmsRegistry.NotAppOwner.selector, id, STRANGER));
        reg.transferApp(id, STRANGER);
        // The registry owner is not the app's owner.
        vm.prank(OWNER);
        vm.expectRevert(abi.encodeWithSelector(KmsRegistry.NotAppOwner.selector, id, OWNER));
        reg.transferApp(id, OWNER);

        // No delay: in force at once.
        vm.expectEmit(true, true, true, true, address(reg));
        emit KmsRegistry.ReleaseProposed(id, ALICE, BOB, 1, 0, new bytes32[](0), uint64(block.timestamp));
        vm.prank(ALICE);
        reg.transferApp(id, BOB);
        assertEq(reg.appOwner(id), BOB, "transferred");
        vm.prank(ALICE);
        vm.expectRevert(abi.encodeWithSelector(KmsRegistry.NotAppOwner.selector, id, ALICE));
        reg.transferApp(id, ALICE);

        // To address(0): removed; nobody owns it any more.
        vm.prank(BOB);
        reg.transferApp(id, address(0));
        assertEq(reg.appOwner(id), address(0), "removed");
        assertEq(reg.apps().length, 0, "no apps");
        vm.prank(BOB);
        vm.expectRevert(abi.encodeWithSelector(KmsRegistry.NotAppOwner.selector, id, BOB));
        reg.transferApp(id, BOB);
    }

    function test_apps_list() public {
        setApp("a", ALICE);
        setApp("b", BOB);
        setApp("c", ALICE);
        vm.prank(BOB);
        reg.transferApp("b", ALICE); // an owner change keeps one entry
        KmsRegistry.App[] memory list = reg.apps();
        assertEq(list.length, 3, "three apps");
        assertEq(list[1].appId, "b", "b");
        assertEq(list[1].owner, ALICE, "b's owner");

        vm.prank(ALICE);
        reg.transferApp("a", address(0)); // removes
        list = reg.apps();
        assertEq(list.length, 2, "two apps");
        assertEq(list[0].appId, "b", "b");
        assertEq(list[1].appId, "c", "c");
    }
}

contract KmsRegistryAnchorTest is RegistryFixture {
    function setUp() public override {
        super.setUp();
        setupToolSet();
    }

    function test_vote_digest_matches_fixture() public view {
        for (uint256 a = 0; a < 2; a++) {
            Anchor memory x = toolAnchor(a);
            assertEq(
                reg.voteDigest(x.epoch, x.attempt, x.round, x.setHash, x.mpk), x.voteDigest, "kms bn254 anchor digest"
            );
        }
        assertEq(
            reg.voteDigest(
                uint64(vm.parseJsonUint(signer, ".anchor.epoch")),
                uint32(vm.parseJsonUint(signer, ".anchor.attempt")),
                vm.parseJsonBytes32(signer, ".anchor.round"),
                vm.parseJsonBytes32(signer, ".anchor.setHash"),
                vm.parseJsonBytes(signer, ".anchor.mpk")
            ),
            vm.parseJsonBytes32(signer, ".anchor.voteDigest"),
            "kms-signer anchor digest"
        );
        // The aggregate key of the fixture is the sum of the signers' registered keys.
        Anchor memory y = toolAnchor(0);
        BN254.G1Point memory apk = reg.operatorInfo(y.signers[0]).g1;
        for (uint256 i = 1; i < y.signers.length; i++) {
            apk = BN254.plus(apk, reg.operatorInfo(y.signers[i]).g1);
        }
        assertEq(apk, g1At(tool, ".anchors[0].apkG1"), "apk");
    }

    function test_quorum_is_floor_two_thirds_plus_one() public view {
        uint256[11] memory t = [uint256(0), 1, 2, 3, 3, 4, 5, 5, 6, 7, 7];
        for (uint256 n = 1; n <= 10; n++) {
            assertEq(reg.quorumFor(n), t[n], "quorum");
            // f = n - t Byzantine plus f revealed shares stay below t.
            assertTrue(2 * (n - reg.quorumFor(n)) < reg.quorumFor(n), "2f < t");
        }
        assertEq(reg.quorumFor(64), 43, "n = 64");
    }

    function test_anchors_two_epochs() public {
        Anchor memory x = toolAnchor(0);
        assertEq(reg.operatorCountAt(x.epoch), 4, "n at epoch 100");
        vm.roll(101);
        // Anyone may submit.
        vm.expectEmit(true, true, true, true, address(reg));
        emit KmsRegistry.EpochAnchored(x.epoch, x.round, x.setHash, x.voteDigest, x.mpk, STRANGER);
        vm.prank(STRANGER);
        submit(x);
        assertEq(reg.latestEpoch(), 100, "latest");
        assertEq(reg.mpk(), x.mpk, "mpk");
        KmsRegistry.EpochRecord memory rec = reg.epochRecord(100);
        assertEq(rec.round, x.round, "round");
        assertEq(rec.setHash, x.setHash, "setHash");
        assertEq(rec.voteDigest, x.voteDigest, "voteDigest");
        assertEq(rec.anchoredAt, 101, "anchoredAt");
        assertEq(reg.epochRecord(99).anchoredAt, 0, "other epochs are empty");

        // Operator 2 leaves at block 150: at epoch 200, n = 3, and the quorum of three is all three.
        vm.roll(150);
        remove(op(tool, 2));
        Anchor memory y = toolAnchor(1);
        assertEq(y.signers.length, 3, "three signers");
        assertEq(reg.operatorCountAt(y.epoch), 3, "n at epoch 200");
        vm.roll(260);
        submit(y);
        assertEq(reg.latestEpoch(), 200, "latest");
        assertEq(reg.epochRecord(200).voteDigest, y.voteDigest, "voteDigest 200");
        assertEq(reg.epochRecord(100).voteDigest, x.voteDigest, "voteDigest 100 kept");
        assertEq(reg.mpk(), x.mpk, "mpk unchanged");
    }

    function test_anchor_epoch_rules() public {
        Anchor memory x = toolAnchor(0);
        // Not yet in the past.
        vm.roll(100);
        expectAnchorRevert(abi.encodeWithSelector(KmsRegistry.EpochNotInPast.selector, 100, 100), x);
        vm.roll(101);
        // Epoch 0 is never after the latest.
        Anchor memory z = toolAnchor(0);
        z.epoch = 0;
        expectAnchorRevert(abi.encodeWithSelector(KmsRegistry.EpochNotAfterLatest.selector, 0, 0), z);
        submit(x);
        vm.roll(300);
        expectAnchorRevert(abi.encodeWithSelector(KmsRegistry.EpochNotAfterLatest.selector, 100, 100), x);
        z = toolAnchor(0);
        z.epoch = 99;
        expectAnchorRevert(abi.encodeWithSelector(KmsRegistry.EpochNotAfterLatest.selector, 99, 100), z);
    }

    function test_anchor_mpk_rules() public {
        vm.roll(101);
        Anchor memory x = toolAnchor(0);
        bytes memory mpk = x.mpk;
        x.mpk = new bytes(95);
        expectAnchorRevert(abi.encodeWithSelector(KmsRegistry.InvalidMpkLength.selector, 95), x);
        x.mpk = bytes.concat(mpk, hex"00");
        expectAnchorRevert(abi.encodeWithSelector(KmsRegistry.InvalidMpkLength.selector, 97), x);
        x.mpk = "";
        expectAnchorRevert(abi.encodeWithSelector(KmsRegistry.InvalidMpkLength.selector, 0), x);
        // Before any anchor, another 96-byte MPK is not what was signed.
        x.mpk = bytes.concat(mpk);
        x.mpk[95] ^= 0x01;
        expectAnchorRevert(abi.encodeWithSelector(KmsRegistry.InvalidCertificate.selector), x);

        x.mpk = mpk;
        submit(x);
        // After it, the chain refuses another MPK.
        Anchor memory y = toolAnchor(1);
        y.mpk[0] ^= 0x01;
        vm.roll(201);
        expectAnchorRevert(abi.encodeWithSelector(KmsRegistry.MpkMismatch.selector), y);
    }

    function test_anchor_signer_rules() public {
        vm.roll(101);
        Anchor memory x = toolAnchor(0);
        address[] memory good = x.signers; // [op1, op0, op2] sorted by address

        x.signers = new address[](0);
        expectAnchorRevert(abi.encodeWithSelector(KmsRegistry.NoSigners.selector), x);
        // Two of four: below floor(2·4/3) + 1 = 3.
        x.signers = addrs(good[0], good[1]);
        expectAnchorRevert(abi.encodeWithSelector(KmsRegistry.InsufficientSigners.selector, 2, 3), x);
        // Not strictly increasing.
        x.signers = addrs(good[1], good[0], good[2]);
        expectAnchorRevert(abi.encodeWithSelector(KmsRegistry.SignersNotSorted.selector, 1), x);
        x.signers = addrs(good[0], good[0], good[1]);
        expectAnchorRevert(abi.encodeWithSelector(KmsRegistry.SignersNotSorted.selector, 1), x);
        // Not an operator.
        address nobody = address(type(uint160).max);
        x.signers = addrs(good[0], good[1], nobody);
        expectAnchorRevert(abi.encodeWithSelector(KmsRegistry.SignerNotActive.selector, nobody, 100), x);
        // Signers of another valid-sized set: the aggregate key differs.
        x.signers = addrs(op(tool, 3), good[0], good[1]); // op3 has the lowest address
        expectAnchorRevert(abi.encodeWithSelector(KmsRegistry.InvalidCertificate.selector), x);
        x.signers = good;
        submit(x);
    }

    function test_anchor_rejects_a_signature_off_the_curve() public {
        vm.roll(101);
        Anchor memory y = toolAnchor(0);
        y.sigma.Y += 1;
        expectAnchorRevert(abi.encodeWithSelector(BN254.EcAddFailed.selector), y);
    }

    function test_anchor_counts_removals_after_the_epoch_as_members() public {
        // Removed after block 100: still one of the set of block 100.
        vm.roll(101);
        remove(op(tool, 2));
        vm.roll(102);
        submit(toolAnchor(0));
        assertEq(reg.latestEpoch(), 100, "anchored");
    }

    function test_anchor_rejects_bad_certificates() public {
        vm.roll(101);
        Anchor memory x = toolAnchor(0);
        bytes memory invalid = abi.encodeWithSelector(KmsRegistry.InvalidCertificate.selector);

        Anchor memory y = toolAnchor(0);
        y.sigma = negG1(y.sigma);
        expectAnchorRevert(invalid, y);
        y = toolAnchor(0);
        y.round = keccak256("another round");
        expectAnchorRevert(invalid, y);
        y = toolAnchor(0);
        y.setHash = keccak256("another set");
        expectAnchorRevert(invalid, y);
        // Another attempt: the same precommits do not count for it.
        y = toolAnchor(0);
        y.attempt += 1;
        expectAnchorRevert(invalid, y);
        // Another certificate's aggregate G2 key.
        y = toolAnchor(0);
        y.apkG2 = toolAnchor(1).apkG2;
        expectAnchorRevert(invalid, y);
        // Another certificate's signature.
        y = toolAnchor(0);
        y.sigma = toolAnchor(1).sigma;
        expectAnchorRevert(invalid, y);
        // Another chain id: the vote digest binds it.
        vm.chainId(1);
        expectAnchorRevert(invalid, x);
        vm.chainId(CHAIN_ID);
        // Not points.
        y = toolAnchor(0);
        y.apkG2 = swapLimbs(y.apkG2);
        expectAnchorRevert(abi.encodeWithSelector(KmsRegistry.PairingPrecompileFailed.selector), y);

        assertEq(reg.latestEpoch(), 0, "nothing anchored");
        submit(x);
        assertEq(reg.latestEpoch(), 100, "the genuine certificate");
    }
}

/// The set of the epoch block, when admissions and removals happen around it.
contract KmsRegistryAnchorSetTest is RegistryFixture {
    function test_anchor_uses_the_set_at_the_epoch_block() public {
        // op0..op2 admitted at 20, op2 removed at 100, op3 admitted only at 150.
        vm.roll(10);
        for (uint256 i = 0; i < 4; i++) {
            register(tool, i);
        }
        vm.roll(20);
        for (uint256 i = 0; i < 3; i++) {
            admit(op(tool, i));
        }
        vm.roll(100);
        remove(op(tool, 2));
        vm.roll(150);
        admit(op(tool, 3));
        vm.roll(151);
        Anchor memory x = toolAnchor(0);
        assertEq(reg.operatorCountAt(100), 2, "n at 100");
        // op2 was removed at block 100 itself, so it is not in the set of block 100.
        expectAnchorRevert(abi.encodeWithSelector(KmsRegistry.SignerNotActive.selector, op(tool, 2), 100), x);
        // op3 was admitted after block 100.
        x.signers = addrs(op(tool, 3), op(tool, 1));
        expectAnchorRevert(abi.encodeWithSelector(KmsRegistry.SignerNotActive.selector, op(tool, 3), 100), x);
    }
}

/// Certificates whose signatures come from kms-signer: the aggregate signature and G2 key are
/// summed here (ecAdd and the test's G2 addition).
contract KmsRegistrySignerAnchorTest is RegistryFixture {
    Anchor internal base;

    function setUp() public override {
        super.setUp();
        vm.roll(10);
        for (uint256 i = 0; i < 4; i++) {
            register(signer, i);
        }
        vm.roll(20);
        for (uint256 i = 0; i < 4; i++) {
            admit(op(signer, i));
        }
        base.epoch = uint64(vm.parseJsonUint(signer, ".anchor.epoch"));
        base.attempt = uint32(vm.parseJsonUint(signer, ".anchor.attempt"));
        base.round = vm.parseJsonBytes32(signer, ".anchor.round");
        base.setHash = vm.parseJsonBytes32(signer, ".anchor.setHash");
        base.mpk = vm.parseJsonBytes(signer, ".anchor.mpk");
        base.voteDigest = vm.parseJsonBytes32(signer, ".anchor.voteDigest");
        vm.roll(base.epoch + 1);
    }

    /// The certificate of the given operators (indexes into the fixture), signers sorted.
    function certificate(uint256[] memory which) internal view returns (Anchor memory x) {
        x = base;
        uint256 n = which.length;
        x.signers = new address[](n);
        for (uint256 i = 0; i < n; i++) {
            x.signers[i] = op(signer, which[i]);
        }
        // Insertion sort by address, keeping indexes alongside.
        for (uint256 i = 1; i < n; i++) {
            for (uint256 j = i; j > 0 && x.signers[j] < x.signers[j - 1]; j--) {
                (x.signers[j], x.signers[j - 1]) = (x.signers[j - 1], x.signers[j]);
                (which[j], which[j - 1]) = (which[j - 1], which[j]);
            }
        }
        x.sigma = g1At(signer, idx(".operators", which[0], ".vote"));
        x.apkG2 = g2At(signer, idx(".operators", which[0], ".g2"));
        for (uint256 i = 1; i < n; i++) {
            x.sigma = BN254.plus(x.sigma, g1At(signer, idx(".operators", which[i], ".vote")));
            x.apkG2 = G2Math.add(x.apkG2, g2At(signer, idx(".operators", which[i], ".g2")));
        }
    }

    function three(uint256 a, uint256 b, uint256 c) internal pure returns (uint256[] memory r) {
        r = new uint256[](3);
        (r[0], r[1], r[2]) = (a, b, c);
    }

    function test_three_of_four() public {
        Anchor memory x = certificate(three(0, 1, 3));
        assertEq(reg.voteDigest(x.epoch, x.attempt, x.round, x.setHash, x.mpk), x.voteDigest, "digest");
        vm.expectEmit(true, true, true, true, address(reg));
        emit KmsRegistry.EpochAnchored(x.epoch, x.round, x.setHash, x.voteDigest, x.mpk, address(this));
        submit(x);
        assertEq(reg.latestEpoch(), x.epoch, "anchored");
    }

    function test_all_four() public {
        uint256[] memory all = new uint256[](4);
        (all[0], all[1], all[2], all[3]) = (0, 1, 2, 3);
        submit(certificate(all));
        assertEq(reg.epochRecord(base.epoch).voteDigest, base.voteDigest, "record");
    }

    function test_rejects_a_missing_or_wrong_vote() public {
        uint256[] memory two = new uint256[](2);
        (two[0], two[1]) = (0, 1);
        Anchor memory x = certificate(two);
        expectAnchorRevert(abi.encodeWithSelector(KmsRegistry.InsufficientSigners.selector, 2, 3), x);
        // Three named, two signatures summed.
        x = certificate(three(0, 1, 2));
        x.sigma = BN254.plus(x.sigma, negG1(g1At(signer, ".operators[2].vote")));
        expectAnchorRevert(abi.encodeWithSelector(KmsRegistry.InvalidCertificate.selector), x);
        // One signer's vote replaced by its signature on another message.
        x = certificate(three(0, 1, 2));
        x.sigma = BN254.plus(x.sigma, negG1(g1At(signer, ".operators[2].vote")));
        x.sigma = BN254.plus(x.sigma, g1At(signer, ".operators[2].sign.signature"));
        expectAnchorRevert(abi.encodeWithSelector(KmsRegistry.InvalidCertificate.selector), x);
    }
}
