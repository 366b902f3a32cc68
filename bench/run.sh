#!/usr/bin/env bash
# Runs modmirror's benchmark suite (bench/cmd/mirrorbench) and prints a table
# of figures, each against a baseline measured in the same run: hits of every
# kind and size against a bare net/http server on the same store (and nginx
# beside it), over HTTP and HTTPS; cold "go mod download all" of two real
# graphs against proxy.golang.org itself, with and without 50 ms added per
# upstream request, the mirror over HTTP and HTTPS; warm against
# GOPROXY=file:// on its store; and "modmirror snapshot hash" in MB/s.
#
# Installs nginx-light and wrk with apt-get if they are missing (as root).
# The go mod download part needs proxy.golang.org; without it that part is
# skipped with the reason (add -require-network to make that an error).
# Takes about 40 minutes with the defaults on a quiet machine (25 with
# -repeat 2 -d 5s), more on a busy one (it waits for other work, and
# measures a disturbed load again).
# Flags go to mirrorbench, e.g.
#
#	bash bench/run.sh                      # everything
#	bash bench/run.sh -rev HEAD            # the committed tree, not the working tree
#	bash bench/run.sh -skip-k8s -repeat 1  # local parts only, quicker
#	bash bench/run.sh -skip-local -graphs k8s -latency 0  # one graph, no delayed runs
#	bash bench/run.sh -pin -skip-k8s       # servers on CPU 0, load on CPU 1
#	bash bench/run.sh -profile -keep       # plus a perf profile of the mirror
#
# Not part of "go test ./...": the driver is a program, and the Go
# micro-benchmarks in bench/ run only with -bench.
set -euo pipefail
cd "$(dirname "$0")/.."
export GOTOOLCHAIN=local

missing=()
command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || missing+=(nginx-light)
command -v wrk >/dev/null || missing+=(wrk)
if [ "${#missing[@]}" -gt 0 ]; then
	if [ "$(id -u)" -ne 0 ]; then
		echo "bench/run.sh: missing ${missing[*]}; install them (apt-get install -y ${missing[*]}) or run as root" >&2
		exit 1
	fi
	echo "== installing ${missing[*]}"
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

bin=$(mktemp -d)
trap 'rm -rf "$bin"' EXIT
go build -o "$bin/mirrorbench" ./bench/cmd/mirrorbench

pin=()
for arg in "$@"; do
	case "$arg" in
	-pin | --pin | -pin=true | --pin=true) pin=(taskset -c 1) ;;
	esac
done
"${pin[@]}" "$bin/mirrorbench" "$@"
