#!/usr/bin/env bash
# Sets up a Flotilla agent host: packages, the project under /opt/flotilla, the `flotilla` system user,
# the cluster join token (/etc/flotilla/join-token) and the certificates of this host's agents and nodes
# (/etc/flotilla/tls: ca.crt, NAME.crt, NAME.key; all checked against the CA before anything is written),
# /etc/flotilla/agent.env (the server's addresses, TLS), one flotilla-agent@<hostname> unit per agent
# (enabled; several agents per host are fine), optionally full nodes (flotilla-node@<name>, with their
# ports opened in ufw when it is active), and a summary of the addresses and how to start and check.
# Running it again with the same options changes nothing.
#
#   sudo deploy/install-agent.sh --server-ip 10.0.0.1 --hostnames node-a,node-b --tls-bundle 10.0.0.2.tar
#   sudo deploy/install-agent.sh --server-ip 10.0.0.1 --nodes node-c --tls-dir D --join-token-file D/join-token
#   deploy/install-agent.sh --server-ip 10.0.0.1 --root /tmp/r --no-packages --skip-build --no-tls \
#     --join-token-file FILE                                                   # try it
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
JOIN_TOKEN_FILE=""
TLS_BUNDLE=""
TLS_FROM_DIR=""

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

Tokens and certificates (what install-server.sh's summary says to copy here):
  --tls-bundle FILE    the tarball install-server.sh --agent-bundle wrote for this host: ca.crt, each
                       agent's and node's NAME.crt and NAME.key, and the join token
  --tls-dir DIR        the same files in a directory instead (ca.crt, NAME.crt, NAME.key; join-token)
  --join-token-file F  the cluster join token (the server host's /var/lib/flotilla/server/join-token);
                       default: join-token of the bundle or directory, else the value of the
                       environment variable FLOTILLA_JOIN_TOKEN. Required: agents and nodes present it.
  Every certificate must be signed by that ca.crt and name its agent or node; nothing is written
  when one is not. They go to /etc/flotilla/tls (keys 0600) and /etc/flotilla/join-token (0600),
  owned by the flotilla user.

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
    --join-token-file) need_value "$@"; JOIN_TOKEN_FILE=$2; shift 2 ;;
    --tls-bundle) need_value "$@"; TLS_BUNDLE=$2; shift 2 ;;
    --tls-dir) need_value "$@"; TLS_FROM_DIR=$2; shift 2 ;;
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

# Certificates and the join token: checked here, before anything is written.
tls_src=""   # a directory holding ca.crt, NAME.crt, NAME.key (the bundle unpacked, or --tls-dir)
if [ "$NO_TLS" = 1 ]; then
  [ -z "$TLS_BUNDLE$TLS_FROM_DIR" ] || err "--no-tls with --tls-bundle or --tls-dir: choose one"
  warn "--no-tls: this host's agents and nodes talk to the server in plain text, the join token included; use it only on a network you trust"
