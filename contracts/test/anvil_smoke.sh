#!/usr/bin/env bash
# Deploys the committed artifacts on a local anvil and replays the fixtures as transactions:
# kms bn254 and kms-signer key registrations, admissions, two epoch anchors (3 of 4, then 2 of 3),
# and an EigenLayerChecks signature check; prints the gas of each transaction. ANVIL_HARDFORK
# picks anvil's hardfork (default: anvil's latest).
# The registry is deployed from the forge test contract's address at nonce 1 (impersonated), so
# it lands at the address the fixtures were signed for. Needs anvil and cast in target/node
# (npm install --prefix target/node @foundry-rs/anvil@1.7.1 @foundry-rs/cast@1.7.1), jq, python3.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
bin="$root/target/node/node_modules/.bin"
fx="$root/contracts/test/fixtures"
art="$root/contracts/artifacts"
tool="$fx/kms_bn254.json"
signer="$fx/kms_signer.json"

port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
rpc="http://127.0.0.1:$port"
log="$(mktemp)"
"$bin/anvil" --port "$port" --chain-id 31337 ${ANVIL_HARDFORK:+--hardfork "$ANVIL_HARDFORK"} >"$log" 2>&1 &
anvil_pid=$!
trap 'kill "$anvil_pid" 2>/dev/null || true; wait "$anvil_pid" 2>/dev/null || true; rm -f "$log"' EXIT
for _ in $(seq 100); do "$bin/cast" chain-id --rpc-url "$rpc" >/dev/null 2>&1 && break; sleep 0.1; done

cast() { "$bin/cast" "$@"; }
echo "anvil hardfork: $(cast rpc --rpc-url "$rpc" anvil_nodeInfo | jq -r .hardFork)"
# anvil's account 0 owns the registry.
OWNER=0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266
OWNER_KEY=0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80
# anvil's accounts 1-4: the kms bn254 operators.
TOOL_KEYS=(0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d
  0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a
  0x7c852118294e51e653712a81e05800f419141751be58f605c371e15141b007a6
  0x47e179ec197488593b187f80a00eb0da91f1b9d0b13f8733639f19c30a34926a)
DEPLOYER=0x7FA9385bE102ac3EAc297483Dd6233D62b3e1496

gas_of() { cast to-dec "$(jq -r .gasUsed <<<"$1")"; }
send() { # label, cast send args...: sends, checks the status, prints the gas
  local label="$1"; shift
  local receipt
  receipt="$(cast send --rpc-url "$rpc" --json "$@")"
  [ "$(jq -r .status <<<"$receipt")" = "0x1" ] || { echo "$label: failed: $receipt" >&2; exit 1; }
  printf '%-44s gas %s\n' "$label" "$(gas_of "$receipt")"
}
g1() { jq -r "\"(\" + $2.x + \",\" + $2.y + \")\"" "$1"; }
g2() { jq -r "\"([\" + $2.x[0] + \",\" + $2.x[1] + \"],[\" + $2.y[0] + \",\" + $2.y[1] + \"])\"" "$1"; }

# Deploy at the fixtures' address.
cast rpc --rpc-url "$rpc" anvil_impersonateAccount "$DEPLOYER" >/dev/null
cast rpc --rpc-url "$rpc" anvil_setBalance "$DEPLOYER" 0x56BC75E2D63100000 >/dev/null
cast rpc --rpc-url "$rpc" anvil_setNonce "$DEPLOYER" 0x1 >/dev/null
args="$(cast abi-encode "constructor(address,address,uint32)" "$OWNER" "$(jq -r .avs "$tool")" "$(jq -r .operatorSetId "$tool")")"
send "deploy KmsRegistry" --from "$DEPLOYER" --unlocked --create "$(jq -r .bytecode "$art/KmsRegistry.json")${args#0x}"
REG="$(jq -r .registry "$tool")"
[ -n "$(cast code --rpc-url "$rpc" "$REG" | sed 's/^0x$//')" ] || { echo "no registry at $REG" >&2; exit 1; }

