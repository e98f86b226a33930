// SPDX-License-Identifier: MIT
pragma solidity ^0.8.27;

import {BN254} from "./BN254.sol";
import {BlsEquations} from "./BlsEquations.sol";

/// @title KMS registry: the operator set of one AVS operator set, the apps, the anchored epochs.
/// @notice docs/0009-chain-mode.md. Operators register with EigenLayer KeyRegistrar's BN254
/// formats and check; the owner admits and removes them. The set at any block B is readable
/// here (isActiveAt, operatorCountAt) and, with eth_call at B, as activeOperators(). Epochs are
/// anchored by a BLS certificate of at least floor(2n/3) + 1 of the n operators admitted at the
/// epoch's trigger block (the BFT quorum, docs/0005 §4), on the KMS_VOTE_V3 vote digest.
contract KmsRegistry {
    enum OperatorStatus {
        None,
        Registered,
        Admitted,
        Removed
    }

    struct OperatorInfo {
        address operator;
        uint64 id;
        BN254.G1Point g1;
        BN254.G2Point g2;
        bytes32 encryptionKey;
        string url;
        OperatorStatus status;
        uint64 admittedAt;
        uint64 removedAt;
    }

    struct EpochRecord {
        bytes32 round;
        bytes32 setHash;
        bytes32 voteDigest;
        uint64 anchoredAt;
    }

    struct App {
        string appId;
        address owner;
    }

    /// An app's release policy (docs 0012): who owns it, what releases its partials
    /// (CREDENTIAL_*), how long a change waits, and the approved releases: container image
    /// digests (the sha256 of `sha256:<hex>`) and SEV-SNP release ids
    /// (sha256("KMS_SNP_RELEASE_V1" ‖ measurement ‖ host data)).
    struct Release {
        address owner;
        uint8 credential;
        uint64 delay;
        bytes32[] approved;
    }

    /// The policy in force, and a change waiting for `effectiveAt` (0: none). Nodes read the
    /// policy in force at a block with eth_call, so a due change applies without a transaction.
    struct AppState {
        Release current;
        Release pending;
        uint64 effectiveAt;
    }

    struct Operator {
        uint64 id;
        OperatorStatus status;
        uint64 admittedAt;
        uint64 removedAt;
        bytes32 encryptionKey;
        BN254.G1Point g1;
        BN254.G2Point g2;
        string url;
    }

    /// The admitted count from `blockNumber` on (until the next checkpoint).
    struct Checkpoint {
        uint64 blockNumber;
        uint64 count;
    }

    bytes32 public constant BN254_KEY_REGISTRATION_TYPEHASH =
        keccak256("BN254KeyRegistration(address operator,address avs,uint32 operatorSetId,bytes keyData)");
    bytes32 private constant DOMAIN_TYPEHASH =
        keccak256("EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)");
    /// abi.encode(g1.X, g1.Y, g2.X[0], g2.X[1], g2.Y[0], g2.Y[1]).
    uint256 private constant KEY_DATA_LENGTH = 192;
    /// abi.encode(sigma.X, sigma.Y).
    uint256 private constant SIGNATURE_LENGTH = 64;
    /// A compressed BLS12-381 G2 point.
    uint256 private constant MPK_LENGTH = 96;
    /// Bounds the size of activeOperators() for eth_call.
    uint256 public constant MAX_URL_LENGTH = 512;
    uint256 private constant MAX_APP_ID_LENGTH = 128;
    /// The owner's EIP-712 signature releases the app's partials (development).
    uint8 public constant CREDENTIAL_OWNER = 1;
    /// TEE evidence of an approved release does (production).
    uint8 public constant CREDENTIAL_ATTESTATION = 2;
    /// Both are needed.
    uint8 public constant CREDENTIAL_BOTH = 3;
    /// Bounds appPolicy() for eth_call.
    uint256 public constant MAX_APPROVED = 64;
    uint64 public constant MAX_RELEASE_DELAY = 365 days;

    address public immutable avs;
    uint32 public immutable operatorSetId;
    address public owner;

    mapping(address => Operator) internal _operators;
    /// Registration order; the operator with id i is at index i - 1.
    address[] internal _registered;
    /// BN254.hashG1Point of every key ever registered: a key is usable once.
    mapping(bytes32 keyHash => bool) public isKeyGloballyRegistered;
    Checkpoint[] internal _admittedCounts;

    /// keccak256(appId) => its policy, and every id ever registered, in order, with 1-based positions.
    mapping(bytes32 => AppState) internal _apps;
    string[] internal _appIds;
    mapping(bytes32 => uint256) internal _appIndex;

    uint64 public latestEpoch;
    bytes internal _mpk;
    mapping(uint64 => EpochRecord) internal _epochs;

    event OwnershipTransferred(address indexed previousOwner, address indexed newOwner);
    event OperatorRegistered(
        address indexed operator,
        uint64 indexed id,
        BN254.G1Point g1,
        BN254.G2Point g2,
        bytes32 encryptionKey,
        string url
    );
    event OperatorUpdated(address indexed operator, uint64 indexed id, bytes32 encryptionKey, string url);
    event OperatorAdmitted(address indexed operator, uint64 indexed id);
    event OperatorRemoved(address indexed operator, uint64 indexed id);
    event AppOwnerSet(string appId, address indexed previousOwner, address indexed newOwner);
    /// A change of an app's policy, in force from `effectiveAt` (unix seconds) unless cancelled.
    event ReleaseProposed(
        string appId,
        address indexed proposer,
        address indexed owner,
        uint8 credential,
        uint64 delay,
        bytes32[] approved,
        uint64 effectiveAt
    );
    event ReleaseCancelled(string appId, address indexed by);
    event ReleaseRestricted(string appId, uint8 credential, uint64 delay, bytes32[] approved);
    event EpochAnchored(
        uint64 indexed epoch, bytes32 round, bytes32 setHash, bytes32 voteDigest, bytes mpk, address indexed submitter
    );

    error NotOwner(address caller);
    error ZeroAddressOwner();
    error OperatorAlreadyRegistered(address operator);
    error OperatorNotRegistered(address operator);
    error OperatorAlreadyAdmitted(address operator);
    error OperatorAlreadyRemoved(address operator);
    error InvalidKeyDataLength(uint256 length);
    error InvalidSignatureLength(uint256 length);
    error ZeroPubkey();
    error KeyAlreadyRegistered(bytes32 keyHash);
    /// The pairing precompile rejected a point (off its curve, outside G2's subgroup) or ran out of gas.
    error PairingPrecompileFailed();
    error InvalidKeySignature();
    error InvalidUrlLength(uint256 length);
    error InvalidAppId(string appId);
    error NotAppOwner(string appId, address caller);
    error InvalidCredential(uint8 credential);
    error TooManyApproved(uint256 count);
    error NothingApproved();
    error DelayTooLong(uint64 delay);
    error NoPendingRelease(string appId);
    error AppIdTaken(string appId);
    error NotARestriction();
    error EpochNotAfterLatest(uint64 epoch, uint64 latestEpoch);
    error EpochNotInPast(uint64 epoch, uint256 blockNumber);
    error InvalidMpkLength(uint256 length);
    error MpkMismatch();
    error NoSigners();
    error SignersNotSorted(uint256 index);
    error SignerNotActive(address signer, uint64 epoch);
    error InsufficientSigners(uint256 signers, uint256 required);
    error InvalidCertificate();

    modifier onlyOwner() {
        if (msg.sender != owner) revert NotOwner(msg.sender);
        _;
    }

    constructor(address owner_, address avs_, uint32 operatorSetId_) {
        if (owner_ == address(0)) revert ZeroAddressOwner();
        avs = avs_;
        operatorSetId = operatorSetId_;
        owner = owner_;
        emit OwnershipTransferred(address(0), owner_);
    }

    // ---------------------------------------------------------------------------------------
    // Ownership.

    function transferOwnership(address newOwner) external onlyOwner {
        if (newOwner == address(0)) revert ZeroAddressOwner();
        emit OwnershipTransferred(owner, newOwner);
        owner = newOwner;
    }

    // ---------------------------------------------------------------------------------------
    // Operators.

    /// KeyRegistrar's EIP-712 digest of a BN254 key registration for this operator set, with
    /// this contract as the registrar.
    function getBN254KeyRegistrationMessageHash(address operator, bytes calldata keyData)
        public
        view
        returns (bytes32)
    {
        bytes32 structHash = keccak256(
            abi.encode(BN254_KEY_REGISTRATION_TYPEHASH, operator, avs, operatorSetId, keccak256(keyData))
        );
        return keccak256(abi.encodePacked("\x19\x01", domainSeparator(), structHash));
    }

    /// EIP-712 domain ("EigenLayer", "1", chain id, this contract).
    function domainSeparator() public view returns (bytes32) {
        return
            keccak256(
                abi.encode(DOMAIN_TYPEHASH, keccak256("EigenLayer"), keccak256("1"), block.chainid, address(this))
            );
    }

    /// Registers msg.sender with a BN254 key in KeyRegistrar's formats; the operator gets the next id.
    function registerOperator(
        bytes calldata keyData,
        bytes calldata signature,
        bytes32 encryptionKey,
        string calldata url
    ) external {
        Operator storage op = _operators[msg.sender];
        // Removal is final for an address, so a removed one cannot come back either.
        if (op.status != OperatorStatus.None) revert OperatorAlreadyRegistered(msg.sender);
        _checkUrl(url);
        (BN254.G1Point memory g1, BN254.G2Point memory g2) = _checkKey(msg.sender, keyData, signature);
        _registered.push(msg.sender);
        uint64 id = uint64(_registered.length);
        op.id = id;
        op.status = OperatorStatus.Registered;
        op.g1 = g1;
        op.g2 = g2;
        _setContact(op, encryptionKey, url);
        emit OperatorRegistered(msg.sender, id, g1, g2, encryptionKey, url);
    }

    /// Changes msg.sender's encryption key and URL (registered or admitted operators).
    function updateOperator(bytes32 encryptionKey, string calldata url) external {
        Operator storage op = _operators[msg.sender];
        _requireNotRemoved(op.status, msg.sender);
        _checkUrl(url);
        _setContact(op, encryptionKey, url);
        emit OperatorUpdated(msg.sender, op.id, encryptionKey, url);
    }

    function admitOperator(address operator) external onlyOwner {
        Operator storage op = _operators[operator];
        _requireNotRemoved(op.status, operator);
        if (op.status == OperatorStatus.Admitted) revert OperatorAlreadyAdmitted(operator);
        op.status = OperatorStatus.Admitted;
        op.admittedAt = uint64(block.number);
        _checkpoint(operatorCount() + 1);
        emit OperatorAdmitted(operator, op.id);
    }

    /// Final for this address; its id and key are never reused.
    function removeOperator(address operator) external onlyOwner {
        Operator storage op = _operators[operator];
        _requireNotRemoved(op.status, operator);
        if (op.status == OperatorStatus.Admitted) _checkpoint(operatorCount() - 1);
        op.status = OperatorStatus.Removed;
        op.removedAt = uint64(block.number);
        emit OperatorRemoved(operator, op.id);
    }

    /// Whether `operator` was in the set at block `blockNumber`: admitted at or before it and not
    /// removed at or before it (the state eth_call sees at that block).
    function isActiveAt(address operator, uint64 blockNumber) public view returns (bool) {
        Operator storage op = _operators[operator];
        return op.admittedAt != 0 && op.admittedAt <= blockNumber && (op.removedAt == 0 || blockNumber < op.removedAt);
    }

    /// The number of admitted, not removed operators now.
    function operatorCount() public view returns (uint64) {
        uint256 n = _admittedCounts.length;
        return n == 0 ? 0 : _admittedCounts[n - 1].count;
    }

    /// The number of admitted, not removed operators at block `blockNumber`.
    function operatorCountAt(uint64 blockNumber) public view returns (uint64) {
        // The last checkpoint at or before blockNumber.
        uint256 lo = 0;
        uint256 hi = _admittedCounts.length;
        while (lo < hi) {
            uint256 mid = (lo + hi) / 2;
            if (_admittedCounts[mid].blockNumber > blockNumber) hi = mid;
            else lo = mid + 1;
        }
        return lo == 0 ? 0 : _admittedCounts[lo - 1].count;
    }

    /// Admitted, not removed operators in registration (id) order.
    function activeOperators() external view returns (OperatorInfo[] memory infos) {
        uint256 total = _registered.length;
        uint256 n = operatorCount();
        infos = new OperatorInfo[](n);
        uint256 k = 0;
        for (uint256 i = 0; i < total && k < n; i++) {
            address a = _registered[i];
            if (_operators[a].status == OperatorStatus.Admitted) infos[k++] = _info(a);
        }
    }

    /// Everything about one address; status None (all zero) if it never registered.
    function operatorInfo(address operator) external view returns (OperatorInfo memory) {
        return _info(operator);
    }

    /// Every address that ever registered, in id order (whatever its status now).
    function registeredOperators() external view returns (address[] memory) {
        return _registered;
    }

    // ---------------------------------------------------------------------------------------
    // Apps.

    /// Registers a new app released to its owner (credential owner, no delay, nothing approved):
    /// `registerApp` with the development policy.
    function setAppOwner(string calldata appId, address newOwner) external onlyOwner {
        _register(appId, newOwner, CREDENTIAL_OWNER, 0, new bytes32[](0));
    }

    /// Registers a new app with its whole first policy, in force at once. An app key is derived
    /// from its id and lives as long as the network, so an id is registered once: the registry's
    /// owner cannot take an existing or removed app (its owner hands it on with `transferApp`),
    /// and an app meant for TEEs only is never released to its owner first.
    function registerApp(
        string calldata appId,
        address owner_,
        uint8 credential,
        uint64 delay,
        bytes32[] calldata approved
    ) external onlyOwner {
        _register(appId, owner_, credential, delay, approved);
    }

    /// Proposes handing the app on (address(0) removes it), in force after the app's delay.
    /// Only by the app's owner.
    function transferApp(string calldata appId, address newOwner) external {
        AppState storage a = _ownedBy(appId, msg.sender);
        _propose(appId, a, newOwner, a.current.credential, a.current.delay, a.current.approved);
    }

    /// Proposes a whole new policy, in force after the app's current delay (a stolen owner key
    /// cannot redirect the app's secrets at once: the owner sees the event and cancels). Replaces
    /// any pending proposal. Only by the app's owner.
    function proposeRelease(
        string calldata appId,
        address newOwner,
        uint8 credential,
        uint64 delay,
        bytes32[] calldata approved
    ) external {
        AppState storage a = _ownedBy(appId, msg.sender);
        _propose(appId, a, newOwner, credential, delay, approved);
    }

    /// Narrows the policy in force at once (revoking needs no delay): the same owner, a
    /// credential at least as strict (owner or attestation to both), approved ids a subset of
    /// those in force, a delay no shorter. A pending proposal stays pending. Only by the owner.
    function restrictRelease(string calldata appId, uint8 credential, uint64 delay, bytes32[] calldata approved)
        external
    {
        AppState storage a = _ownedBy(appId, msg.sender);
        Release storage cur = a.current;
        bool stricter = credential == cur.credential || credential == CREDENTIAL_BOTH;
        if (!stricter || delay < cur.delay || delay > MAX_RELEASE_DELAY) revert NotARestriction();
        if (credential != CREDENTIAL_OWNER && approved.length == 0) revert NothingApproved();
        for (uint256 i = 0; i < approved.length; i++) {
            bool found = false;
            for (uint256 k = 0; k < cur.approved.length && !found; k++) {
                found = cur.approved[k] == approved[i];
            }
            if (!found) revert NotARestriction();
        }
        cur.credential = credential;
        cur.delay = delay;
        cur.approved = approved;
        emit ReleaseRestricted(appId, credential, delay, approved);
    }

    /// Drops the pending proposal. Only by the app's owner.
    function cancelRelease(string calldata appId) external {
        AppState storage a = _ownedBy(appId, msg.sender);
        if (a.effectiveAt == 0) revert NoPendingRelease(appId);
        delete a.pending;
        a.effectiveAt = 0;
        emit ReleaseCancelled(appId, msg.sender);
    }

    /// The policy in force at this block (an owner of address(0): no such app).
    function appPolicy(string calldata appId) external view returns (Release memory) {
        return _inForce(_apps[keccak256(bytes(appId))]);
    }

    /// The proposal waiting, and when it comes into force (0: none; in force already if in the past).
    function pendingRelease(string calldata appId) external view returns (Release memory, uint64 effectiveAt) {
        AppState storage a = _apps[keccak256(bytes(appId))];
        return (a.pending, a.effectiveAt);
    }

    function appOwner(string calldata appId) external view returns (address) {
        return _inForce(_apps[keccak256(bytes(appId))]).owner;
    }

    /// Every app with an owner in force, in registration order.
    function apps() external view returns (App[] memory list) {
        uint256 n = 0;
        for (uint256 i = 0; i < _appIds.length; i++) {
            if (_inForce(_apps[keccak256(bytes(_appIds[i]))]).owner != address(0)) n++;
        }
        list = new App[](n);
        n = 0;
        for (uint256 i = 0; i < _appIds.length; i++) {
            address o = _inForce(_apps[keccak256(bytes(_appIds[i]))]).owner;
            if (o != address(0)) list[n++] = App(_appIds[i], o);
        }
    }

    // ---------------------------------------------------------------------------------------
    // Epochs.

    /// keccak256("KMS_VOTE_V3" ‖ chainid (8) ‖ this (20) ‖ epoch (8) ‖ attempt (4) ‖ round ‖ setHash ‖
    /// keccak256(mpk)): what a certificate's signatures are on. The attempt is bound because
    /// players may precommit another set in a later attempt; only t precommits of one attempt
    /// decide (docs/0005 §4).
    function voteDigest(uint64 epoch, uint32 attempt, bytes32 round, bytes32 setHash, bytes calldata mpk_)
        public
        view
        returns (bytes32)
    {
        return keccak256(
            abi.encodePacked(
                bytes("KMS_VOTE_V3"),
                uint64(block.chainid),
                address(this),
                epoch,
                attempt,
                round,
                setHash,
                keccak256(mpk_)
            )
        );
    }

    /// The certificate quorum for n operators: floor(2n/3) + 1, the smallest t with
    /// 2(n - t) < t (docs/0005 §4).
    function quorumFor(uint256 n) public pure returns (uint256) {
        return (2 * n) / 3 + 1;
    }

    /// Records epoch `epoch` (its trigger block) on a certificate: `signers` (strictly increasing
    /// addresses, each active at block `epoch`, at least quorumFor(n) of the n active then) signed
    /// the vote digest of agreement attempt `attempt`, sigma is their aggregate signature and
    /// apkG2 their aggregate G2 key. Anyone may submit; an invalid certificate reverts.
    function anchorEpoch(
        uint64 epoch,
        uint32 attempt,
        bytes32 round,
        bytes32 setHash,
        bytes calldata mpk_,
        address[] calldata signers,
        BN254.G2Point calldata apkG2,
        BN254.G1Point calldata sigma
    ) external {
        bool first = _checkEpochAndMpk(epoch, mpk_);
        bytes32 digest = voteDigest(epoch, attempt, round, setHash, mpk_);
        _verifyCertificate(epoch, digest, signers, apkG2, sigma);

        if (first) _mpk = mpk_;
        latestEpoch = epoch;
        EpochRecord storage rec = _epochs[epoch];
        rec.round = round;
        rec.setHash = setHash;
        rec.voteDigest = digest;
        rec.anchoredAt = uint64(block.number);
        emit EpochAnchored(epoch, round, setHash, digest, mpk_, msg.sender);
    }

    /// The anchored MPK; empty before the first anchor.
    function mpk() external view returns (bytes memory) {
        return _mpk;
    }

    /// An anchored epoch's record; all zero if the epoch was not anchored.
    function epochRecord(uint64 epoch) external view returns (EpochRecord memory) {
        return _epochs[epoch];
    }

    // ---------------------------------------------------------------------------------------
    // Internals.

    /// The epoch and MPK rules; true when no MPK is anchored yet.
    function _checkEpochAndMpk(uint64 epoch, bytes calldata mpk_) internal view returns (bool first) {
        if (epoch <= latestEpoch) revert EpochNotAfterLatest(epoch, latestEpoch);
        if (epoch >= block.number) revert EpochNotInPast(epoch, block.number);
        if (mpk_.length != MPK_LENGTH) revert InvalidMpkLength(mpk_.length);
        first = _mpk.length == 0;
        if (!first && keccak256(mpk_) != keccak256(_mpk)) revert MpkMismatch();
    }

    /// BLSSignatureChecker's check of the signers' aggregate on `digest`.
    function _verifyCertificate(
        uint64 epoch,
        bytes32 digest,
        address[] calldata signers,
        BN254.G2Point calldata apkG2,
        BN254.G1Point calldata sigma
    ) internal view {
        BN254.G1Point memory apk = _signersApk(epoch, signers);
        (bool ok, bool valid) = BlsEquations.verifySignature(digest, apk, apkG2, sigma);
        if (!ok) revert PairingPrecompileFailed();
        if (!valid) revert InvalidCertificate();
    }

    /// KeyRegistrar's BN254 checks: formats, a nonzero key not used before, and the registration
    /// signature on this operator's digest. Marks the key used.
    function _checkKey(address operator, bytes calldata keyData, bytes calldata signature)
        internal
        returns (BN254.G1Point memory g1, BN254.G2Point memory g2)
    {
        if (keyData.length != KEY_DATA_LENGTH) revert InvalidKeyDataLength(keyData.length);
        if (signature.length != SIGNATURE_LENGTH) revert InvalidSignatureLength(signature.length);
        (g1.X, g1.Y, g2.X[0], g2.X[1], g2.Y[0], g2.Y[1]) =
            abi.decode(keyData, (uint256, uint256, uint256, uint256, uint256, uint256));
        if (g1.X == 0 && g1.Y == 0) revert ZeroPubkey();
        bytes32 keyHash = BN254.hashG1Point(g1);
        if (isKeyGloballyRegistered[keyHash]) revert KeyAlreadyRegistered(keyHash);

        BN254.G1Point memory sigma;
        (sigma.X, sigma.Y) = abi.decode(signature, (uint256, uint256));
        BN254.G1Point memory h = BN254.hashToG1(getBN254KeyRegistrationMessageHash(operator, keyData));
        (bool ok, bool valid) = BlsEquations.verifyRegistration(h, sigma, g1, g2);
        if (!ok) revert PairingPrecompileFailed();
        if (!valid) revert InvalidKeySignature();
        isKeyGloballyRegistered[keyHash] = true;
    }

    function _setContact(Operator storage op, bytes32 encryptionKey, string calldata url) internal {
        op.encryptionKey = encryptionKey;
        op.url = url;
    }

    /// Checks the signers against the set at block `epoch` and the threshold; their G1 key sum.
    function _signersApk(uint64 epoch, address[] calldata signers) internal view returns (BN254.G1Point memory apk) {
        uint256 count = signers.length;
        if (count == 0) revert NoSigners();
        uint256 n = operatorCountAt(epoch);
        uint256 required = quorumFor(n);
        if (count < required) revert InsufficientSigners(count, required);
        address previous = address(0);
        for (uint256 i = 0; i < count; i++) {
            address s = signers[i];
            if (i > 0 && s <= previous) revert SignersNotSorted(i);
            if (!isActiveAt(s, epoch)) revert SignerNotActive(s, epoch);
            apk = i == 0 ? _operators[s].g1 : BN254.plus(apk, _operators[s].g1);
            previous = s;
        }
    }

    function _info(address a) internal view returns (OperatorInfo memory) {
        Operator storage op = _operators[a];
        return OperatorInfo({
            operator: a,
            id: op.id,
            g1: op.g1,
            g2: op.g2,
            encryptionKey: op.encryptionKey,
            url: op.url,
            status: op.status,
            admittedAt: op.admittedAt,
            removedAt: op.removedAt
        });
    }

    function _requireNotRemoved(OperatorStatus status, address operator) internal pure {
        if (status == OperatorStatus.None) revert OperatorNotRegistered(operator);
        if (status == OperatorStatus.Removed) revert OperatorAlreadyRemoved(operator);
    }

    /// Several admissions or removals in one block leave one checkpoint with the last count.
    function _checkpoint(uint64 count) internal {
        uint64 b = uint64(block.number);
        uint256 n = _admittedCounts.length;
        if (n > 0 && _admittedCounts[n - 1].blockNumber == b) _admittedCounts[n - 1].count = count;
        else _admittedCounts.push(Checkpoint(b, count));
    }

    function _checkUrl(string calldata url) internal pure {
        uint256 len = bytes(url).length;
        if (len == 0 || len > MAX_URL_LENGTH) revert InvalidUrlLength(len);
    }

    /// The node's rule: 1 to 128 characters of A-Z a-z 0-9 . _ : -
    function _checkAppId(string calldata appId) internal pure {
        bytes calldata b = bytes(appId);
        if (b.length == 0 || b.length > MAX_APP_ID_LENGTH) revert InvalidAppId(appId);
        for (uint256 i = 0; i < b.length; i++) {
            bytes1 c = b[i];
            bool ok = (c >= "0" && c <= "9") || (c >= "A" && c <= "Z") || (c >= "a" && c <= "z") || c == "." || c == "_"
                || c == ":" || c == "-";
            if (!ok) revert InvalidAppId(appId);
        }
    }

    function _register(
        string calldata appId,
        address owner_,
        uint8 credential,
        uint64 delay,
        bytes32[] memory approved
    ) internal {
        _checkAppId(appId);
        bytes32 key = keccak256(bytes(appId));
        if (_appIndex[key] != 0) revert AppIdTaken(appId);
        if (owner_ == address(0)) revert ZeroAddressOwner();
        _checkPolicy(credential, delay, approved);
        Release storage cur = _apps[key].current;
        cur.owner = owner_;
        cur.credential = credential;
        cur.delay = delay;
        cur.approved = approved;
        _appIds.push(appId);
        _appIndex[key] = _appIds.length;
        emit AppOwnerSet(appId, address(0), owner_);
        emit ReleaseProposed(appId, msg.sender, owner_, credential, delay, approved, uint64(block.timestamp));
    }

    function _checkPolicy(uint8 credential, uint64 delay, bytes32[] memory approved) internal pure {
        if (credential < CREDENTIAL_OWNER || credential > CREDENTIAL_BOTH) revert InvalidCredential(credential);
        if (approved.length > MAX_APPROVED) revert TooManyApproved(approved.length);
        if (credential != CREDENTIAL_OWNER && approved.length == 0) revert NothingApproved();
        if (delay > MAX_RELEASE_DELAY) revert DelayTooLong(delay);
    }

    function _inForce(AppState storage a) internal view returns (Release storage) {
        return (a.effectiveAt != 0 && a.effectiveAt <= block.timestamp) ? a.pending : a.current;
    }

    /// The app's state with a due proposal moved into force.
    function _settled(string calldata appId) internal returns (AppState storage a) {
        a = _apps[keccak256(bytes(appId))];
        if (a.effectiveAt != 0 && a.effectiveAt <= block.timestamp) {
            a.current.owner = a.pending.owner;
            a.current.credential = a.pending.credential;
            a.current.delay = a.pending.delay;
            a.current.approved = a.pending.approved;
            delete a.pending;
            a.effectiveAt = 0;
        }
    }

    function _ownedBy(string calldata appId, address caller) internal returns (AppState storage a) {
        a = _settled(appId);
        if (a.current.owner == address(0) || a.current.owner != caller) revert NotAppOwner(appId, caller);
    }

    function _propose(
        string calldata appId,
        AppState storage a,
        address newOwner,
        uint8 credential,
        uint64 delay,
        bytes32[] memory approved
    ) internal {
        _checkPolicy(credential, delay, approved);
        uint64 effectiveAt = uint64(block.timestamp) + a.current.delay;
        a.pending.owner = newOwner;
        a.pending.credential = credential;
        a.pending.delay = delay;
        a.pending.approved = approved;
        a.effectiveAt = effectiveAt;
        emit ReleaseProposed(appId, msg.sender, newOwner, credential, delay, approved, effectiveAt);
    }
}
