#!/usr/bin/env bash
# Sets up a Flotilla server host (the control plane): packages, the project under /opt/flotilla, the
# `flotilla` system user, /etc/flotilla/server.env, the flotilla-server unit (enabled), ufw rules for
# 50051 (gRPC), 2379 (coordination) and 8080 (HTTP) when ufw is active, and a summary of the addresses
# and how to start and check. Running it again with the same options changes nothing.
#
#   sudo deploy/install-server.sh                      # this host, embedded coordination store on 2379
#   sudo deploy/install-server.sh --etcd 10.0.0.5:2379 # use a real etcd instead
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
    --server-ip) need_value "$@"; THIS_IP=$2; shift 2 ;;
    --grpc-port) need_value "$@"; GRPC_PORT=$2; shift 2 ;;
    --http-port) need_value "$@"; HTTP_PORT=$2; shift 2 ;;
    --coord-port) need_value "$@"; COORD_PORT=$2; shift 2 ;;
    --bind) need_value "$@"; BIND=$2; shift 2 ;;
    --etcd) need_value "$@"; ETCD=$2; shift 2 ;;
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
finish_common_options "$SCRIPT_DIR"
require_root_if_real

info "Flotilla server host: $THIS_IP${ROOT:+ (install root $ROOT)}${ETCD:+, real etcd $ETCD}"

# 1. Packages.
install_packages
# 2. The service user.
ensure_user
# 3. The project: copy and build.
sync_project
build_project
ensure_symlink "$BIN_LINK" "$PREFIX/bin/flotilla.js"
# 4. Configuration: one FLOTILLA_* variable per command-line option of `flotilla server`.
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
} | BACKUP=1 write_file "$ETC_DIR/server.env" 640
# 5. The unit.
install_unit flotilla-server.service "$SCRIPT_DIR"
enable_units flotilla-server.service
# 6. Firewall.
if [ -n "$ETCD" ]; then
  ufw_allow "$GRPC_PORT" "$HTTP_PORT"
else
  ufw_allow "$GRPC_PORT" "$COORD_PORT" "$HTTP_PORT"
fi
start_units flotilla-server.service
print_changes

if [ -n "$ETCD" ]; then
  coord_endpoints=$ETCD
else
  coord_endpoints="$THIS_IP:$COORD_PORT"
fi
cat <<EOF

==================================== SUMMARY ====================================
This host (server)   $THIS_IP
gRPC (agents, nodes) $THIS_IP:$GRPC_PORT
coordination (etcd)  $coord_endpoints${ETCD:+  (real etcd)}
HTTP API, dashboard  http://$THIS_IP:$HTTP_PORT/
Project              $PREFIX   (command: $BIN_LINK)
Data                 $STATE_DIR/server
Settings             $ETC_DIR/server.env   (unit: $UNIT_DIR/flotilla-server.service)

Start:
  sudo systemctl start flotilla-server
Check:
  systemctl status flotilla-server
  journalctl -u flotilla-server -f
  flotilla status --server $THIS_IP:$GRPC_PORT
  curl -s http://$THIS_IP:$HTTP_PORT/healthz
  etcdctl --endpoints=$coord_endpoints endpoint status -w table
On each agent host:
  sudo deploy/install-agent.sh --server-ip $THIS_IP --hostnames node-a,node-b
=================================================================================
EOF
