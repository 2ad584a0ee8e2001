# shellcheck shell=bash
# Variables set here are read by the scripts that source this file:
# shellcheck disable=SC2034
# Shared by deploy/install-server.sh and deploy/install-agent.sh (sourced, never run).
#
# What lives here: messages (info/warn/err), option checks, the install root (--root: every file goes
# under it and system commands are printed instead of run), writing files only when their content changes
# (so that a second run changes nothing), packages, the project copy and build, units, ufw and the IP
# autodetection.

# ---- settings both scripts take (see common_option) ------------------------------------------------

PREFIX=/opt/flotilla     # where the project is installed, as seen on the target host
SOURCE=""                # the checkout to install from; default: the repository this script lives in
ROOT=""                  # install root for tests; empty: this host
DRY_RUN=0                # print what would change, write nothing
NO_PACKAGES=0            # do not call apt-get
SKIP_BUILD=0             # copy the built tree (bin, dist, proto, ...) of SOURCE; no npm
START=0                  # start (or restart) the services at the end
THIS_IP=""               # this host's address as others reach it; default: autodetected
NO_TLS=0                 # --no-tls: no certificates, plain gRPC/HTTP between hosts (warned about)

readonly ETC_DIR=/etc/flotilla
readonly UNIT_DIR=/etc/systemd/system
readonly STATE_DIR=/var/lib/flotilla
readonly SERVICE_USER=flotilla
readonly BIN_LINK=/usr/local/bin/flotilla
readonly INSTALL_MARKER=.flotilla-install
readonly BUILD_STAMP=.flotilla-build
readonly NODE_MAJOR_MIN=20
# TLS and tokens (docs/deploy.md, docs/security.md). The CA (ca.key signs every certificate) stays in
# CA_DIR, root only; TLS_DIR is what the services read (--tls-dir): ca.crt, NAME.crt, NAME.key.
readonly CA_DIR=/etc/flotilla/ca
readonly TLS_DIR=/etc/flotilla/tls
readonly JOIN_TOKEN_PATH=/etc/flotilla/join-token
readonly BUNDLE_DIR=/etc/flotilla/bundles
# A token as `flotilla auth token create` and the server's join-token file hold it (src/auth/tokens.ts).
readonly TOKEN_PATTERN='^flt_[0-9a-f]{12}_[A-Za-z0-9_-]{16,}$'
# Same rule as the CLI's node and agent names (src/cluster/membership/node-record.ts).
readonly NAME_PATTERN='^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$'

COPIED=0           # files copied by the last sync_project
CHANGES=0          # files written, commands run that change the host
UNITS_CHANGED=0    # a unit file was written: systemd must reload
declare -a LATER=()  # commands printed instead of run (shown again in the summary)

# ---- messages ---------------------------------------------------------------------------------------

if [ -t 1 ]; then
  _c_info=$'\033[1;34m' _c_warn=$'\033[1;33m' _c_err=$'\033[1;31m' _c_off=$'\033[0m'
else
  _c_info="" _c_warn="" _c_err="" _c_off=""
fi

info() { printf '%s[INFO]%s %s\n' "$_c_info" "$_c_off" "$*"; }
warn() { printf '%s[WARN]%s %s\n' "$_c_warn" "$_c_off" "$*" >&2; }
# Prints the message and ends the script (exit 1).
err() {
  printf '%s[ERR ]%s %s\n' "$_c_err" "$_c_off" "$*" >&2
  exit 1
}

# ---- options ----------------------------------------------------------------------------------------

# Turns "--opt=value" words into "--opt value" (prints one word per line, NUL-free input assumed).
# Usage: mapfile -t args < <(split_equals "$@"); set -- "${args[@]}"
split_equals() {
  local a
  for a in "$@"; do
    case "$a" in
      --*=*) printf '%s\n%s\n' "${a%%=*}" "${a#*=}" ;;
      *) printf '%s\n' "$a" ;;
    esac
  done
}

# need_value "$@": the option in $1 must be followed by a non-empty value.
need_value() {
  if [ $# -lt 2 ] || [ -z "$2" ] || [[ "$2" == --* ]]; then
    err "$1 needs a value (see --help)"
  fi
}

# Handles an option both scripts take. Sets OPT_SHIFT to the number of words it used; returns 1 when $1
# is not one of them.
common_option() {
  OPT_SHIFT=2
  case "$1" in
    --prefix) need_value "$@"; PREFIX=$2 ;;
    --source) need_value "$@"; SOURCE=$2 ;;
    --root) need_value "$@"; ROOT=$2 ;;
    --ip) need_value "$@"; THIS_IP=$2 ;;
    --no-packages) NO_PACKAGES=1; OPT_SHIFT=1 ;;
    --skip-build) SKIP_BUILD=1; OPT_SHIFT=1 ;;
    --dry-run) DRY_RUN=1; OPT_SHIFT=1 ;;
    --start) START=1; OPT_SHIFT=1 ;;
    --no-tls) NO_TLS=1; OPT_SHIFT=1 ;;
    *) return 1 ;;
  esac
}