register() { # label json index private-key
  local k=".operators[$2]"
  send "$1" --private-key "$4" "$REG" "registerOperator(bytes,bytes,bytes32,string)" \
    "$(jq -r "$k.keyRegistration.keyData" "$3")" \
    "$(cast abi-encode "f(uint256,uint256)" "$(jq -r "$k.keyRegistration.signature.x" "$3")" "$(jq -r "$k.keyRegistration.signature.y" "$3")")" \
    "$(cast keccak "encryption key $2")" "https://node-$2.example:8443"
}
for i in 0 1 2 3; do
  register "registerOperator (kms-signer op $i)" "$i" "$signer" "$(jq -r ".operators[$i].eoaKey" "$signer")"
done
for i in 0 1 2 3; do register "registerOperator (kms bn254 op $i)" "$i" "$tool" "${TOOL_KEYS[$i]}"; done
for i in 0 1 2 3; do
  send "admitOperator (kms bn254 op $i)" --private-key "$OWNER_KEY" "$REG" "admitOperator(address)" \
    "$(jq -r ".operators[$i].address" "$tool")"
done

mine_to() { # block: mines until the chain is past it
  local now; now="$(cast block-number --rpc-url "$rpc")"
  [ "$now" -gt "$1" ] || cast rpc --rpc-url "$rpc" anvil_mine "$(cast to-hex $(($1 - now + 1)))" >/dev/null
}
anchor() { # label index
  local a=".anchors[$2]"
  mine_to "$(jq -r "$a.epoch" "$tool")"
  send "$1" --private-key "${TOOL_KEYS[0]}" "$REG" \
    "anchorEpoch(uint64,bytes32,bytes32,bytes,address[],(uint256[2],uint256[2]),(uint256,uint256))" \
    "$(jq -r "$a.epoch" "$tool")" "$(jq -r "$a.round" "$tool")" "$(jq -r "$a.setHash" "$tool")" \
    "$(jq -r "$a.mpk" "$tool")" "[$(jq -r "$a.signers | join(\",\")" "$tool")]" \
    "$(g2 "$tool" "$a.apkG2")" "$(g1 "$tool" "$a.sigma")"
}
anchor "anchorEpoch 100 (3 of 4 signers)" 0
send "removeOperator (kms bn254 op 2)" --private-key "$OWNER_KEY" "$REG" "removeOperator(address)" \
  "$(jq -r ".operators[2].address" "$tool")"
anchor "anchorEpoch 200 (2 of 3 signers)" 1

# What nodes read.
[ "$(cast call --rpc-url "$rpc" "$REG" "latestEpoch()(uint64)")" = 200 ] || { echo "latestEpoch" >&2; exit 1; }
[ "$(cast call --rpc-url "$rpc" "$REG" "operatorCountAt(uint64)(uint64)" 100)" = 4 ] || { echo "count at 100" >&2; exit 1; }
[ "$(cast call --rpc-url "$rpc" "$REG" "mpk()(bytes)")" = "$(jq -r '.anchors[0].mpk' "$tool")" ] || { echo "mpk" >&2; exit 1; }
echo "registeredOperators: $(cast call --rpc-url "$rpc" "$REG" "registeredOperators()(address[])" | tr -d '\n');" \
  "$(cast call --rpc-url "$rpc" "$REG" "operatorCount()(uint64)") active"
active_gas="$(cast estimate --rpc-url "$rpc" "$REG" "activeOperators()")"
echo "activeOperators() eth_call gas (3 operators): $active_gas"

# EigenLayerChecks: deployable, and a kms-signer signature checks as BLSSignatureChecker checks it.
receipt="$(cast send --rpc-url "$rpc" --json --private-key "$OWNER_KEY" --create "$(jq -r .bytecode "$art/EigenLayerChecks.json")")"
checks="$(jq -r .contractAddress <<<"$receipt")"
printf '%-44s gas %s\n' "deploy EigenLayerChecks" "$(gas_of "$receipt")"
result="$(cast call --rpc-url "$rpc" "$checks" \
  "trySignatureAndApkVerification(bytes32,(uint256,uint256),(uint256[2],uint256[2]),(uint256,uint256))(bool,bool)" \
  "$(jq -r .messageHash "$signer")" "$(g1 "$signer" .operators[0].g1)" "$(g2 "$signer" .operators[0].g2)" \
  "$(g1 "$signer" .operators[0].sign.signature)" | tr '\n' ' ')"
[ "$result" = "true true " ] || { echo "trySignatureAndApkVerification: $result" >&2; exit 1; }
echo "trySignatureAndApkVerification (kms-signer): $result"
echo "anvil smoke test passed"
