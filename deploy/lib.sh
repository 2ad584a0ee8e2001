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

readonly ETC_DIR=/etc/flotilla
readonly UNIT_DIR=/etc/systemd/system
readonly STATE_DIR=/var/lib/flotilla
readonly SERVICE_USER=flotilla
readonly BIN_LINK=/usr/local/bin/flotilla
readonly INSTALL_MARKER=.flotilla-install
readonly BUILD_STAMP=.flotilla-build
readonly NODE_MAJOR_MIN=20
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
  printf '%s' "$content" >"$real.tmp.$$"
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
  for e in "${entries[@]}"; do
    if [ -d "$SOURCE/$e" ]; then
      while IFS= read -r -d '' f; do
        rel=${f#"$SOURCE"/}
        wanted[$rel]=1
        copy_file "$f" "$PREFIX/$rel"
      done < <(find "$SOURCE/$e" -type f -print0)
    elif [ -f "$SOURCE/$e" ]; then
      wanted[$e]=1
      copy_file "$SOURCE/$e" "$PREFIX/$e"
    fi
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