else
  need_openssl
  [ -z "$TLS_BUNDLE" ] || [ -z "$TLS_FROM_DIR" ] || err "give --tls-bundle FILE or --tls-dir DIR, not both"
  [ -n "$TLS_BUNDLE$TLS_FROM_DIR" ] || err "certificates are needed: give --tls-bundle FILE (install-server.sh --agent-bundle $THIS_IP=${agents[0]:-${nodes[0]:-NAME}} on the server host writes it) or --tls-dir DIR, or --no-tls"
  if [ -n "$TLS_BUNDLE" ]; then
    [ -f "$TLS_BUNDLE" ] || err "--tls-bundle $TLS_BUNDLE does not exist"
    [ -r "$TLS_BUNDLE" ] || err "--tls-bundle $TLS_BUNDLE cannot be read (run as root)"
    members=$(tar --list --file "$TLS_BUNDLE" 2>/dev/null) || err "--tls-bundle $TLS_BUNDLE is not a tar file (install-server.sh --agent-bundle writes it)"
    while IFS= read -r m; do
      m=${m#./}
      [ -n "$m" ] || continue
      [[ "$m" =~ ^([A-Za-z0-9][A-Za-z0-9._-]*\.(crt|key)|join-token)$ ]] ||
        err "--tls-bundle $TLS_BUNDLE holds '$m': a bundle holds only ca.crt, NAME.crt, NAME.key and join-token"
    done <<<"$members"
    ensure_scratch
    tls_src=$SCRATCH/bundle
    mkdir -m 700 -- "$tls_src"
    (umask 077 && tar --extract --file "$TLS_BUNDLE" --directory "$tls_src" --no-same-owner --no-same-permissions) ||
      err "--tls-bundle $TLS_BUNDLE could not be unpacked"
    [ -z "$(find "$tls_src" -mindepth 1 ! -type f -print -quit)" ] || err "--tls-bundle $TLS_BUNDLE holds something that is not a file"
    what="--tls-bundle $TLS_BUNDLE"
  else
    [ -d "$TLS_FROM_DIR" ] || err "--tls-dir $TLS_FROM_DIR is not a directory"
    tls_src=$(cd "$TLS_FROM_DIR" && pwd)
    what="--tls-dir $TLS_FROM_DIR"
  fi
  check_ca "$tls_src" "$what"
  for n in "${agents[@]}" "${nodes[@]}"; do
    if in_list "$n" ca server; then
      err "'$n' cannot name an agent or node with TLS (ca.crt and server.crt are the CA's and the server's certificates)"
    fi
    check_cert "$tls_src" "$n" "$what"
  done
fi
if [ -n "$JOIN_TOKEN_FILE" ]; then
  JOIN_TOKEN=$(check_join_token "$JOIN_TOKEN_FILE" "--join-token-file")
elif [ -n "$tls_src" ] && [ -e "$tls_src/join-token" ]; then
  JOIN_TOKEN=$(check_join_token "$tls_src/join-token" "${what:-}")
elif [ -n "${FLOTILLA_JOIN_TOKEN:-}" ]; then
  JOIN_TOKEN=$(tr -d '[:space:]' <<<"$FLOTILLA_JOIN_TOKEN")
  [[ "$JOIN_TOKEN" =~ $TOKEN_PATTERN ]] || err "FLOTILLA_JOIN_TOKEN does not hold a Flotilla token (flt_<id>_<secret>)"
elif [ -n "$TLS_BUNDLE" ]; then
  err "a join token is needed and --tls-bundle $TLS_BUNDLE has none: rerun install-server.sh --agent-bundle after the first start of the server (or give --join-token-file F, a copy of the server host's $STATE_DIR/server/join-token)"
else
  err "a join token is needed (agents and nodes present it to the server): give --join-token-file F with a copy of the server host's $STATE_DIR/server/join-token"
fi

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
# 4. The join token and the certificates, readable by the service user only (keys and token 0600).
printf '%s\n' "$JOIN_TOKEN" | write_file "$JOIN_TOKEN_PATH" 600
ensure_owner "$JOIN_TOKEN_PATH"
if [ "$NO_TLS" = 0 ]; then
  ensure_dir "$TLS_DIR" 750
  install_file "$tls_src/ca.crt" "$TLS_DIR/ca.crt" 644
  owned=("$TLS_DIR" "$TLS_DIR/ca.crt")
  for n in "${agents[@]}" "${nodes[@]}"; do
    install_file "$tls_src/$n.crt" "$TLS_DIR/$n.crt" 644
    install_file "$tls_src/$n.key" "$TLS_DIR/$n.key" 600
    owned+=("$TLS_DIR/$n.crt" "$TLS_DIR/$n.key")
  done
  ensure_owner "${owned[@]}"
  warn_if_no_tls_support
fi
# 5. Configuration: one FLOTILLA_* variable per command-line option.
{
  echo "# Settings shared by every flotilla-agent@<hostname> on this host: one FLOTILLA_* variable per option"
  echo "# of \`flotilla agent\` (FLOTILLA_SERVER is --server, FLOTILLA_ETCD is --etcd). An agent's own"
  echo "# /etc/flotilla/agent-<hostname>.env is read after this file and wins."
  echo "# Written by deploy/install-agent.sh; rerun it to change them (a changed file is kept as .bak),"
  echo "# then: systemctl restart 'flotilla-agent@*'"
  echo "FLOTILLA_SERVER=$SERVER_IP:$GRPC_PORT"
  echo "FLOTILLA_ETCD=$ETCD"
  if [ "$NO_TLS" = 0 ]; then
    echo "# Mutual TLS: ca.crt and each agent's <hostname>.crt and .key (--tls-name is the agent's name)."
    echo "FLOTILLA_TLS_DIR=$TLS_DIR"
  fi
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
    if [ "$NO_TLS" = 0 ]; then
      echo "# Mutual TLS: ca.crt and each node's <name>.crt and .key (--tls-name is the node's name)."
      echo "FLOTILLA_TLS_DIR=$TLS_DIR"
    fi
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
# 6. The units: both templates, one enabled instance per agent and node.
install_unit flotilla-agent@.service "$SCRIPT_DIR"
install_unit flotilla-node@.service "$SCRIPT_DIR"
instances=()
for a in "${agents[@]}"; do instances+=("flotilla-agent@$a.service"); done
for n in "${nodes[@]}"; do instances+=("flotilla-node@$n.service"); done
enable_units "${instances[@]}"
# 7. Firewall: agents only dial out; nodes are dialled by their peers.
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
first=${agents[0]:-${nodes[0]}}
if [ "$NO_TLS" = 1 ]; then
  tls_line="off (--no-tls): plain text to the server, the join token included"
  cli_tls="" etcd_tls="" etcd_endpoints=$ETCD
else
  tls_line="on: $TLS_DIR (ca.crt; <name>.crt and .key of each agent and node)"
  cli_tls=" --tls-ca $TLS_DIR/ca.crt --tls-dir $TLS_DIR --tls-name $first"
  etcd_tls=" --cacert=$TLS_DIR/ca.crt --cert=$TLS_DIR/$first.crt --key=$TLS_DIR/$first.key"
  etcd_endpoints=$(for e in "${etcd_list[@]}"; do printf '%s\n' "https://${e#http://}"; done | paste -sd, -)
fi
cat <<EOF

==================================== SUMMARY ====================================
This host            $THIS_IP
Server (gRPC)        $SERVER_IP:$GRPC_PORT
coordination (etcd)  $ETCD
Agents               ${agents[*]:-none}
Nodes                ${nodes[*]:-none}
TLS                  $tls_line
Join token           $JOIN_TOKEN_PATH (0600)
Project              $PREFIX   (command: $BIN_LINK)
Data                 $STATE_DIR/agent-<hostname>, $STATE_DIR/node-<name>
Settings             $ETC_DIR/agent.env, $ETC_DIR/agent-<hostname>.env${nodes[0]:+, $ETC_DIR/node.env, $ETC_DIR/node-<name>.env}

Network first (the server must be running):
  nc -vz $SERVER_IP $GRPC_PORT
  nc -vz ${etcd_first%:*} ${etcd_first##*:}
Start:
  sudo systemctl start ${instances[*]}
Check (an API token for flotilla status: FLOTILLA_TOKEN=... from flotilla auth token create --role reader):
  journalctl -u 'flotilla-agent@*' -f          # one line per agent: connected, config, batches
  sudo -E flotilla status --agents --server $SERVER_IP:$GRPC_PORT$cli_tls
  sudo etcdctl --endpoints=$etcd_endpoints$etcd_tls get --prefix /monitor/heartbeat/ --keys-only
  sudo etcdctl --endpoints=$etcd_endpoints$etcd_tls put /monitor/config/$first '{"interval":2,"metrics":["cpu","memory"]}'
=================================================================================
EOF
