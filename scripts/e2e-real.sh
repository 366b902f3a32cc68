#!/usr/bin/env bash
# Runs the end-to-end checks against the real upstream (proxy.golang.org and
# sum.golang.org through it). Needs the network; not part of scripts/test.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
export GOTOOLCHAIN=local MODMIRROR_TEST_E2E_REAL=1
go test -count=1 -v -timeout 10m "$@" ./e2e/real/
# A snapshot's files are byte-identical to what go1.21.13 and the local go
# download for the same project.
go test -count=1 -v -timeout 10m -run TestOlderToolchainSameFiles "$@" ./snapshot/
