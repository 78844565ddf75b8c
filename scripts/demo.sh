#!/usr/bin/env bash
# The weft demo: three agents split the default range (10.32.0.0/12) by consensus, pods get addresses
# through the real CNI path, and every agent shows its view. As root (with the bridge plugin), each node
# is a network namespace on one LAN, its agent routing directly (WEFT_ROUTING=direct), and pods made by
# the real bridge plugin on every node ping the pods on the other nodes. Otherwise the agents run on
# loopback and the plugin is exec'd directly as a runtime would. Everything is torn down on exit,
# Ctrl-C included.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

# Not set on the agents: they use their built-in default.
RANGE=10.32.0.0/12
NODES=(node-1 node-2 node-3)
LAN=198.18.77
say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
note() { printf '   %s\n' "$*"; }

say "Preparing: system packages and the CNI plugin binary"
bash scripts/system-deps.sh
bash scripts/build-cni.sh --if-stale
note "plugin: $root/bin/weft-cni ($(du -h bin/weft-cni | cut -f1), a static C forwarder to the agent)"

work=$(mktemp -d "${TMPDIR:-/tmp}/weft-demo.XXXXXX")
plugin_dir="$work/cni-bin"
mkdir -p "$plugin_dir"
ln -s "$root/bin/weft-cni" "$plugin_dir/weft"
pids=()
namespaces=()

teardown() {
  local rc=$?
  trap - EXIT INT TERM
  say "Tearing down"
  for ns in "${namespaces[@]}"; do ip netns del "$ns" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
  done
  rm -rf "$work"
  note "agents stopped, namespaces and $work removed"
  exit "$rc"
}
trap teardown EXIT
trap 'exit 130' INT TERM

sock() { echo "$work/$1/weft.sock"; }
weft() { local node=$1; shift; timeout 90 ./bin/weft --socket "$(sock "$node")" "$@"; }

bridge_ok=false
if [ "$(id -u)" = 0 ] && [ -x /usr/lib/cni/bridge ] && command -v ip >/dev/null && command -v ping >/dev/null \
   && ip netns add "weft-demo-probe-$$" 2>/dev/null; then
  ip netns del "weft-demo-probe-$$"
  bridge_ok=true
fi

nodens() { echo "weftdemo-n$1-$$"; }
if $bridge_ok; then
  say "A LAN of three nodes ($LAN.0/24): each a network namespace on one switch"
  switch="weftdemo-sw-$$"
  ip netns add "$switch"; namespaces+=("$switch")
  ip -n "$switch" link add br0 type bridge && ip -n "$switch" link set br0 up
  for i in 0 1 2; do
    ns=$(nodens "$i")
    ip netns add "$ns"; namespaces+=("$ns")
    ip -n "$switch" link add "p$i" type veth peer name eth0 netns "$ns"
    ip -n "$switch" link set "p$i" master br0 up
    ip -n "$ns" addr add "$LAN.$((i + 1))/24" dev eth0
    ip -n "$ns" link set eth0 up && ip -n "$ns" link set lo up
    note "${NODES[$i]}: namespace $ns, eth0 $LAN.$((i + 1))"
  done
fi

key="$work/swarm.key"
(umask 077; printf '/key/swarm/psk/1.0.0/\n/base16/\n%s\n' "$(od -vN32 -An -tx1 /dev/urandom | tr -d ' \n')" >"$key")
if $bridge_ok; then
  say "Starting three agents, one per node (IPALLOC_INIT=consensus=3, WEFT_ROUTING=direct)"
  ports=(6783 6783 6783)
  host() { echo "$LAN.$(($1 + 1))"; }
else
  say "Starting three agents on 127.0.0.1 (default range $RANGE, IPALLOC_INIT=consensus=3)"
  host() { echo 127.0.0.1; }
  read -r -a ports <<<"$(node -e '
  const net = require("net"); const out = []; let n = 0
  for (let i = 0; i < 3; i++) { const s = net.createServer().listen(0, "127.0.0.1", () => {
    out[i] = s.address().port; s.close(); if (++n === 3) console.log(out.join(" ")) }) }')"
fi
for i in 0 1 2; do
  node=${NODES[$i]}
  peers=()
  for j in 0 1 2; do [ "$j" = "$i" ] || peers+=("/ip4/$(host "$j")/tcp/${ports[$j]}"); done
  mkdir -p "$work/$node"
  inns=()
  routing=(WEFT_ROUTING=none)
  if $bridge_ok; then inns=(ip netns exec "$(nodens "$i")"); routing=(WEFT_ROUTING=direct "WEFT_NODE_IP=$(host "$i")"); fi
  env IPALLOC_INIT=consensus=3 WEFT_PEERS="${peers[*]}" WEFT_NICKNAME="$node" "${routing[@]}" \
    WEFT_LISTEN="/ip4/$(host "$i")/tcp/${ports[$i]}" WEFT_DATA_DIR="$work/$node" WEFT_SOCKET="$(sock "$node")" \
    WEFT_SWARM_KEY_FILE="$key" WEFT_LOG_LEVEL=warn \
    "${inns[@]}" ./bin/weft agent >"$work/$node.log" 2>&1 &
  pids+=($!)
  note "$node: pid $!, port ${ports[$i]}, socket $(sock "$node")"
