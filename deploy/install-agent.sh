#!/usr/bin/env bash
# Sets up a Flotilla agent host: packages, the project under /opt/flotilla, the `flotilla` system user,
# /etc/flotilla/agent.env (the server's addresses), one flotilla-agent@<hostname> unit per agent (enabled;
# several agents per host are fine), optionally full nodes (flotilla-node@<name>, with their ports opened
# in ufw when it is active), and a summary of the addresses and how to start and check. Running it again
# with the same options changes nothing.
#
#   sudo deploy/install-agent.sh --server-ip 10.0.0.1 --hostnames node-a,node-b
#   sudo deploy/install-agent.sh --server-ip 10.0.0.1 --nodes node-c       # a full node instead
#   deploy/install-agent.sh --server-ip 10.0.0.1 --root /tmp/r --no-packages --skip-build   # try it
set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$SCRIPT_DIR/lib.sh"

SERVER_IP=""
GRPC_PORT=50051
COORD_PORT=2379
ETCD=""
HOSTNAMES=""
NODES=""
NODE_ROLES=""
NODE_PEER_PORT=7101
NODE_HTTP_PORT=9001

usage() {
  cat <<EOF
Usage: $0 --server-ip ADDR [options]

Installs Flotilla monitoring agents (and optionally full nodes) on this host as systemd units
flotilla-agent@<hostname> (and flotilla-node@<name>).

Agent options:
  --server-ip ADDR     the server host (required): its gRPC port and coordination store are used
  --grpc-port N        the server's gRPC port (default 50051)
  --coord-port N       the server's coordination port (default 2379)
  --etcd LIST          coordination endpoints host:port[,host:port...] (default SERVER-IP:2379)
  --hostnames LIST     agents to run here, comma-separated (default: this host's short name);
                       each runs as flotilla-agent@<hostname> with its own data directory
  --nodes LIST         full nodes to run here (agent, key-value replica, object store), comma-separated;
                       the i-th (from 0) listens on 7101+i (peer gRPC) and 9001+i (HTTP)
  --node-roles LIST    roles of those nodes (default: all of agent,kv,objects)
  --node-peer-port N   first peer gRPC port of the nodes (default 7101)
  --node-http-port N   first HTTP port of the nodes (default 9001)

$COMMON_USAGE
EOF
}

mapfile -t args < <(split_equals "$@")
set -- "${args[@]}"
while [ $# -gt 0 ]; do
  if common_option "$@"; then
    shift "$OPT_SHIFT"
    continue
  fi
  case "$1" in
    --server-ip) need_value "$@"; SERVER_IP=$2; shift 2 ;;
    --grpc-port) need_value "$@"; GRPC_PORT=$2; shift 2 ;;
    --coord-port) need_value "$@"; COORD_PORT=$2; shift 2 ;;
    --etcd) need_value "$@"; ETCD=$2; shift 2 ;;
    --hostnames) need_value "$@"; HOSTNAMES=$2; shift 2 ;;
    --nodes) need_value "$@"; NODES=$2; shift 2 ;;
    --node-roles) need_value "$@"; NODE_ROLES=$2; shift 2 ;;
    --node-peer-port) need_value "$@"; NODE_PEER_PORT=$2; shift 2 ;;
    --node-http-port) need_value "$@"; NODE_HTTP_PORT=$2; shift 2 ;;
    -h | --help) usage; exit 0 ;;
    *) err "unknown option '$1' (see --help)" ;;
  esac
done

