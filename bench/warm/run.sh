#!/usr/bin/env bash
# Compares "modmirror warm" of bench/testdata/k8s (every line of its go.sum,
# 16 files at once) with "go mod download all" in the same project, each
# through a new, empty "modmirror serve" in front of proxy.golang.org, in
# turns, and then "go mod download all" through the warmed mirror.
# Needs proxy.golang.org. About 2 minutes. -repeat N (default 2).
# Not part of "go test ./...".
set -euo pipefail
cd "$(dirname "$0")/../.."
export GOTOOLCHAIN=local
repeat=2
[ "${1:-}" = "-repeat" ] && repeat=$2
work=$(mktemp -d)
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null; chmod -R u+w "$work" 2>/dev/null; rm -rf "$work"' EXIT
go build -o "$work/modmirror" ./cmd/modmirror
mm=$work/modmirror
project=$PWD/bench/testdata/k8s
calc() { awk "BEGIN { print $1 }"; }
now() { date +%s.%N; }

# mirror NAME: starts an empty mirror, prints its URL.
mirror() {
	local port=$((40000 + RANDOM % 20000))
	env -i PATH="$PATH" HOME="$work/home" "$mm" serve --listen 127.0.0.1:$port --data "$work/$1" \
		--upstream https://proxy.golang.org --sumdb sum.golang.org --log-level warn >"$work/$1.log" 2>&1 &
	pids+=($!)
	for _ in $(seq 1 100); do
		(exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null && break
		sleep 0.1
	done
	echo "http://127.0.0.1:$port"
}

# godownload URL: go mod download all through URL, fresh module cache; prints seconds.
godownload() {
	local home
	home=$(mktemp -d "$work/go.XXXX")
	local start
	start=$(now)
	(cd "$project" && env -i PATH="$PATH" HOME="$home" GOPATH="$home" GOMODCACHE="$home/mod" GOCACHE="$home/cache" \
		GOFLAGS=-modcacherw GOPROXY="$1" GOSUMDB=sum.golang.org GONOSUMDB= GOPRIVATE= GOTOOLCHAIN=local GOWORK=off \
		go mod download all) >"$home.log" 2>&1 || { cat "$home.log" >&2; exit 1; }
	calc "$(now) - $start"
}

echo "== uptime before: $(uptime)"
for r in $(seq 1 "$repeat"); do
	a=$(mirror "go-$r")
	t=$(godownload "$a")
	echo "round $r: go mod download all through an empty mirror: $t s"
	gos+=("$t")
	b=$(mirror "warm-$r")
	start=$(now)
	"$mm" warm --mirror "$b" -q "$project" >"$work/warm-$r.out" 2>&1 || { cat "$work/warm-$r.out"; exit 1; }
	t=$(calc "$(now) - $start")
	echo "round $r: modmirror warm of an empty mirror: $t s ($(head -n 1 "$work/warm-$r.out"))"
	warms+=("$t")
	t=$(godownload "$b")
	echo "round $r: go mod download all through the warmed mirror: $t s"
	hits+=("$t")
done
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
g=$(median "${gos[@]}") w=$(median "${warms[@]}") h=$(median "${hits[@]}")
echo
echo "| what | median of $repeat | ÷ go mod download all |"
echo "| --- | --- | --- |"
printf '| go mod download all through an empty mirror | %.2f s | 1.00 |\n' "$g"
printf '| modmirror warm of an empty mirror | %.2f s | %.2f |\n' "$w" "$(calc "$w / $g")"
printf '| go mod download all through the warmed mirror | %.2f s | %.2f |\n' "$h" "$(calc "$h / $g")"
echo "== uptime after: $(uptime)"
