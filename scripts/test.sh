#!/usr/bin/env bash
# `npm test`: everything CI checks, in the order a failure is cheapest to find.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/test-deps.sh
node scripts/build.mjs --if-changed
npm run --silent check:gen
npm run --silent typecheck
npm run --silent lint
node scripts/run-tests.mjs "$@"
