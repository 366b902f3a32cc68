#!/usr/bin/env bash
# Measures "modmirror catalog rebuild" on a store of 100,000 module versions
# (300,000 files), in SQLite and in a throwaway PostgreSQL
# (scripts/postgres.sh), against walking the store alone. About 2 minutes.
# Flags go to rebuildbench (-versions N, -per-module N, -keep).
# Not part of "go test ./...".
set -euo pipefail
cd "$(dirname "$0")/../.."
export GOTOOLCHAIN=local
bin=$(mktemp -d)
pgdir=$(mktemp -d "${TMPDIR:-/tmp}/modmirror-postgres.XXXXXX")
trap 'scripts/postgres.sh stop "$pgdir" >/dev/null 2>&1 || true; rm -rf "$bin"' EXIT
go build -o "$bin/rebuildbench" ./bench/catalog/cmd/rebuildbench
MODMIRROR_TEST_POSTGRES_URL=$(scripts/postgres.sh start "$pgdir")
export MODMIRROR_TEST_POSTGRES_URL
echo "== uptime before: $(uptime)"
"$bin/rebuildbench" "$@"
echo "== uptime after: $(uptime)"
