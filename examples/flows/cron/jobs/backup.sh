#!/usr/bin/env bash
# Archives BACKUP_SRC into BACKUP_DEST/backup-<logical date>.tar.gz (the run's logical time, so a catchup
# run of a missed night names its own date).
set -euo pipefail
src="${BACKUP_SRC:-/etc}"
dest="${BACKUP_DEST:-/var/backups/flotilla}"
day="${FLOTILLA_LOGICAL_TIME:0:10}"
mkdir -p "$dest"
tar czf "$dest/backup-$day.tar.gz.part" -C "$(dirname "$src")" "$(basename "$src")"
mv "$dest/backup-$day.tar.gz.part" "$dest/backup-$day.tar.gz"
echo "wrote $dest/backup-$day.tar.gz ($(stat -c %s "$dest/backup-$day.tar.gz") bytes)"
