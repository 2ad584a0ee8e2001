#!/usr/bin/env bash
# Installs the external servers the tests run against, from Debian's packages, when they are missing.
# Each line of NEEDS is "command-to-look-for package [package...]"; a command given as an absolute path
# (a glob is allowed) is looked for as a file. Under CI=true a server that cannot be
# installed fails the run; elsewhere it fails too, since no test skips for a missing peer.
#
# --bench also installs the peers only the benchmarks run against (BENCH_NEEDS; npm test needs none of
# them): `bash scripts/test-deps.sh --bench`.
set -euo pipefail

NEEDS=(
  "etcd etcd-server"
  "etcdctl etcd-client"
  "prometheus-node-exporter prometheus-node-exporter"
  "shellcheck shellcheck"
  "/usr/lib/postgresql/*/bin/postgres postgresql"
  "nats-server nats-server"
  "prometheus prometheus"
  "influxd influxdb"
  "chromium chromium"
  "rclone rclone"
  "s3cmd s3cmd"
)

# Benchmark peers: redis-server for bench/flows (BullMQ's FlowProducer).
BENCH_NEEDS=(
  "/usr/bin/redis-server redis-server"
)

case "${1:-}" in
  --bench) NEEDS+=("${BENCH_NEEDS[@]}") ;;
  "") ;;
  *)
    echo "usage: bash scripts/test-deps.sh [--bench]" >&2
    exit 2
    ;;
esac

have() {
  case "$1" in
    /*) compgen -G "$1" >/dev/null ;;
    *) command -v "$1" >/dev/null 2>&1 ;;
  esac
}

missing=()
for line in "${NEEDS[@]}"; do
  read -r cmd pkgs <<<"$line"
  if ! have "$cmd"; then
    # shellcheck disable=SC2206 # a line may name several packages
    missing+=($pkgs)
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

echo "test-deps: installing ${missing[*]} from Debian's packages"
if [ "$(id -u)" -ne 0 ]; then
  SUDO=sudo
else
  SUDO=
fi
export DEBIAN_FRONTEND=noninteractive
if ! { $SUDO apt-get update -qq && $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"; } >/tmp/flotilla-test-deps.log 2>&1; then
  cat /tmp/flotilla-test-deps.log >&2
  echo "test-deps: could not install ${missing[*]}; the tests need them (see the log above)" >&2
  exit 1
fi

for line in "${NEEDS[@]}"; do
  read -r cmd _ <<<"$line"
  if ! have "$cmd"; then
    echo "test-deps: $cmd is still missing after installing its package" >&2
    exit 1
  fi
done
# Debian's packages start their services under systemd where it runs; the tests start their own
# servers on free ports, so a packaged service left running is stopped.
for svc in etcd prometheus-node-exporter postgresql nats-server prometheus influxdb redis-server; do
  if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet "$svc" 2>/dev/null; then
    $SUDO systemctl stop "$svc" || true
  fi
done
echo "test-deps: ok"
