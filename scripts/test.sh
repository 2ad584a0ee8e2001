#!/usr/bin/env bash
# `npm test`: everything CI checks, in the order a failure is cheapest to find.
set -euo pipefail
cd "$(dirname "$0")/.."

# Runs the given commands (one string each) at the same time, each one's output kept apart and shown
# once it ends, in the order given; fails when any of them failed, after all have ended.
parallel() {
  local dir pids=() i status=0
  dir=$(mktemp -d)
  trap 'rm -rf "$dir"' RETURN
  i=0
  for cmd in "$@"; do
    bash -c "$cmd" >"$dir/$i.out" 2>&1 &
    pids+=($!)
    i=$((i + 1))
  done
  i=0
  for cmd in "$@"; do
    if wait "${pids[$i]}"; then
      cat "$dir/$i.out"
    else
      cat "$dir/$i.out"
      echo "failed: $cmd" >&2
      status=1
    fi
    i=$((i + 1))
  done
  return $status
}

bash scripts/test-deps.sh
node scripts/build.mjs --if-changed
# The type check and the lint read the same sources and are single-threaded: one per core.
parallel 'npm run --silent check:gen && npm run --silent typecheck' 'npm run --silent lint'
node scripts/run-tests.mjs "$@"
