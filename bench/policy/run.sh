#!/usr/bin/env bash
# Measures what a policy costs modmirror (bench/policy/cmd/policybench):
# hits on a stored .info and small zip with a policy of 1,000 rules and the
# whole vulnerability database loaded, against no policy, in the same run
# (target >= 0.95x req/s); and the time to evaluate the policy for the k8s
# graph of bench/testdata, in the process and through POST /policy/check.
#
# Installs wrk with apt-get if it is missing (as root). Loopback only, no
# network. About 2 minutes with the defaults. Flags go to policybench, e.g.
#
#	bash bench/policy/run.sh                  # the synthesized database
#	bash bench/policy/run.sh -rev HEAD        # the committed tree, not the working tree
#	bash bench/policy/run.sh -vulndb-zip "$(go env GOMODCACHE)/cache/download/golang.org/x/vulndb/@v/v0.0.0-20261105234957-e22db6528018.zip"
#	bash bench/policy/run.sh -o results.md    # also a Markdown table
#
# Not part of "go test ./...".
set -euo pipefail
cd "$(dirname "$0")/../.."
export GOTOOLCHAIN=local

if ! command -v wrk >/dev/null; then
	if [ "$(id -u)" -ne 0 ]; then
		echo "bench/policy/run.sh: wrk is missing; install it (apt-get install -y wrk) or run as root" >&2
		exit 1
	fi
	echo "== installing wrk"
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null
fi

. bench/build.sh
bench_args "$@"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
bench_build_modmirror "$work/modmirror"
go build -o "$work/policybench" ./bench/policy/cmd/policybench

echo "== uptime before: $(uptime)"
"$work/policybench" -bin "$work/modmirror" "${args[@]}"
echo "== uptime after: $(uptime)"
