#!/usr/bin/env bash
# Measures modmirror over S3 (MinIO) and PostgreSQL against its file system
# store, in the same run: warm hits with and without the memory and disk caches, cold
# fills, 200 cold requests at once over two replicas (upstream fetches and
# latencies), and memory while 32 clients download a 100 MiB zip from S3.
#
# Starts a throwaway PostgreSQL and MinIO on 127.0.0.1 (scripts/postgres.sh,
# scripts/minio.sh: MinIO is built once into
# ${MODMIRROR_TEST_TOOLS_DIR:-~/.cache/modmirror-tools}) and removes them
# after. Loopback only, no network. About 3 minutes with the defaults.
# Flags go to replicabench, e.g.
#
#	bash bench/replicas/run.sh                 # everything
#	bash bench/replicas/run.sh -rev HEAD       # the committed tree, not the working tree
#	bash bench/replicas/run.sh -o results.md   # also a Markdown table
#	bash bench/replicas/run.sh -repeat 1 -skip-rss
#
# Not part of "go test ./...".
set -euo pipefail
cd "$(dirname "$0")/../.."
export GOTOOLCHAIN=local

. bench/build.sh
bench_args "$@"

work=$(mktemp -d)
# Each server in a directory of its own, as scripts/test.sh does: the
# PostgreSQL server runs as the postgres user, which cannot enter $work.
pgdir=$(mktemp -d "${TMPDIR:-/tmp}/modmirror-postgres.XXXXXX")
miniodir=$(mktemp -d "${TMPDIR:-/tmp}/modmirror-minio.XXXXXX")
trap 'scripts/postgres.sh stop "$pgdir" >/dev/null 2>&1 || true; scripts/minio.sh stop "$miniodir" >/dev/null 2>&1 || true; rm -rf "$work"' EXIT

bench_build_modmirror "$work/modmirror"
go build -o "$work/replicabench" ./bench/replicas/cmd/replicabench

MODMIRROR_TEST_POSTGRES_URL=$(scripts/postgres.sh start "$pgdir")
export MODMIRROR_TEST_POSTGRES_URL
export $(scripts/minio.sh start "$miniodir")

echo "== uptime before: $(uptime)"
"$work/replicabench" -bin "$work/modmirror" "${args[@]}"
echo "== uptime after: $(uptime)"
