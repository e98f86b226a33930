// SPDX-License-Identifier: MIT
pragma solidity ^0.8.27;

import {BN254} from "./BN254.sol";
import {BlsEquations} from "./BlsEquations.sol";

/// @title EigenLayer's BLS checks, reproduced as one contract.
/// @notice The surface that signatures and registration parameters from `kms-signer` and
/// `kms bn254` are verified against on chain: BLSSignatureChecker's signature check and the
/// RegistryCoordinator/BLSApkRegistry key registration. This contract is its own "registry
/// coordinator": the registration digest's EIP-712 verifying contract is its address.
contract EigenLayerChecks {
    struct PubkeyRegistrationParams {
        BN254.G1Point pubkeyRegistrationSignature;
        BN254.G1Point pubkeyG1;
        BN254.G2Point pubkeyG2;
    }

    bytes32 public constant PUBKEY_REGISTRATION_TYPEHASH = keccak256("BN254PubkeyRegistration(address operator)");
    bytes32 private constant DOMAIN_TYPEHASH =
        keccak256("EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)");
    /// keccak256(abi.encodePacked(uint256(0), uint256(0))): the hash of the identity as a key.
    bytes32 private constant ZERO_PK_HASH = keccak256(abi.encodePacked(uint256(0), uint256(0)));

    mapping(address operator => bytes32 pubkeyHash) public operatorToPubkeyHash;
    mapping(bytes32 pubkeyHash => address operator) public pubkeyHashToOperator;
    mapping(address operator => BN254.G1Point pubkey) internal _operatorToPubkey;

    event NewPubkeyRegistration(address indexed operator, BN254.G1Point pubkeyG1, BN254.G2Point pubkeyG2);

    error ZeroPubkey();
    error OperatorAlreadyRegistered(address operator);
    error PubkeyAlreadyRegistered(bytes32 pubkeyHash);
    /// The pairing precompile rejected a point (off its curve, outside G2's subgroup) or ran out of gas.
    error PairingPrecompileFailed();
    /// The signature is wrong or the G1 and G2 keys have different secrets.
    error InvalidRegistrationSignature();

    /// BLSSignatureChecker.trySignatureAndApkVerification.
    function trySignatureAndApkVerification(
        bytes32 msgHash,
        BN254.G1Point memory apk,
        BN254.G2Point memory apkG2,
        BN254.G1Point memory sigma
    ) external view returns (bool pairingSuccessful, bool signatureIsValid) {
        return BlsEquations.verifySignature(msgHash, apk, apkG2, sigma);
    }

    /// RegistryCoordinator's EIP-712 digest for an operator's key registration, with this
    /// contract as the verifying contract.
    function calculatePubkeyRegistrationMessageHash(address operator) public view returns (bytes32) {
        bytes32 domainSeparator = keccak256(
            abi.encode(
                DOMAIN_TYPEHASH, keccak256("AVSRegistryCoordinator"), keccak256("v0.0.1"), block.chainid, address(this)
            )
        );
        bytes32 structHash = keccak256(abi.encode(PUBKEY_REGISTRATION_TYPEHASH, operator));
        return keccak256(abi.encodePacked("\x19\x01", domainSeparator, structHash));
    }

    /// The digest mapped to G1: the point the registration signature is on.
    function pubkeyRegistrationMessageHash(address operator) public view returns (BN254.G1Point memory) {
        return BN254.hashToG1(calculatePubkeyRegistrationMessageHash(operator));
    }

    /// BLSApkRegistry.registerBLSPublicKey, for `operator` (the signature binds it, so anyone may submit).
    function registerBLSPublicKey(address operator, PubkeyRegistrationParams calldata params)
        external
        returns (bytes32 pubkeyHash)
    {
        BN254.G1Point memory g1 = params.pubkeyG1;
        pubkeyHash = BN254.hashG1Point(g1);
        if (pubkeyHash == ZERO_PK_HASH) revert ZeroPubkey();
        if (operatorToPubkeyHash[operator] != bytes32(0)) revert OperatorAlreadyRegistered(operator);
        if (pubkeyHashToOperator[pubkeyHash] != address(0)) revert PubkeyAlreadyRegistered(pubkeyHash);

        (bool ok, bool valid) = BlsEquations.verifyRegistration(
            pubkeyRegistrationMessageHash(operator), params.pubkeyRegistrationSignature, g1, params.pubkeyG2
        );
        if (!ok) revert PairingPrecompileFailed();
        if (!valid) revert InvalidRegistrationSignature();

        operatorToPubkeyHash[operator] = pubkeyHash;
        pubkeyHashToOperator[pubkeyHash] = operator;
        _operatorToPubkey[operator] = g1;
        emit NewPubkeyRegistration(operator, g1, params.pubkeyG2);
    }

    /// The operator's registered G1 key; (0, 0) if none.
    function operatorToPubkey(address operator) external view returns (BN254.G1Point memory) {
        return _operatorToPubkey[operator];
    }
}