COMMON_USAGE=$(cat <<'EOF'
Common options:
  --prefix DIR      install the project here (default /opt/flotilla)
  --source DIR      the checkout to install from (default: the repository holding this script)
  --skip-build      copy the built tree of --source (bin, dist, proto, package files) and run no npm;
                    dependencies must already be in PREFIX/node_modules (a previous install)
  --ip ADDR         this host's address as other hosts reach it (default: autodetected)
  --no-packages     do not install Debian packages (nodejs, npm, etcd-client)
  --start           start (or restart, when something changed) the services at the end
  --no-tls          no certificates: gRPC, HTTP and the coordination store in clear text between
                    hosts (tokens too); only for a private network you trust
  --root DIR        install into DIR as if it were / (tests): every file is written under DIR, and
                    apt-get, useradd, ufw and systemctl (except `systemctl --root DIR enable`) are
                    printed instead of run; needs no root privileges
  --dry-run         print what would change; write nothing, run nothing
  -h, --help        this text
EOF
)
readonly COMMON_USAGE

valid_name() { [[ "$1" =~ $NAME_PATTERN ]]; }
valid_port() { [[ "$1" =~ ^[0-9]{1,5}$ ]] && [ "$1" -ge 1 ] && [ "$1" -le 65535 ]; }
# An IPv4 address or a DNS name (what goes before :port in a FLOTILLA_* address).
valid_host() {
  [[ "$1" =~ ^[A-Za-z0-9]([A-Za-z0-9.-]{0,251}[A-Za-z0-9])?$ ]]
}

# Checks the common settings and derives the rest. $1: the directory of the calling script.
finish_common_options() {
  local script_dir=$1
  if [ -z "$SOURCE" ]; then
    SOURCE=$(cd "$script_dir/.." && pwd)
  fi
  [ -d "$SOURCE" ] || err "--source $SOURCE is not a directory"
  SOURCE=$(cd "$SOURCE" && pwd)
  if [ ! -f "$SOURCE/package.json" ] || [ ! -f "$SOURCE/bin/flotilla.js" ]; then
    err "--source $SOURCE is not a Flotilla checkout (no package.json and bin/flotilla.js)"
  fi
  [[ "$PREFIX" =~ ^/[A-Za-z0-9._/-]+$ ]] || err "--prefix must be an absolute path of letters, digits, '.', '_', '-' and '/' (got '$PREFIX')"
  PREFIX=${PREFIX%/}
  case "$PREFIX" in
    / | /usr | /usr/local | /opt | /etc | /var | /var/lib | /home | /root) err "--prefix $PREFIX is a system directory; use a directory of its own such as /opt/flotilla" ;;
  esac
  if [ -n "$ROOT" ]; then
    mkdir -p -- "$ROOT" 2>/dev/null || [ "$DRY_RUN" = 1 ] || err "cannot create --root $ROOT"
    if [ -d "$ROOT" ]; then ROOT=$(cd "$ROOT" && pwd); fi
    [ "$ROOT" = / ] && ROOT=""
  fi
  if [ -n "$THIS_IP" ]; then
    valid_host "$THIS_IP" || err "--ip '$THIS_IP' is not an IPv4 address or a host name"
  else
    THIS_IP=$(detect_ip)
  fi
}

# Root check: only a real install (no --root, no --dry-run) needs root.
require_root_if_real() {
  if is_real && [ "$(id -u)" -ne 0 ]; then
    err "run as root (sudo $0 ...), or use --root DIR / --dry-run to try it without"
  fi
}

# True when the script acts on this host (no --root, no --dry-run).
is_real() { [ -z "$ROOT" ] && [ "$DRY_RUN" = 0 ]; }

# ---- the host ---------------------------------------------------------------------------------------

