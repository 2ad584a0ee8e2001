#!/usr/bin/env bash
# Sets up a Flotilla server host (the control plane): packages, the project under /opt/flotilla, the
# `flotilla` system user, the cluster CA (/etc/flotilla/ca, root only) and the server's certificate
# (/etc/flotilla/tls), /etc/flotilla/server.env (authentication on, TLS), the flotilla-server unit
# (enabled), ufw rules for 50051 (gRPC), 2379 (coordination) and 8080 (HTTP) when ufw is active, bundles
# for agent hosts (--agent-bundle: CA certificate, their certificates and keys, the join token), and a
# summary of the addresses, what to copy to an agent host and how to check. Running it again with the
# same options changes nothing.
#
#   sudo deploy/install-server.sh                      # this host, embedded coordination store on 2379
#   sudo deploy/install-server.sh --etcd 10.0.0.5:2379 # use a real etcd instead
#   sudo deploy/install-server.sh --start --agent-bundle 10.0.0.2=node-a,node-b   # and a bundle for VM2
#   deploy/install-server.sh --root /tmp/r --no-packages --skip-build   # try it in a throwaway root
set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$SCRIPT_DIR/lib.sh"

GRPC_PORT=50051
HTTP_PORT=8080
COORD_PORT=2379
BIND=0.0.0.0
ETCD=""
declare -a BUNDLES=()   # --agent-bundle ADDR=NAME[,NAME...]

