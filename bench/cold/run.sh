#!/usr/bin/env bash
# Where a cold "go mod download all" of the k8s graph (bench/testdata/k8s)
# spends its time: through a new, empty modmirror in front of
# proxy.golang.org, against the same command straight to proxy.golang.org,
# in turns, with the go command's module cache on tmpfs (/dev/shm), so that
# the go command's own extraction weighs less than with a cache on disk.
# Each variant of the mirror is a set of serve flags, so that one part of
# its work at a time can be left out and its cost seen:
#
#	bash bench/cold/run.sh                       # default flags
#	bash bench/cold/run.sh -runs 3 -variant "--catalog-db off" -variant "--catalog-db off" -shm
#
# -variant FLAGS adds a mirror variant (repeatable; the default variant
# has no extra flags); -shm puts the mirrors' data directories on tmpfs
# too (no fsync cost). Needs proxy.golang.org (and sum.golang.org through
# it); fails saying so when it cannot reach it. Not part of "go test ./...".
set -euo pipefail
cd "$(dirname "$0")/../.."
export GOTOOLCHAIN=local

runs=3
variants=()
datadir=${TMPDIR:-/tmp}
while [ $# -gt 0 ]; do
	case "$1" in
	-runs) runs=$2; shift 2 ;;
	-variant) variants+=("$2"); shift 2 ;;
	-shm) datadir=/dev/shm; shift ;;
	*) echo "bench/cold/run.sh: unknown argument $1" >&2; exit 2 ;;
	esac
done
[ ${#variants[@]} -gt 0 ] || variants=("")
if ! curl -sf -o /dev/null --max-time 10 https://proxy.golang.org/golang.org/x/mod/@v/list; then
	echo "bench/cold/run.sh: proxy.golang.org is not reachable; this benchmark needs the real upstream" >&2
	exit 1
fi

work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
go build -o "$work/modmirror" ./cmd/modmirror
graph=$PWD/bench/testdata/k8s

# download PROXY: seconds of go mod download all with a new module cache.
download() {
	local mc
	mc=$(mktemp -d /dev/shm/modmirror-gomodcache.XXXXXX)
	local s e
	s=$(date +%s.%N)
	(cd "$graph" && GOMODCACHE=$mc GOPATH=$mc GOFLAGS=-modcacherw GOPROXY=$1 GOSUMDB=sum.golang.org GONOSUMDB= GOPRIVATE= GONOPROXY= go mod download all)
	e=$(date +%s.%N)
	rm -rf "$mc"
	echo "$e - $s" | bc
}

# mirror FLAGS: seconds through a new, empty mirror started with FLAGS.
mirror() {
	local data pid t
	data=$(mktemp -d "$datadir/modmirror-cold.XXXXXX")
	# shellcheck disable=SC2086 # the flags are words
	"$work/modmirror" serve --data "$data" --listen 127.0.0.1:3480 --upstream https://proxy.golang.org --sumdb sum.golang.org --log-level warn $1 >"$work/mirror.log" 2>&1 &
	pid=$!
	for _ in $(seq 100); do curl -sf -o /dev/null http://127.0.0.1:3480/readyz && break; sleep 0.1; done
	t=$(download http://127.0.0.1:3480)
	kill "$pid"; wait "$pid" 2>/dev/null || true
	rm -rf "$data"
	echo "$t"
}

median() { tr ' ' '\n' | grep . | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

echo "== uptime before: $(uptime)"
direct=""
declare -A got
for i in $(seq "$runs"); do
	t=$(download https://proxy.golang.org)
	direct+="$t "
	line="run $i: direct $t"
	for v in "${!variants[@]}"; do
		t=$(mirror "${variants[$v]}")
		got[$v]+="$t "
		line+=", variant $((v + 1)) $t"
	done
	echo "$line"
done
d=$(echo "$direct" | median)
printf '%-50s %8s %8s\n' "go mod download all, k8s graph" "median" "÷ direct"
printf '%-50s %8.2f %8.2f\n' "straight to proxy.golang.org" "$d" 1
for v in "${!variants[@]}"; do
	m=$(echo "${got[$v]}" | median)
	printf '%-50s %8.2f %8.2f\n' "mirror ${variants[$v]:-(defaults)}, data in $datadir" "$m" "$(echo "$m / $d" | bc -l)"
done
echo "== uptime after: $(uptime)"