[ -n "$SERVER_IP" ] || err "--server-ip ADDR is required: the address of the server host (see install-server.sh's summary)"
valid_host "$SERVER_IP" || err "--server-ip '$SERVER_IP' is not an IPv4 address or a host name"
valid_port "$GRPC_PORT" || err "--grpc-port must be a port number 1-65535 (got '$GRPC_PORT')"
valid_port "$COORD_PORT" || err "--coord-port must be a port number 1-65535 (got '$COORD_PORT')"
valid_port "$NODE_PEER_PORT" || err "--node-peer-port must be a port number 1-65535 (got '$NODE_PEER_PORT')"
valid_port "$NODE_HTTP_PORT" || err "--node-http-port must be a port number 1-65535 (got '$NODE_HTTP_PORT')"
[ -n "$ETCD" ] || ETCD="$SERVER_IP:$COORD_PORT"
IFS=',' read -r -a etcd_list <<<"$ETCD"
for e in "${etcd_list[@]}"; do
  e=${e#http://}
  if ! [[ "$e" =~ ^([A-Za-z0-9.-]+):([0-9]{1,5})$ ]] || ! valid_port "${BASH_REMATCH[2]}"; then
    err "--etcd: '$e' is not host:port (give host:port[,host:port...])"
  fi
done
if [ -n "$NODE_ROLES" ]; then
  IFS=',' read -r -a roles <<<"$NODE_ROLES"
  for r in "${roles[@]}"; do
    in_list "$r" agent kv objects || err "--node-roles: '$r' is not a role (agent, kv, objects)"
  done
fi

if [ -z "$HOSTNAMES" ] && [ -z "$NODES" ]; then
  HOSTNAMES=$(hostname -s 2>/dev/null || hostname)
fi
agents=()
nodes=()
[ -z "$HOSTNAMES" ] || IFS=',' read -r -a agents <<<"$HOSTNAMES"
[ -z "$NODES" ] || IFS=',' read -r -a nodes <<<"$NODES"
declare -A seen=()
for n in "${agents[@]}" "${nodes[@]}"; do
  valid_name "$n" || err "'$n' is not a valid agent or node name: 1-63 letters, digits, '.', '_' or '-', starting with a letter or digit"
  [ -z "${seen[$n]:-}" ] || err "the name '$n' is given twice (agents and nodes report under their name: each must be unique)"
  seen[$n]=1
done
if [ $((NODE_PEER_PORT + ${#nodes[@]})) -gt 65536 ] || [ $((NODE_HTTP_PORT + ${#nodes[@]})) -gt 65536 ]; then
  err "too many nodes for --node-peer-port $NODE_PEER_PORT / --node-http-port $NODE_HTTP_PORT"
fi
if [ ${#nodes[@]} -gt 0 ] && [ "$NODE_PEER_PORT" -lt "$NODE_HTTP_PORT" ] && [ $((NODE_PEER_PORT + ${#nodes[@]})) -gt "$NODE_HTTP_PORT" ]; then
  err "the nodes' peer ports ($NODE_PEER_PORT+) run into their HTTP ports ($NODE_HTTP_PORT+)"
fi
finish_common_options "$SCRIPT_DIR"
require_root_if_real

info "Flotilla agent host: $THIS_IP; server $SERVER_IP:$GRPC_PORT, coordination $ETCD${ROOT:+ (install root $ROOT)}"
info "agents: ${agents[*]:-none}; nodes: ${nodes[*]:-none}"

# 1. Packages.
install_packages
# 2. The service user.
ensure_user
# 3. The project: copy and build.
sync_project
build_project
ensure_symlink "$BIN_LINK" "$PREFIX/bin/flotilla.js"
# 4. Configuration: one FLOTILLA_* variable per command-line option.
{
  echo "# Settings shared by every flotilla-agent@<hostname> on this host: one FLOTILLA_* variable per option"
  echo "# of \`flotilla agent\` (FLOTILLA_SERVER is --server, FLOTILLA_ETCD is --etcd). An agent's own"
  echo "# /etc/flotilla/agent-<hostname>.env is read after this file and wins."
  echo "# Written by deploy/install-agent.sh; rerun it to change them (a changed file is kept as .bak),"
  echo "# then: systemctl restart 'flotilla-agent@*'"
  echo "FLOTILLA_SERVER=$SERVER_IP:$GRPC_PORT"
  echo "FLOTILLA_ETCD=$ETCD"
} | BACKUP=1 write_file "$ETC_DIR/agent.env" 640
for a in "${agents[@]}"; do
  {
    echo "# Settings of flotilla-agent@$a only, read after /etc/flotilla/agent.env (these win)."
    echo "# Yours to edit: deploy/install-agent.sh writes this file only when it is missing."
    echo "# Example, another server for this agent only: FLOTILLA_SERVER=HOST:50051"
  } | write_file_once "$ETC_DIR/agent-$a.env" 640
done
if [ ${#nodes[@]} -gt 0 ]; then
  {
    echo "# Settings shared by every flotilla-node@<name> on this host: one FLOTILLA_* variable per option"
    echo "# of \`flotilla node\` (FLOTILLA_JOIN is --join, FLOTILLA_ROLES is --roles, ...). A node's own"
    echo "# /etc/flotilla/node-<name>.env (its ports) is read after this file and wins."
    echo "# Written by deploy/install-agent.sh; rerun it to change them (a changed file is kept as .bak)."
    echo "FLOTILLA_JOIN=$SERVER_IP:$GRPC_PORT"
    echo "FLOTILLA_ADVERTISE_HOST=$THIS_IP"
    [ -z "$NODE_ROLES" ] || echo "FLOTILLA_ROLES=$NODE_ROLES"
  } | BACKUP=1 write_file "$ETC_DIR/node.env" 640
  i=0
  for n in "${nodes[@]}"; do
    {
      echo "# Ports of flotilla-node@$n, read after /etc/flotilla/node.env (these win)."
      echo "# Written by deploy/install-agent.sh (node number $i of --nodes); a changed file is kept as .bak."
      echo "FLOTILLA_LISTEN=0.0.0.0:$((NODE_PEER_PORT + i))"
      echo "FLOTILLA_HTTP=0.0.0.0:$((NODE_HTTP_PORT + i))"
    } | BACKUP=1 write_file "$ETC_DIR/node-$n.env" 640
    i=$((i + 1))
  done
fi
# 5. The units: both templates, one enabled instance per agent and node.
install_unit flotilla-agent@.service "$SCRIPT_DIR"
install_unit flotilla-node@.service "$SCRIPT_DIR"
instances=()
for a in "${agents[@]}"; do instances+=("flotilla-agent@$a.service"); done
for n in "${nodes[@]}"; do instances+=("flotilla-node@$n.service"); done
enable_units "${instances[@]}"
# 6. Firewall: agents only dial out; nodes are dialled by their peers.
ports=()
for ((i = 0; i < ${#nodes[@]}; i++)); do
  ports+=("$((NODE_PEER_PORT + i))" "$((NODE_HTTP_PORT + i))")
done
if [ ${#ports[@]} -gt 0 ]; then
  ufw_allow "${ports[@]}"
else
  info "firewall: nothing to open (agents only connect out to $SERVER_IP)"
fi
start_units "${instances[@]}"
print_changes

etcd_first=${etcd_list[0]#http://}
cat <<EOF

==================================== SUMMARY ====================================
This host            $THIS_IP
Server (gRPC)        $SERVER_IP:$GRPC_PORT
coordination (etcd)  $ETCD
Agents               ${agents[*]:-none}
Nodes                ${nodes[*]:-none}
Project              $PREFIX   (command: $BIN_LINK)
Data                 $STATE_DIR/agent-<hostname>, $STATE_DIR/node-<name>
Settings             $ETC_DIR/agent.env, $ETC_DIR/agent-<hostname>.env${nodes[0]:+, $ETC_DIR/node.env, $ETC_DIR/node-<name>.env}

Network first (the server must be running):
  nc -vz $SERVER_IP $GRPC_PORT
  nc -vz ${etcd_first%:*} ${etcd_first##*:}
Start:
  sudo systemctl start ${instances[*]}
Check:
  journalctl -u 'flotilla-agent@*' -f          # one line per agent: connected, config, batches
  flotilla status --agents --server $SERVER_IP:$GRPC_PORT
  etcdctl --endpoints=$ETCD get --prefix /monitor/heartbeat/ --keys-only
  etcdctl --endpoints=$ETCD put /monitor/config/${agents[0]:-${nodes[0]:-node-a}} '{"interval":2,"metrics":["cpu","memory"]}'
=================================================================================
EOF
