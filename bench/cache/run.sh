#!/usr/bin/env bash
# Measures hits of stored files of several sizes with the memory cache on
# (the default) and off (--memory-cache-mb 0), from the same store, so that
# the memory cache is seen never to make a hit slower than the disk; with
# -rev REV, the same for modmirror built from REV, in the same run.
#
# wrk, 1 thread, 32 connections, keep-alive, on 127.0.0.1; the servers
# alternate, each size is measured -runs times (default 2) for -d seconds
# (default 3), and the table shows the medians. Installs wrk with apt-get
# if it is missing (as root). About 2 minutes per build.
#
#	bash bench/cache/run.sh                 # the working tree
#	bash bench/cache/run.sh -rev HEAD~1     # and a revision, for before/after
#
# Not part of "go test ./...".
set -euo pipefail
cd "$(dirname "$0")/../.."
export GOTOOLCHAIN=local
command -v wrk >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null; }

. bench/build.sh
bench_args "$@"
runs=2
dur=3
set -- "${args[@]+"${args[@]}"}"
while [ $# -gt 0 ]; do
	case "$1" in
	-runs) runs=$2; shift 2 ;;
	-d) dur=$2; shift 2 ;;
	*) echo "bench/cache/run.sh: unknown argument $1" >&2; exit 2 ;;
	esac
done

work=$(mktemp -d)
pids=()
trap 'for p in "${pids[@]+"${pids[@]}"}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"' EXIT

builds=(new)
go build -o "$work/new" ./cmd/modmirror
if [ -n "$rev" ]; then
	bench_build_modmirror "$work/old"
	builds=(old new)
fi

# One store: .info files and zips of random bytes, as the go command's
# cache lays them out (served as stored: hits do not check them).
store=$work/store/cache/download/example.com/m/@v
mkdir -p "$store"
sizes=(3 6 10 16 32 100)
for s in "${sizes[@]}"; do
	head -c $((s * 1024)) /dev/urandom >"$store/v1.0.$s.zip"
	printf '{"Version":"v1.0.%s","Time":"2024-01-01T00:00:00Z"}\n' "$s" >"$store/v1.0.$s.info"
	echo "module example.com/m" >"$store/v1.0.$s.mod"
done

port=3400
declare -A url
for b in "${builds[@]}"; do
	for cache in on off; do
		port=$((port + 1))
		cp -r "$work/store" "$work/data-$b-$cache"
		flags=()
		[ "$cache" = off ] && flags=(--memory-cache-mb 0)
		"$work/$b" serve --offline --data "$work/data-$b-$cache" --listen "127.0.0.1:$port" --log-level warn "${flags[@]+"${flags[@]}"}" >"$work/$b-$cache.log" 2>&1 &
		pids+=($!)
		url[$b-$cache]=http://127.0.0.1:$port/example.com/m/@v
	done
done
for k in "${!url[@]}"; do
	for _ in $(seq 50); do curl -sf -o /dev/null "${url[$k]}/v1.0.3.info" && break; sleep 0.1; done
done

rate() { wrk -t1 -c32 -d"${dur}s" "$1" | awk '/Requests\/sec/ {printf "%.0f", $2}'; }
median() { tr ' ' '\n' | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

echo "== uptime before: $(uptime)"
header="file"
for b in "${builds[@]}"; do header+="  $b:cache-on  $b:cache-off  $b:on÷off"; done
echo "$header"
for f in 3.info "${sizes[@]/%/.zip}"; do
	declare -A got=()
	for k in "${!url[@]}"; do curl -sf -o /dev/null "${url[$k]}/v1.0.$f"; done
	for _ in $(seq "$runs"); do
		for k in "${!url[@]}"; do got[$k]+="$(rate "${url[$k]}/v1.0.$f") "; done
	done
	line="v1.0.$f"
	for b in "${builds[@]}"; do
		on=$(echo "${got[$b-on]}" | median)
		off=$(echo "${got[$b-off]}" | median)
		line+="  $on  $off  $(awk -v a="$on" -v b="$off" 'BEGIN {printf "%.2f", a / b}')"
	done
	echo "$line"
	unset got
done
echo "== uptime after: $(uptime)"
