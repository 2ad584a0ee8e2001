#!/usr/bin/env bash
# Lists the files older than GC_DAYS days; exit code 99 (skip) when there is nothing to collect, so the
# delete task is skipped and the report still runs (trigger_rule all_done).
set -euo pipefail
dir="${GC_DIR:-${TMPDIR:-/tmp}/flotilla-gc-demo}"
[ -d "$dir" ] || { echo "no directory $dir"; exit 99; }
count=$(find "$dir" -type f -mtime +"$GC_DAYS" | wc -l)
find "$dir" -type f -mtime +"$GC_DAYS" -printf '%TY-%Tm-%Td %s %p\n' | head -n 100
echo "$count files older than $GC_DAYS days in $dir"
[ "$count" -gt 0 ] || exit 99