# This host's IPv4 address on the interface of the default route; then the first global address; then
# `hostname -I`; 127.0.0.1 as the last resort (with a warning).
detect_ip() {
  local dev="" addr=""
  if command -v ip >/dev/null 2>&1; then
    dev=$(ip -4 -o route show default 2>/dev/null | awk '{for (i = 1; i < NF; i++) if ($i == "dev") { print $(i + 1); exit }}')
    if [ -n "$dev" ]; then
      addr=$(ip -4 -o addr show dev "$dev" scope global 2>/dev/null | awk '{split($4, a, "/"); print a[1]; exit}')
    fi
    if [ -z "$addr" ]; then
      addr=$(ip -4 -o addr show scope global 2>/dev/null | awk '{split($4, a, "/"); print a[1]; exit}')
    fi
  fi
  if [ -z "$addr" ] && command -v hostname >/dev/null 2>&1; then
    addr=$(hostname -I 2>/dev/null | awk '{print $1}') || addr=""
  fi
  if [ -z "$addr" ]; then
    warn "could not find this host's address; using 127.0.0.1 (give --ip ADDR)"
    addr=127.0.0.1
  fi
  printf '%s\n' "$addr"
}

# Runs a command that changes this host, or prints it under --root / --dry-run.
run_system() {
  if is_real; then
    info "run: $*"
    "$@"
    CHANGES=$((CHANGES + 1))
  else
    info "would run: $*"
    LATER+=("$*")
  fi
}

