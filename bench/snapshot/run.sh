#!/usr/bin/env bash
# Benchmarks "modmirror snapshot" against "go mod download all" on the
# k8s.io/client-go project in bench/testdata/k8s (bench/snapshot/cmd/snapbench),
# then runs the NAR hashing micro-benchmark. Needs proxy.golang.org. Takes
# about 4 minutes with the defaults. Flags go to snapbench, e.g.
#
#	bash bench/snapshot/run.sh                 # everything, 3 runs per case
#	bash bench/snapshot/run.sh -repeat 5 -keep
#
# Not part of "go test ./...": the driver is a program.
set -euo pipefail
cd "$(dirname "$0")/../.."
export GOTOOLCHAIN=local

bin=$(mktemp -d)
trap 'rm -rf "$bin"' EXIT
go build -o "$bin/modmirror" ./cmd/modmirror
go build -o "$bin/snapbench" ./bench/snapshot/cmd/snapbench

echo "== uptime before: $(uptime)"
ps -eo pcpu,etime,comm --sort=-pcpu | sed -n 2,6p
"$bin/snapbench" -modmirror "$bin/modmirror" "$@"
echo
echo '== go test -run - -bench "Hash|SHA256" ./nar/'
go test -run - -bench "Hash|SHA256" ./nar/
echo "== uptime after: $(uptime)"
