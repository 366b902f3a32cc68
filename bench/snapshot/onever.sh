#!/usr/bin/env bash
# Benchmarks "modmirror snapshot --one-version" on three real programs
# together (bench/testdata/k8s, and the applications
# github.com/prometheus/client_golang@v1.19.1 and golang.org/x/tools@v0.36.0)
# against snapshotting each alone: wall time, and the size of the output
# against the sum of the separate outputs (what one version per module
# saves); then the time of --check (build and vet of all three from the
# snapshot alone).
#
# Needs proxy.golang.org (and its /sumdb/sum.golang.org/). A local
# "modmirror serve" in front of it is filled by an untimed first pass, so
# that the timed runs measure the snapshot, not the internet. About 5
# minutes. Flags: -repeat N (default 3), -keep (keep the work directory).
# Not part of "go test ./...".
set -euo pipefail
cd "$(dirname "$0")/../.."
export GOTOOLCHAIN=local

repeat=3 keep=
while [ $# -gt 0 ]; do
	case "$1" in
	-repeat) repeat=$2; shift 2 ;;
	-keep) keep=1; shift ;;
	*) echo "onever.sh: unknown flag $1" >&2; exit 2 ;;
	esac
done

work=$(mktemp -d)
cleanup() {
	[ -n "${mirror_pid:-}" ] && kill "$mirror_pid" 2>/dev/null && wait "$mirror_pid" 2>/dev/null || true
	if [ -n "$keep" ]; then echo "== kept $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT
go build -o "$work/modmirror" ./cmd/modmirror
mm=$work/modmirror

upstream=${GOPROXY_BENCH:-https://proxy.golang.org}
port=$((40000 + RANDOM % 20000))
env -i PATH="$PATH" HOME="$work/home" "$mm" serve --listen 127.0.0.1:$port --data "$work/mirror" \
	--upstream "$upstream" --sumdb sum.golang.org --log-level warn >"$work/mirror.log" 2>&1 &
mirror_pid=$!
for _ in $(seq 1 100); do
	(exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null && break
	sleep 0.1
done
mirror=http://127.0.0.1:$port

projects=("bench/testdata/k8s" "github.com/prometheus/client_golang@v1.19.1" "golang.org/x/tools@v0.36.0")
names=(k8s client_golang tools)

calc() { awk "BEGIN { print $1 }"; }

# snap OUT ARGS...: one snapshot through the local mirror; prints seconds.
snap() {
	local out=$1; shift
	local start end
	start=$(date +%s.%N)
	"$mm" snapshot --one-version -q --upstream "$mirror" --sumdb sum.golang.org --report off --manifest off -o "$out" "$@" >"$out.log" 2>&1 ||
		{ cat "$out.log" >&2; exit 1; }
	end=$(date +%s.%N)
	calc "$end - $start"
}

echo "== warming the local mirror (untimed)"
snap "$work/warm" "${projects[@]}" >/dev/null || { echo "onever.sh: the first pass failed: is $upstream reachable? ($work/warm.log)" >&2; exit 1; }
for p in "${projects[@]}"; do snap "$work/warm-$(echo "$p" | tr '/@' '__')" "$p" >/dev/null; done

median() { sort -n | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }

echo "== timing: $repeat runs of each, fresh output directories"
together=() separate=()
for r in $(seq 1 "$repeat"); do
	together+=("$(snap "$work/all-$r" "${projects[@]}")")
	sum=0
	for i in "${!projects[@]}"; do
		t=$(snap "$work/one-$r-${names[$i]}" "${projects[$i]}")
		sum=$(calc "$sum + $t")
	done
	separate+=("$sum")
done
t_all=$(printf '%s\n' "${together[@]}" | median)
t_sep=$(printf '%s\n' "${separate[@]}" | median)

size() { du -sb --apparent-size "$1" | cut -f1; }
files() { find "$1" -name '*.zip' | wc -l; }
s_all=$(size "$work/all-1")
s_sep=0 z_sep=0
for i in "${!projects[@]}"; do
	s_sep=$((s_sep + $(size "$work/one-1-${names[$i]}")))
	z_sep=$((z_sep + $(files "$work/one-1-${names[$i]}")))
done
z_all=$(files "$work/all-1")

echo "== --check of the three together (build and vet from the snapshot alone)"
start=$(date +%s.%N)
check_rc=0
"$mm" snapshot --one-version --check -q --upstream "$mirror" --sumdb sum.golang.org --report off --manifest off -o "$work/all-1" "${projects[@]}" >"$work/check.log" 2>&1 || check_rc=$?
t_check=$(calc "$(date +%s.%N) - $start")
sed -n '/^check:/,$p' "$work/check.log"
echo "(exit status $check_rc)"

echo
printf '| %s | %s | %s | %s |\n' "what" "together" "separately" "together ÷ separately"
printf '| --- | --- | --- | --- |\n'
printf '| wall time (median of %d) | %.2f s | %.2f s | %.2f |\n' "$repeat" "$t_all" "$t_sep" "$(calc "$t_all / $t_sep")"
printf '| output size | %.1f MB | %.1f MB | %.2f |\n' "$(calc "$s_all / 1000000")" "$(calc "$s_sep / 1000000")" "$(calc "$s_all / $s_sep")"
printf '| module zips | %d | %d | %.2f |\n' "$z_all" "$z_sep" "$(calc "$z_all / $z_sep")"
printf '| --check (build + vet of all three) | %.1f s | | |\n' "$t_check"
echo
echo "== uptime after: $(uptime)"
