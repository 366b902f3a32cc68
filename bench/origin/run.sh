#!/usr/bin/env bash
# Measures "go mod download" of a private module with 1,000 commits and
# 200 tags through modmirror, which fills it from git (an --origin-rule),
# against GOPROXY=direct from the same repository: the first download (the
# mirror clones, then builds the zip), the second (from the store), @latest
# likewise, and another tag with the clone warm. Prints a table of medians
# with min and max, and where the mirror's time goes.
#
# Needs git (with git http-backend) and the go command; loopback only, no
# network. Builds ./cmd/modmirror from the working tree (or -rev REV) and
# bench/origin/cmd/originbench, which does the rest. About a minute with
# the defaults. Flags go to originbench, e.g.
#
#	bash bench/origin/run.sh                # 5 runs of each case
#	bash bench/origin/run.sh -rev HEAD      # the committed tree, not the working tree
#	bash bench/origin/run.sh -n 9 -o t.md   # more runs; also a Markdown table
#	bash bench/origin/run.sh -list-ttl 1h   # lists from the mirror's cache (a hot mirror)
#	bash bench/origin/run.sh -keep          # keep the repository and the mirrors' logs
#
# Not part of "go test ./...".
set -euo pipefail
cd "$(dirname "$0")/../.."
export GOTOOLCHAIN=local

command -v git >/dev/null || { echo "bench/origin/run.sh: git is missing" >&2; exit 1; }
[ -x "$(git --exec-path)/git-http-backend" ] || { echo "bench/origin/run.sh: git http-backend is missing" >&2; exit 1; }

bin=$(mktemp -d)
trap 'rm -rf "$bin"' EXIT
go build -o "$bin/originbench" ./bench/origin/cmd/originbench
echo "== uptime before: $(uptime)"
"$bin/originbench" "$@"
echo "== uptime after: $(uptime)"
