#!/usr/bin/env bash
# Deletes the files older than GC_DAYS days, then the directories left empty (never the top directory).
set -euo pipefail
dir="${GC_DIR:-${TMPDIR:-/tmp}/flotilla-gc-demo}"
deleted=$(find "$dir" -type f -mtime +"$GC_DAYS" -print -delete | wc -l)
find "$dir" -mindepth 1 -type d -empty -delete
echo "deleted $deleted files"