done

for node in "${NODES[@]}"; do
  for attempt in $(seq 100); do
    weft "$node" status >/dev/null 2>&1 && break
    if [ "$attempt" = 100 ]; then echo "weft demo: $node did not come up; its log:" >&2; tail -20 "$work/$node.log" >&2; exit 1; fi
    sleep 0.2
  done
done
note "all three answer on their sockets"

say "Priming: the three agents agree on one split of the range"
for node in "${NODES[@]}"; do note "$node: $(weft "$node" prime)"; done
weft node-1 status ipam

add_direct() { # node container: the plugin exec'd directly, as a runtime would
  local node=$1 id=$2
  printf '{"cniVersion":"1.1.0","name":"weft-demo","type":"weft","ipam":{"type":"weft","socket":"%s"}}' "$(sock "$node")" |
    CNI_COMMAND=ADD CNI_CONTAINERID=$id CNI_IFNAME=eth0 CNI_NETNS=/var/run/netns/$id CNI_PATH="$plugin_dir" \
    CNI_ARGS="IgnoreUnknown=1;K8S_POD_NAMESPACE=demo;K8S_POD_NAME=$id" timeout 60 ./bin/weft-cni >"$work/$id.json" \
    || { echo "weft demo: ADD of $id on $node failed: $(cat "$work/$id.json")" >&2; exit 1; }
  note "$id on $node: $(cat "$work/$id.json")"
}

if $bridge_ok; then
  say "Routes: every node routes the other nodes' ranges to them (proto 157 marks weft's)"
  for i in 0 1 2; do
    for attempt in $(seq 100); do
      [ "$(ip -n "$(nodens "$i")" route show proto 157 | wc -l)" -gt 0 ] && break
      if [ "$attempt" = 100 ]; then echo "weft demo: ${NODES[$i]} has no routes; its log:" >&2; tail -20 "$work/${NODES[$i]}.log" >&2; exit 1; fi
      sleep 0.2
    done
  done
  note "node-1 ($LAN.1):"
  ip -n "$(nodens 0)" route show proto 157 | sed 's/^/     /'

  say "Pods on every node through the real bridge plugin (bridge weft0, proxy ARP, the node's gateway)"
  pods=(); pod_addrs=(); pod_node=()
  for i in 0 1 2; do
    node=${NODES[$i]}
    # The bridge takes its address from the result: the gateway this node's agent reserved.
    conf=$(printf '{"cniVersion":"1.0.0","name":"weft-demo","type":"bridge","bridge":"weft0","isGateway":true,"ipMasq":false,"ipam":{"type":"weft","socket":"%s","routes":[{"dst":"0.0.0.0/0"}]}}' "$(sock "$node")")
    for letter in a b; do
      pod="pod-$((i + 1))$letter"
      ns="weftdemo-$pod-$$"
      ip netns add "$ns"; namespaces+=("$ns")
      result=$(printf '%s' "$conf" | CNI_COMMAND=ADD CNI_CONTAINERID="$pod" CNI_IFNAME=eth0 CNI_NETNS="/var/run/netns/$ns" \
        CNI_PATH="/usr/lib/cni:$plugin_dir" CNI_ARGS="IgnoreUnknown=1;K8S_POD_NAMESPACE=demo;K8S_POD_NAME=$pod" \
        timeout 60 ip netns exec "$(nodens "$i")" /usr/lib/cni/bridge) || { echo "weft demo: bridge ADD failed: $result" >&2; exit 1; }
      addr=$(ip -n "$ns" -4 -o addr show dev eth0 | awk '{print $4}')
      gw=$(ip -n "$(nodens "$i")" -4 -o addr show dev weft0 | awk '{print $4}')
      pods+=("$ns"); pod_addrs+=("${addr%/*}"); pod_node+=("$i")
      note "$pod on $node: eth0 $addr (gateway ${gw%/*})"
    done
  done

  say "Every pod pings every pod on the other nodes"
  failed=0
  for a in "${!pods[@]}"; do
    for b in "${!pods[@]}"; do
      [ "${pod_node[$a]}" = "${pod_node[$b]}" ] && continue
      ok=false
      for _ in 1 2 3 4 5; do
        if ip netns exec "${pods[$a]}" ping -c1 -W1 "${pod_addrs[$b]}" >/dev/null; then ok=true; break; fi
      done
      if $ok; then r=ok; else r=FAILED; failed=$((failed + 1)); fi
      note "${NODES[${pod_node[$a]}]} ${pod_addrs[$a]} -> ${NODES[${pod_node[$b]}]} ${pod_addrs[$b]}: $r"
    done
  done
  [ "$failed" = 0 ] || { echo "weft demo: $failed pings across nodes failed" >&2; exit 1; }
else
  say "Pods by exec'ing the plugin directly (not root, or no bridge plugin: no namespaces, no packets)"
  add_direct node-1 pod-a
  add_direct node-1 pod-b
  add_direct node-2 pod-c
  add_direct node-3 pod-d
  add_direct node-3 pod-e
fi

for node in "${NODES[@]}"; do
  say "$node: weft status"
  weft "$node" status
  say "$node: weft status ipam"
  weft "$node" status ipam
  say "$node: weft ps"
  weft "$node" ps
done