usage() {
  cat <<EOF
Usage: $0 [options]

Installs the Flotilla server (control plane) on this host as the systemd unit flotilla-server.

Server options:
  --server-ip ADDR  same as --ip: the address agents and nodes use to reach this host
  --grpc-port N     gRPC port: agents, nodes and \`flotilla status\` (default 50051)
  --http-port N     HTTP API and dashboard port (default 8080)
  --coord-port N    port of the embedded coordination store, etcd v3 API (default 2379)
  --bind ADDR       address the server listens on (default 0.0.0.0: every interface)
  --etcd LIST       use a real etcd (host:port[,host:port...]) instead of the embedded store
  --agent-bundle ADDR=NAME[,NAME...]
                    for the agent host ADDR (its address as this host sees it) running the agents or
                    nodes NAME...: issue their certificates (when missing) and write
                    /etc/flotilla/bundles/ADDR.tar (0600): ca.crt, NAME.crt, NAME.key and the join
                    token (once the server has started and written it: rerun then); copy it to ADDR and
                    give it to install-agent.sh --tls-bundle (repeatable)

$COMMON_USAGE
EOF
}

# The cluster CA: created with `flotilla certs init` when CA_DIR has no ca.crt; kept otherwise.
ensure_ca() {
  local real
  real=$(at_root "$CA_DIR")
  if [ -f "$real/ca.crt" ]; then
    info "unchanged: $CA_DIR/ca.crt (the cluster CA)"
    return 0
  fi
  if [ "$DRY_RUN" = 1 ]; then
    info "would run: flotilla certs init --dir $CA_DIR"
    return 0
  fi
  node "$(flotilla_cli)" certs init --dir "$real" >/dev/null || err "flotilla certs init --dir $CA_DIR failed (see above)"
  info "created the cluster CA: $CA_DIR/ca.crt, $CA_DIR/ca.key (keep ca.key here, root only)"
  CHANGES=$((CHANGES + 1))
}

# ensure_issued NAME ADDR...: CA_DIR/NAME.crt exists, names every ADDR and is valid for 30 more days;
# issued (or issued again, replacing it) with `flotilla certs issue` otherwise.
ensure_issued() {
  local name=$1 real crt a why="" cli
  shift
  local -a ips=() dns=() args=()
  real=$(at_root "$CA_DIR")
  crt=$real/$name.crt
  for a in "$@"; do
    if is_ipv4 "$a"; then ips+=("$a"); else dns+=("$a"); fi
  done
  if [ -f "$crt" ]; then
    if ! openssl x509 -in "$crt" -noout -checkend 2592000 >/dev/null 2>&1; then
      why="it expires within 30 days"
    else
      local -a unnamed=()
      for a in "$@"; do
        cert_names "$crt" "$a" || unnamed+=("$a")
      done
      [ ${#unnamed[@]} -eq 0 ] || why="it does not name ${unnamed[*]}"
    fi
    if [ -z "$why" ]; then
      info "unchanged: $CA_DIR/$name.crt ($*)"
      return 0
    fi
    warn "$CA_DIR/$name.crt is replaced: $why"
  fi
  if [ "$DRY_RUN" = 1 ]; then
    info "would run: flotilla certs issue $name --dir $CA_DIR ${ips[*]:+--ip $(IFS=,; echo "${ips[*]}")} ${dns[*]:+--dns $(IFS=,; echo "${dns[*]}")}"
    return 0
  fi
  [ -f "$real/ca.key" ] || err "$CA_DIR/ca.key is missing, so the certificate of $name cannot be issued here: bring the CA key back, or issue it where the key is (flotilla certs issue $name --dir DIR --ip ADDR) and put it in $CA_DIR"
  args=(certs issue "$name" --dir "$real")
  [ ${#ips[@]} -eq 0 ] || args+=(--ip "$(IFS=,; echo "${ips[*]}")")
  [ ${#dns[@]} -eq 0 ] || args+=(--dns "$(IFS=,; echo "${dns[*]}")")
  [ -f "$crt" ] && args+=(--force)
  cli=$(flotilla_cli)
  node "$cli" "${args[@]}" >/dev/null || err "flotilla certs issue $name failed (see above)"
  info "issued: $CA_DIR/$name.crt ($*)"
  CHANGES=$((CHANGES + 1))
}

# make_bundle ADDR NAME,NAME...: BUNDLE_DIR/ADDR.tar (0600, root) with ca.crt, NAME.crt and NAME.key of
# each NAME (issued for ADDR when missing) and join-token once the server has written it. The tar is the
# same bytes for the same files (sorted, no owners, no times), so a rerun changes nothing.
make_bundle() {
  local addr=$1 list=$2 n stage token_file
  local -a names=() files=(ca.crt)
  IFS=',' read -r -a names <<<"$list"
  for n in "${names[@]}"; do
    ensure_issued "$n" "$addr"
    files+=("$n.crt" "$n.key")
  done
  if [ "$DRY_RUN" = 1 ]; then
    info "would write: $BUNDLE_DIR/$addr.tar (${files[*]} join-token)"
    return 0
  fi
  ensure_scratch
  stage=$SCRATCH/bundle-$addr
  rm -rf -- "$stage"
  mkdir -m 700 -- "$stage"
  for n in "${files[@]}"; do
    cp -- "$(at_root "$CA_DIR")/$n" "$stage/$n"
  done
  token_file=$(at_root "$STATE_DIR/server/join-token")
  if [ -f "$token_file" ]; then
    cp -- "$token_file" "$stage/join-token"
    files+=(join-token)
  else
    warn "$BUNDLE_DIR/$addr.tar has no join token yet: the server writes $STATE_DIR/server/join-token on its first start; start it, then rerun this command (or copy that file to $addr yourself)"
  fi
  chmod 600 "$stage"/*
  mapfile -t files < <(printf '%s\n' "${files[@]}" | LC_ALL=C sort)
  tar --create --file "$stage.tar" --format=ustar --mtime=@0 --owner=0 --group=0 --numeric-owner --mode=0600 -C "$stage" -- "${files[@]}" ||
    err "could not write the bundle of $addr"
  ensure_dir "$BUNDLE_DIR" 700
  install_file "$stage.tar" "$BUNDLE_DIR/$addr.tar" 600
}

mapfile -t args < <(split_equals "$@")
set -- "${args[@]}"
while [ $# -gt 0 ]; do
  if common_option "$@"; then
    shift "$OPT_SHIFT"
    continue
  fi
  case "$1" in
    --server-ip) need_value "$@"; THIS_IP=$2; shift 2 ;;
    --grpc-port) need_value "$@"; GRPC_PORT=$2; shift 2 ;;
    --http-port) need_value "$@"; HTTP_PORT=$2; shift 2 ;;
    --coord-port) need_value "$@"; COORD_PORT=$2; shift 2 ;;
    --bind) need_value "$@"; BIND=$2; shift 2 ;;
    --etcd) need_value "$@"; ETCD=$2; shift 2 ;;
    --agent-bundle) need_value "$@"; BUNDLES+=("$2"); shift 2 ;;
    -h | --help) usage; exit 0 ;;
    *) err "unknown option '$1' (see --help)" ;;
  esac
done

valid_port "$GRPC_PORT" || err "--grpc-port must be a port number 1-65535 (got '$GRPC_PORT')"
valid_port "$HTTP_PORT" || err "--http-port must be a port number 1-65535 (got '$HTTP_PORT')"
valid_port "$COORD_PORT" || err "--coord-port must be a port number 1-65535 (got '$COORD_PORT')"
if [ "$GRPC_PORT" = "$HTTP_PORT" ] || [ "$GRPC_PORT" = "$COORD_PORT" ] || [ "$HTTP_PORT" = "$COORD_PORT" ]; then
  err "--grpc-port, --http-port and --coord-port must differ"
fi
valid_host "$BIND" || err "--bind '$BIND' is not an IPv4 address or a host name"
if [ -n "$ETCD" ]; then
  IFS=',' read -r -a etcd_list <<<"$ETCD"
  for e in "${etcd_list[@]}"; do
    e=${e#http://}
    if ! [[ "$e" =~ ^([A-Za-z0-9.-]+):([0-9]{1,5})$ ]] || ! valid_port "${BASH_REMATCH[2]}"; then
      err "--etcd: '$e' is not host:port (give host:port[,host:port...])"
    fi
  done
fi
if [ -n "$THIS_IP" ] && ! valid_host "$THIS_IP"; then
  err "--server-ip '$THIS_IP' is not an IPv4 address or a host name"
fi
declare -A bundle_names=()   # ADDR -> NAME,NAME...
for b in "${BUNDLES[@]}"; do
  [ "$NO_TLS" = 0 ] || err "--agent-bundle holds certificates: it cannot go with --no-tls"
  [[ "$b" == *=* ]] || err "--agent-bundle '$b' is not ADDR=NAME[,NAME...] (the agent host's address and its agents and nodes)"
  addr=${b%%=*}
  valid_host "$addr" || err "--agent-bundle: '$addr' is not an IPv4 address or a host name"
  [ -z "${bundle_names[$addr]:-}" ] || err "--agent-bundle: the host $addr is given twice (list all its agents and nodes in one: $addr=a,b)"
  IFS=',' read -r -a names <<<"${b#*=}"
  [ ${#names[@]} -gt 0 ] || err "--agent-bundle '$b' names no agent or node"
  for n in "${names[@]}"; do
    valid_name "$n" || err "--agent-bundle: '$n' is not a valid agent or node name: 1-63 letters, digits, '.', '_' or '-', starting with a letter or digit"
    if in_list "$n" ca server; then
      err "--agent-bundle: '$n' cannot name an agent or node (ca.crt and server.crt are the CA's and the server's certificates)"
    fi
  done
  bundle_names[$addr]=${b#*=}
done
finish_common_options "$SCRIPT_DIR"
require_root_if_real
if [ "$NO_TLS" = 1 ]; then
  warn "--no-tls: gRPC, HTTP and the coordination store will be plain text between hosts, API and join tokens included; use it only on a network you trust"
else
  need_openssl
fi

info "Flotilla server host: $THIS_IP${ROOT:+ (install root $ROOT)}${ETCD:+, real etcd $ETCD}"

# 1. Packages.
install_packages
# 2. The service user.
ensure_user
# 3. The project: copy and build.
sync_project
build_project
ensure_symlink "$BIN_LINK" "$PREFIX/bin/flotilla.js"
# 4. TLS: the cluster CA in /etc/flotilla/ca (root only: ca.key signs every certificate), the server's
#    certificate for this host's address; what the service reads is copied to /etc/flotilla/tls, owned by
#    the service user (the key 0600).
server_names=("$THIS_IP")
fqdn=$(hostname -f 2>/dev/null) || fqdn=""
if [ -n "$fqdn" ] && [ "$fqdn" != "$THIS_IP" ] && [ "$fqdn" != localhost ] && valid_host "$fqdn"; then
  server_names+=("$fqdn")
fi
if [ "$NO_TLS" = 0 ]; then
  ensure_dir "$CA_DIR" 700
  ensure_ca
  ensure_issued server "${server_names[@]}"
  ensure_dir "$TLS_DIR" 750
  for f in ca.crt server.crt server.key; do
    mode=644
    [ "$f" = server.key ] && mode=600
    if [ "$DRY_RUN" = 1 ] && [ ! -f "$(at_root "$CA_DIR")/$f" ]; then
      info "would write: $TLS_DIR/$f"
    else
      install_file "$(at_root "$CA_DIR")/$f" "$TLS_DIR/$f" "$mode"
    fi
  done
  ensure_owner "$TLS_DIR" "$TLS_DIR/ca.crt" "$TLS_DIR/server.crt" "$TLS_DIR/server.key"
  warn_if_no_tls_support
fi
# 5. Configuration: one FLOTILLA_* variable per command-line option of `flotilla server`.
{
  echo "# Settings of flotilla-server.service: one FLOTILLA_* variable per option of \`flotilla server\`"
  echo "# (FLOTILLA_LISTEN is --listen, FLOTILLA_COORD_LISTEN is --coord-listen, ...)."
  echo "# Written by deploy/install-server.sh; rerun it to change them (a changed file is kept as .bak),"
  echo "# then: systemctl restart flotilla-server"
  echo "FLOTILLA_LISTEN=$BIND:$GRPC_PORT"
  echo "FLOTILLA_HTTP=$BIND:$HTTP_PORT"
  if [ -n "$ETCD" ]; then
    echo "FLOTILLA_ETCD=$ETCD"
  else
    echo "FLOTILLA_COORD_LISTEN=$BIND:$COORD_PORT"
  fi
  echo "# API tokens on whatever the addresses; the admin and join tokens are written to the data directory"
  echo "# ($STATE_DIR/server/admin-token, join-token, 0600) on the first start."
  echo "FLOTILLA_AUTH=on"
  if [ "$NO_TLS" = 0 ]; then
    echo "# Mutual TLS between server, nodes and agents, HTTPS for the API: ca.crt, server.crt, server.key."
    echo "FLOTILLA_TLS_DIR=$TLS_DIR"
    echo "FLOTILLA_TLS_NAME=server"
  fi
} | BACKUP=1 write_file "$ETC_DIR/server.env" 640
# 6. The unit.
install_unit flotilla-server.service "$SCRIPT_DIR"
enable_units flotilla-server.service
# 7. Firewall.
if [ -n "$ETCD" ]; then
  ufw_allow "$GRPC_PORT" "$HTTP_PORT"
else
  ufw_allow "$GRPC_PORT" "$COORD_PORT" "$HTTP_PORT"
fi
start_units flotilla-server.service
# 8. Bundles for agent hosts (after the start: the join token is written then).
if [ ${#BUNDLES[@]} -gt 0 ]; then
  if [ "$START" = 1 ] && is_real && systemd_running; then
    for ((i = 0; i < 30; i++)); do
      [ -f "$STATE_DIR/server/join-token" ] && break
      sleep 1
    done
  fi
  for addr in "${!bundle_names[@]}"; do
    make_bundle "$addr" "${bundle_names[$addr]}"
  done
fi
print_changes

if [ -n "$ETCD" ]; then
  coord_endpoints=$ETCD
else
  coord_endpoints="$THIS_IP:$COORD_PORT"
fi
admin_token="$STATE_DIR/server/admin-token"
join_token="$STATE_DIR/server/join-token"
if [ "$NO_TLS" = 1 ]; then
  scheme=http tls_line="off (--no-tls): everything between hosts is plain text, tokens included"
  curl_tls="" cli_tls="" etcd_tls="" etcd_endpoints=$coord_endpoints
else
  scheme=https tls_line="on: cluster CA $CA_DIR (ca.key: root only, keep it there), server certificate $TLS_DIR"
  curl_tls=" --cacert $TLS_DIR/ca.crt"
  cli_tls=" --tls-ca $TLS_DIR/ca.crt --tls-dir $TLS_DIR --tls-name server"
  if [ -n "$ETCD" ]; then
    etcd_tls="" etcd_endpoints=$coord_endpoints
  else
    etcd_tls=" --cacert=$TLS_DIR/ca.crt --cert=$TLS_DIR/server.crt --key=$TLS_DIR/server.key"
    etcd_endpoints="https://$coord_endpoints"
  fi
fi
if [ -n "$ETCD" ]; then
  open_ports="$GRPC_PORT, $HTTP_PORT"
else
  open_ports="$GRPC_PORT, $COORD_PORT, $HTTP_PORT"
fi
{
  cat <<EOF

==================================== SUMMARY ====================================
This host (server)   $THIS_IP
gRPC (agents, nodes) $THIS_IP:$GRPC_PORT
coordination (etcd)  $coord_endpoints${ETCD:+  (real etcd)}
HTTP API, dashboard  $scheme://$THIS_IP:$HTTP_PORT/
TLS                  $tls_line
Tokens               authentication on; the first start writes $admin_token
                     (admin API token) and $join_token (agents and nodes), both 0600
Firewall             TCP $open_ports in (ufw rules added when ufw is active)
Project              $PREFIX   (command: $BIN_LINK)
Data                 $STATE_DIR/server
Settings             $ETC_DIR/server.env   (unit: $UNIT_DIR/flotilla-server.service)

Start:
  sudo systemctl start flotilla-server
Check:
  systemctl status flotilla-server
  journalctl -u flotilla-server -f
  sudo flotilla status --server $THIS_IP:$GRPC_PORT --token-file $admin_token$cli_tls
  curl -s$curl_tls $scheme://$THIS_IP:$HTTP_PORT/healthz
  sudo etcdctl --endpoints=$etcd_endpoints$etcd_tls endpoint status -w table
EOF
  echo "On each agent host (below: 10.0.0.2 with the agents node-a and node-b):"
  if [ "$NO_TLS" = 1 ]; then
    cat <<EOF
  copy the join token after the first start:  sudo scp $join_token root@10.0.0.2:/root/join-token
  then on 10.0.0.2:
    sudo deploy/install-agent.sh --server-ip $THIS_IP --hostnames node-a,node-b --join-token-file /root/join-token --no-tls
EOF
  else
    cat <<EOF
  a) one file: after the first start, rerun this command with --agent-bundle 10.0.0.2=node-a,node-b
     (it issues their certificates; the bundle holds ca.crt, their .crt and .key, the join token), then
       sudo scp $BUNDLE_DIR/10.0.0.2.tar root@10.0.0.2:/root/
     and on 10.0.0.2:
       sudo deploy/install-agent.sh --server-ip $THIS_IP --hostnames node-a,node-b --tls-bundle /root/10.0.0.2.tar
  b) by hand, here: sudo flotilla certs issue node-a --dir $CA_DIR --ip 10.0.0.2   (and node-b)
     copy $CA_DIR/ca.crt, node-a.crt, node-a.key, node-b.crt, node-b.key (from $CA_DIR)
     and $join_token into one directory D on 10.0.0.2, then there:
       sudo deploy/install-agent.sh --server-ip $THIS_IP --hostnames node-a,node-b --tls-dir D --join-token-file D/join-token
EOF
  fi
  if [ ${#BUNDLES[@]} -gt 0 ]; then
    echo "Bundles:"
    for addr in "${!bundle_names[@]}"; do
      echo "  $BUNDLE_DIR/$addr.tar  for $addr (${bundle_names[$addr]}):  sudo scp $BUNDLE_DIR/$addr.tar root@$addr:/root/"
    done
  fi
  echo "================================================================================="
}