node_major() {
  local v
  command -v node >/dev/null 2>&1 || { echo 0; return; }
  v=$(node --version 2>/dev/null) || { echo 0; return; }
  v=${v#v}
  echo "${v%%.*}"
}

# apt-get install of what is missing: nodejs and npm when node is missing or older than 20 (or npm is
# missing and a build is needed), etcd-client for etcdctl, netcat-openbsd for the network checks.
install_packages() {
  local -a pkgs=()
  local major
  major=$(node_major)
  if [ "$major" -lt "$NODE_MAJOR_MIN" ]; then
    pkgs+=(nodejs npm)
  elif [ "$SKIP_BUILD" = 0 ] && ! command -v npm >/dev/null 2>&1; then
    pkgs+=(npm)
  fi
  command -v etcdctl >/dev/null 2>&1 || pkgs+=(etcd-client)
  command -v nc >/dev/null 2>&1 || pkgs+=(netcat-openbsd)
  [ -f /etc/ssl/certs/ca-certificates.crt ] || pkgs+=(ca-certificates)
  if [ "$NO_PACKAGES" = 1 ]; then
    if [ ${#pkgs[@]} -gt 0 ]; then
      warn "--no-packages: not installing ${pkgs[*]}"
    fi
  elif [ ${#pkgs[@]} -eq 0 ]; then
    info "packages: node $(node --version), npm, etcdctl and nc are present"
  else
    command -v apt-get >/dev/null 2>&1 || err "apt-get not found: install ${pkgs[*]} yourself and rerun with --no-packages"
    run_system apt-get update -q
    run_system env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${pkgs[@]}"
  fi
  major=$(node_major)
  if [ "$major" -lt "$NODE_MAJOR_MIN" ]; then
    local msg
    msg="Node.js $NODE_MAJOR_MIN or newer is needed (found: $(node --version 2>/dev/null || echo none)); Debian 12's nodejs is 18: install Node.js 20+ (Debian 13's nodejs, or NodeSource's) and rerun with --no-packages"
    if is_real; then err "$msg"; else warn "$msg"; fi
  fi
}

# The system user the services run as (no login, no home of its own).
ensure_user() {
  if id -u "$SERVICE_USER" >/dev/null 2>&1; then
    info "user $SERVICE_USER exists"
  else
    run_system useradd --system --user-group --home-dir "$STATE_DIR" --no-create-home --shell /usr/sbin/nologin "$SERVICE_USER"
  fi
}

# ---- files (only written when their content or mode changes) ----------------------------------------

# The path of a target-host path in the install root.
at_root() { printf '%s%s\n' "$ROOT" "$1"; }

# write_file PATH MODE < content: writes PATH (a target-host path) when its content or mode differs.
# With BACKUP=1 in the environment a different existing file is kept as PATH.bak first.
write_file() {
  local path=$1 mode=$2 real content
  real=$(at_root "$path")
  content=$(cat; printf x)
  content=${content%x}
  if [ -f "$real" ] && printf '%s' "$content" | cmp -s - "$real" && [ "$(stat -c %a "$real")" = "$mode" ]; then
    info "unchanged: $path"
    return 0
  fi
  if [ "$DRY_RUN" = 1 ]; then
    info "would write: $path"
    return 0
  fi
  mkdir -p -- "$(dirname -- "$real")"
  if [ "${BACKUP:-0}" = 1 ] && [ -f "$real" ] && ! printf '%s' "$content" | cmp -s - "$real"; then
    cp -p -- "$real" "$real.bak"
    warn "$path differed from what this script writes; the old one is $path.bak"
  fi
  # Created 0600 and then given its mode: a secret is never readable by others, not even for a moment.
  (umask 077 && printf '%s' "$content" >"$real.tmp.$$")
  chmod "$mode" "$real.tmp.$$"
  mv -f -- "$real.tmp.$$" "$real"
  info "wrote: $path"
  CHANGES=$((CHANGES + 1))
}

# write_file_once PATH MODE < content: writes PATH only when it does not exist (it is the admin's after).
write_file_once() {
  local path=$1
  if [ -e "$(at_root "$path")" ]; then
    cat >/dev/null
    info "kept: $path"
    return 0
  fi
  write_file "$@"
}

# copy_file SRC PATH: copies a file of the source tree to a target-host path, keeping the executable bit
# (0755 or 0644). An identical file with that mode is left alone.
copy_file() {
  local src=$1 path=$2 real mode=644
  real=$ROOT$path
  [ -x "$src" ] && mode=755
  if [ -f "$real" ] && [ ! -L "$real" ] && cmp -s -- "$src" "$real" && [ "$(stat -c %a -- "$real")" = "$mode" ]; then
    return 0
  fi
  CHANGES=$((CHANGES + 1))
  COPIED=$((COPIED + 1))
  [ "$DRY_RUN" = 1 ] && return 0
  install -D -m "$mode" -- "$src" "$real"
}

# ensure_symlink LINK TARGET (target-host paths; TARGET is stored as given).
ensure_symlink() {
  local link=$1 target=$2 real
  real=$(at_root "$link")
  if [ -L "$real" ] && [ "$(readlink -- "$real")" = "$target" ]; then
    info "unchanged: $link -> $target"
    return 0
  fi
  if [ -e "$real" ] && [ ! -L "$real" ]; then
    warn "$link exists and is not a link; leaving it (the command is $target)"
    return 0
  fi
  if [ "$DRY_RUN" = 1 ]; then
    info "would link: $link -> $target"
    return 0
  fi
  mkdir -p -- "$(dirname -- "$real")"
  ln -sfn -- "$target" "$real"
  info "linked: $link -> $target"
  CHANGES=$((CHANGES + 1))
}

# ---- the project ------------------------------------------------------------------------------------

# What a full install copies from the checkout: everything but these top-level entries.
readonly -a SOURCE_EXCLUDE=(.git node_modules dist .flotilla test bench coverage .ci)
# What --skip-build copies: the built tree and what the units and docs point at.
readonly -a BUILT_SET=(bin dist proto deploy docs package.json package-lock.json README.md LICENSE)
# Entries of PREFIX a full install keeps although the checkout has none.
readonly -a PREFIX_KEEP=(node_modules dist "$INSTALL_MARKER" "$BUILD_STAMP")

# The top-level entries of SOURCE to install (one per line).
source_entries() {
  local e name
  if [ "$SKIP_BUILD" = 1 ]; then
    for e in "${BUILT_SET[@]}"; do
      [ -e "$SOURCE/$e" ] && printf '%s\n' "$e"
    done
    return 0
  fi
  for e in "$SOURCE"/* "$SOURCE"/.[!.]*; do
    [ -e "$e" ] || continue
    name=${e##*/}
    in_list "$name" "${SOURCE_EXCLUDE[@]}" || printf '%s\n' "$name"
  done
}

in_list() {
  local x=$1 y
  shift
  for y in "$@"; do [ "$x" = "$y" ] && return 0; done
  return 1
}

# index_files DIR HASHES MODES ENTRY...: fills the associative arrays named HASHES and MODES with the
# sha256 and the permission bits (octal, as find prints them) of every regular file under DIR/ENTRY...,
# keyed by the path relative to DIR.
index_files() {
  local dir=$1 e m p h
  local -n _hashes=$2 _modes=$3
  shift 3
  local -a present=()
  for e in "$@"; do
    [ -e "$dir/$e" ] && present+=("$e")
  done
  [ ${#present[@]} -gt 0 ] || return 0
  while IFS=' ' read -r -d '' m p; do
    _modes["$p"]=$m
  done < <(cd "$dir" && find "${present[@]}" -type f -printf '%m %p\0')
  while read -r h p; do
    _hashes["$p"]=$h
  done < <(cd "$dir" && find "${present[@]}" -type f -print0 | xargs -0 -r sha256sum --)
}

# Copies the chosen entries of SOURCE into PREFIX (files that differ only) and removes files of PREFIX
# that the checkout no longer has (within the copied entries; for a full install, at the top level too).
sync_project() {
  local -a entries
  local e f rel real_prefix
  local -A wanted=()
  real_prefix=$(at_root "$PREFIX")
  if [ -d "$real_prefix" ] && [ -n "$(ls -A "$real_prefix")" ] && [ ! -e "$real_prefix/$INSTALL_MARKER" ]; then
    err "$PREFIX exists, is not empty and was not installed by these scripts ($INSTALL_MARKER missing); choose another --prefix"
  fi
  if [ "$SKIP_BUILD" = 1 ] && [ ! -f "$SOURCE/dist/cli/main.js" ]; then
    err "--skip-build: $SOURCE has no built dist/ (run npm run build there, or drop --skip-build)"
  fi
  mapfile -t entries < <(source_entries)
  COPIED=0
  # Both trees hashed in one pass each (not a cmp per file): only what differs is copied.
  local -A src_hash=() src_mode=() dst_hash=() dst_mode=()
  local mode
  index_files "$SOURCE" src_hash src_mode "${entries[@]}"
  index_files "$real_prefix" dst_hash dst_mode "${entries[@]}"
  for rel in "${!src_hash[@]}"; do
    wanted[$rel]=1
    mode=644
    (((8#${src_mode[$rel]}) & 8#100)) && mode=755
    [ "${dst_hash[$rel]:-}" = "${src_hash[$rel]}" ] && [ "${dst_mode[$rel]:-}" = "$mode" ] && continue
    copy_file "$SOURCE/$rel" "$PREFIX/$rel"
  done
  # Stale files: gone from the checkout since the last install.
  local removed=0
  if [ -d "$real_prefix" ]; then
    for e in "${entries[@]}"; do
      [ -d "$real_prefix/$e" ] || continue
      while IFS= read -r -d '' f; do
        rel=${f#"$real_prefix"/}
        if [ -z "${wanted[$rel]:-}" ]; then
          removed=$((removed + 1))
          [ "$DRY_RUN" = 1 ] || rm -f -- "$f"
        fi
      done < <(find "$real_prefix/$e" \( -type f -o -type l \) -print0)
      [ "$DRY_RUN" = 1 ] || find "$real_prefix/$e" -mindepth 1 -type d -empty -delete
    done
    if [ "$SKIP_BUILD" = 0 ]; then
      for f in "$real_prefix"/* "$real_prefix"/.[!.]*; do
        [ -e "$f" ] || [ -L "$f" ] || continue
        rel=${f##*/}
        in_list "$rel" "${entries[@]}" "${PREFIX_KEEP[@]}" && continue
        removed=$((removed + 1))
        [ "$DRY_RUN" = 1 ] || rm -rf -- "$f"
      done
    fi
  fi
  CHANGES=$((CHANGES + removed))
  if [ "$COPIED" -eq 0 ] && [ "$removed" -eq 0 ]; then
    info "unchanged: $PREFIX (${#entries[@]} entries of $SOURCE)"
  else
    local verb=""
    [ "$DRY_RUN" = 1 ] && verb="would have "
    info "${verb}copied $COPIED file(s), removed $removed stale file(s): $SOURCE -> $PREFIX"
  fi
  printf 'Installed by deploy/install-*.sh from a Flotilla checkout; rerun them to update.\n' |
    write_file "$PREFIX/$INSTALL_MARKER" 644
}

# The fingerprint of the installed sources and the Node.js major version the build ran with.
build_fingerprint() {
  local real_prefix
  real_prefix=$(at_root "$PREFIX")
  {
    echo "node $(node_major)"
    cd "$real_prefix" &&
      find . -path ./node_modules -prune -o -path ./dist -prune -o -name "$BUILD_STAMP" -prune -o -name "$INSTALL_MARKER" -prune -o -type f -print0 |
      sort -z | xargs -0 -r sha256sum
  } | sha256sum | awk '{print $1}'
}

# npm ci (development dependencies too: the prepare script compiles dist/), then npm prune --omit=dev.
# Skipped when the sources and the node version are those of the last build.
build_project() {
  local real_prefix fp
  real_prefix=$(at_root "$PREFIX")
  if [ "$SKIP_BUILD" = 1 ]; then
    if [ ! -d "$real_prefix/node_modules" ]; then
      warn "--skip-build: $PREFIX/node_modules is missing; the services need the production dependencies: (cd $PREFIX && npm ci --omit=dev --ignore-scripts)"
    fi
    return 0
  fi
  if [ "$DRY_RUN" = 1 ]; then
    info "would run (when the sources changed): cd $PREFIX && npm ci && npm prune --omit=dev"
    return 0
  fi
  fp=$(build_fingerprint)
  if [ -f "$real_prefix/$BUILD_STAMP" ] && [ "$(cat "$real_prefix/$BUILD_STAMP")" = "$fp" ] &&
    [ -f "$real_prefix/dist/cli/main.js" ] && [ -d "$real_prefix/node_modules" ]; then
    info "unchanged: build of $PREFIX (sources and node version as last time)"
    return 0
  fi
  command -v npm >/dev/null 2>&1 || err "npm is missing: install it (or drop --no-packages), or use --skip-build"
  info "building in $PREFIX: npm ci (this takes a minute or two)"
  rm -rf -- "$real_prefix/dist"
  (cd "$real_prefix" && npm ci --no-audit --no-fund --loglevel=error && npm prune --omit=dev --no-audit --no-fund --loglevel=error) ||
    err "the build in $PREFIX failed (see npm's messages above)"
  [ -f "$real_prefix/dist/cli/main.js" ] || err "the build in $PREFIX made no dist/cli/main.js"
  printf '%s\n' "$fp" >"$real_prefix/$BUILD_STAMP"
  CHANGES=$((CHANGES + 1))
  info "built: $PREFIX"
}

# ---- units, services, firewall ----------------------------------------------------------------------

# install_unit NAME: deploy/systemd/NAME of the checkout (else of this script's directory), with
# /opt/flotilla replaced by PREFIX, into /etc/systemd/system.
install_unit() {
  local name=$1 script_dir=$2 src before
  src="$SOURCE/deploy/systemd/$name"
  [ -f "$src" ] || src="$script_dir/systemd/$name"
  [ -f "$src" ] || err "unit file $name not found in $SOURCE/deploy/systemd or $script_dir/systemd"
  before=$CHANGES
  sed "s#/opt/flotilla#$PREFIX#g" "$src" | write_file "$UNIT_DIR/$name" 644
  [ "$CHANGES" -eq "$before" ] || UNITS_CHANGED=1
}

systemd_running() { [ -d /run/systemd/system ]; }

# enable_units UNIT...: daemon-reload when a unit file changed, then enable each unit not yet enabled.
# Under --root the links are made with `systemctl --root DIR enable` (offline, inside the root).
enable_units() {
  local u
  if [ "$DRY_RUN" = 1 ]; then
    info "would run: systemctl daemon-reload && systemctl enable $*"
    return 0
  fi
  if [ -n "$ROOT" ]; then
    [ "$UNITS_CHANGED" = 1 ] && run_system systemctl daemon-reload
    if ! command -v systemctl >/dev/null 2>&1; then
      info "would run: systemctl enable $* (no systemctl here to make the links under $ROOT)"
      return 0
    fi
    for u in "$@"; do
      if systemctl --root="$ROOT" is-enabled --quiet "$u" 2>/dev/null; then
        info "unchanged: $u enabled"
      else
        systemctl --root="$ROOT" enable "$u" >/dev/null 2>&1 || err "systemctl --root=$ROOT enable $u failed"
        info "enabled (in $ROOT): $u"
        CHANGES=$((CHANGES + 1))
      fi
    done
    return 0
  fi
  if ! systemd_running; then
    warn "systemd is not running on this host (a container?): the units are installed but not enabled"
    LATER+=("systemctl daemon-reload" "systemctl enable $*")
    return 0
  fi
  [ "$UNITS_CHANGED" = 1 ] && run_system systemctl daemon-reload
  for u in "$@"; do
    if systemctl is-enabled --quiet "$u" 2>/dev/null; then
      info "unchanged: $u enabled"
    else
      run_system systemctl enable "$u"
    fi
  done
}

# start_units UNIT...: with --start, restart them when this run changed something, else start them
# (a no-op for a running unit).
start_units() {
  [ "$START" = 1 ] || return 0
  if ! is_real || ! systemd_running; then
    info "would run: systemctl start $*"
    return 0
  fi
  if [ "$CHANGES" -gt 0 ]; then
    run_system systemctl restart "$@"
  else
    systemctl start "$@"
    info "started (already running units untouched): $*"
  fi
}

# ufw_allow PORT...: when ufw is active, allow each TCP port (once).
ufw_allow() {
  local p status
  [ $# -gt 0 ] || return 0
  if ! is_real; then
    info "would run (if ufw is active): $(printf 'ufw allow %s/tcp; ' "$@")"
    return 0
  fi
  if ! command -v ufw >/dev/null 2>&1; then
    info "ufw is not installed: no firewall rule added (open TCP $* yourself if a firewall is in the way)"
    return 0
  fi
  status=$(ufw status 2>/dev/null) || status=""
  if ! grep -q '^Status: active' <<<"$status"; then
    info "ufw is not active: no firewall rule added"
    return 0
  fi
  for p in "$@"; do
    if grep -Eq "^$p/tcp[[:space:]]+ALLOW" <<<"$status"; then
      info "unchanged: ufw allows $p/tcp"
    else
      run_system ufw allow "$p/tcp" comment flotilla
    fi
  done
}

# ---- certificates and tokens ------------------------------------------------------------------------

is_ipv4() { [[ "$1" =~ ^[0-9]{1,3}(\.[0-9]{1,3}){3}$ ]]; }

# SCRATCH: a directory of this run, removed when the script ends however it ends. Call ensure_scratch in
# the script itself (not in $(...), whose end would remove it).
SCRATCH=""
ensure_scratch() {
  if [ -z "$SCRATCH" ]; then
    SCRATCH=$(mktemp -d "${TMPDIR:-/tmp}/flotilla-install.XXXXXX")
    chmod 700 "$SCRATCH"
    trap 'rm -rf -- "$SCRATCH"' EXIT
  fi
}

need_openssl() {
  command -v openssl >/dev/null 2>&1 || err "openssl is needed to check the certificates: apt-get install openssl (or give --no-tls)"
}

# ensure_dir PATH MODE: a directory (target-host path) with that mode.
ensure_dir() {
  local path=$1 mode=$2 real
  real=$(at_root "$path")
  if [ -d "$real" ] && [ "$(stat -c %a -- "$real")" = "$mode" ]; then
    return 0
  fi
  if [ "$DRY_RUN" = 1 ]; then
    info "would create: $path/ ($mode)"
    return 0
  fi
  mkdir -p -- "$real"
  chmod "$mode" -- "$real"
  info "directory: $path ($mode)"
  CHANGES=$((CHANGES + 1))
}

# ensure_owner PATH...: target-host paths owned by the service user, which must read them (its key, its
# token). Under --root that user does not exist: the chown is printed.
ensure_owner() {
  local p real
  [ "$DRY_RUN" = 1 ] && return 0
  for p in "$@"; do
    real=$(at_root "$p")
    if ! is_real; then
      LATER+=("chown $SERVICE_USER:$SERVICE_USER $p")
    elif [ "$(stat -c %U:%G -- "$real")" != "$SERVICE_USER:$SERVICE_USER" ]; then
      chown "$SERVICE_USER:$SERVICE_USER" -- "$real"
      info "owner of $p: $SERVICE_USER"
      CHANGES=$((CHANGES + 1))
    fi
  done
}

# install_file SRC PATH MODE: copies a file to a target-host path when its content or mode differs (any
# content: certificates, keys, tarballs). The copy is never readable by others before it has its mode.
install_file() {
  local src=$1 path=$2 mode=$3 real
  real=$(at_root "$path")
  if [ -f "$real" ] && cmp -s -- "$src" "$real" && [ "$(stat -c %a -- "$real")" = "$mode" ]; then
    info "unchanged: $path"
    return 0
  fi
  if [ "$DRY_RUN" = 1 ]; then
    info "would write: $path"
    return 0
  fi
  mkdir -p -- "$(dirname -- "$real")"
  (umask 077 && cp -- "$src" "$real.tmp.$$")
  chmod "$mode" -- "$real.tmp.$$"
  mv -f -- "$real.tmp.$$" "$real"
  info "wrote: $path"
  CHANGES=$((CHANGES + 1))
}

# cert_names FILE ADDR: true when the certificate in FILE names ADDR (an IPv4 address or a DNS name).
cert_names() {
  local sans
  sans=$(openssl x509 -in "$1" -noout -ext subjectAltName 2>/dev/null) || return 1
  sans="${sans//[[:space:]]/},"
  if is_ipv4 "$2"; then
    [[ "$sans" == *"IPAddress:$2,"* ]]
  else
    [[ "${sans,,}" == *"dns:${2,,},"* ]]
  fi
}

# check_cert DIR NAME WHAT: DIR/NAME.crt is the certificate of NAME (its common name), signed by
# DIR/ca.crt and valid now, and DIR/NAME.key is its key. Ends the script naming what is wrong (WHAT names
# DIR in the message).
check_cert() {
  local dir=$1 name=$2 what=$3 f cn out why
  for f in "$dir/$name.crt" "$dir/$name.key"; do
    [ -f "$f" ] || err "$what has no ${f##*/}: every agent and node of this host needs its certificate and key (on the server host: flotilla certs issue $name --dir $CA_DIR --ip ADDR)"
    [ -r "$f" ] || err "$what: cannot read ${f##*/} (run as root)"
  done
  openssl x509 -in "$dir/$name.crt" -noout 2>/dev/null || err "$what: $name.crt is not a PEM certificate"
  cn=$(openssl x509 -in "$dir/$name.crt" -noout -subject -nameopt multiline 2>/dev/null | awk -F' = ' '/commonName/ {print $2; exit}')
  [ "$cn" = "$name" ] || err "$what: $name.crt is the certificate of '${cn:-nobody}', not of '$name' (issue one with: flotilla certs issue $name)"
  if ! out=$(openssl verify -CAfile "$dir/ca.crt" "$dir/$name.crt" 2>&1); then
    why=$(sed -n 's/^error [0-9]* at [0-9]* depth lookup: //p' <<<"$out" | head -n1)
    err "$what: $name.crt is not signed by the cluster CA in its ca.crt, or not valid now (${why:-openssl verify failed}); use a certificate of this cluster's CA"
  fi
  [ "$(openssl x509 -in "$dir/$name.crt" -noout -pubkey 2>/dev/null)" = "$(openssl pkey -in "$dir/$name.key" -pubout 2>/dev/null)" ] ||
    err "$what: $name.key is not the key of $name.crt"
  openssl x509 -in "$dir/$name.crt" -noout -checkend 2592000 >/dev/null 2>&1 ||
    warn "$what: $name.crt expires within 30 days ($(openssl x509 -in "$dir/$name.crt" -noout -enddate 2>/dev/null | cut -d= -f2)); rerun install-server.sh --agent-bundle on the server host to renew it"
}

# check_ca DIR WHAT: DIR/ca.crt is a readable CA certificate.
check_ca() {
  local dir=$1 what=$2
  [ -f "$dir/ca.crt" ] || err "$what has no ca.crt (the cluster CA's certificate: $CA_DIR/ca.crt on the server host)"
  [ -r "$dir/ca.crt" ] || err "$what: cannot read ca.crt (run as root)"
  openssl x509 -in "$dir/ca.crt" -noout 2>/dev/null || err "$what: ca.crt is not a PEM certificate"
  openssl x509 -in "$dir/ca.crt" -noout -ext basicConstraints 2>/dev/null | grep -q 'CA:TRUE' ||
    err "$what: ca.crt is not a CA certificate (give the cluster CA's ca.crt, not a process certificate)"
}

# check_join_token FILE WHAT: prints the token FILE holds; ends the script when it holds none.
check_join_token() {
  local file=$1 what=$2 tok
  [ -f "$file" ] || err "$what: $file does not exist"
  [ -r "$file" ] || err "$what: cannot read $file (run as root)"
  tok=$(head -n1 -- "$file" | tr -d '[:space:]')
  [[ "$tok" =~ $TOKEN_PATTERN ]] || err "$what: $file does not hold a Flotilla token (flt_<id>_<secret>); copy the server host's $STATE_DIR/server/join-token"
  printf '%s\n' "$tok"
}

# The flotilla command this script runs for `flotilla certs` (it needs the project's dependencies): the
# installed one, else the checkout's.
flotilla_cli() {
  local p
  p=$(at_root "$PREFIX")
  if [ -d "$p/node_modules" ] && [ -f "$p/dist/cli/main.js" ]; then
    printf '%s\n' "$p/bin/flotilla.js"
  elif [ -d "$SOURCE/node_modules" ] && [ -f "$SOURCE/dist/cli/main.js" ]; then
    printf '%s\n' "$SOURCE/bin/flotilla.js"
  else
    err "cannot run \`flotilla certs\`: neither $PREFIX nor $SOURCE has node_modules and dist/ (install without --skip-build, or run npm ci in $SOURCE, or give --no-tls)"
  fi
}

# True when the installed flotilla has the TLS options (--tls-dir) of server, node and agent.
cli_has_tls() {
  local d
  for d in "$(at_root "$PREFIX")/dist/cli" "$SOURCE/dist/cli"; do
    if [ -d "$d" ]; then
      grep -rqsE -- "--tls-dir <" "$d"
      return
    fi
  done
  return 1
}

# Warns when TLS is configured for a flotilla that does not know it yet (the variables are ignored).
warn_if_no_tls_support() {
  if [ "$DRY_RUN" = 0 ] && ! cli_has_tls; then
    warn "this build of flotilla has no --tls-dir yet: the certificates are installed and FLOTILLA_TLS_DIR is set, but traffic stays in clear text until flotilla is upgraded and this script rerun"
  fi
}

# ---- the end ----------------------------------------------------------------------------------------

print_changes() {
  if [ "$DRY_RUN" = 1 ]; then
    info "dry run: nothing was written"
  elif [ "$CHANGES" -eq 0 ]; then
    info "nothing changed (already installed like this)"
  else
    info "$CHANGES change(s) made"
  fi
  if [ ${#LATER[@]} -gt 0 ] && [ -n "$ROOT" ]; then
    echo
    echo "Not run (--root $ROOT); on the real host they would be:"
    printf '  %s\n' "${LATER[@]}"
  fi
}
