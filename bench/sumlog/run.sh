#!/usr/bin/env bash
# Benchmarks modmirror's own checksum database log (package sumlog over
# sumlog/sqlite): the Go benchmarks of bench/sumlog (durable appends, warm
# lookups and tiles over loopback HTTP) with -count 3, then a build of a
# log of a million records with bench/sumlog/cmd/buildlog, and prints a
# table of the figures against their targets.
#
# Loopback only; the logs go to a temporary directory ($TMPDIR, /tmp by
# default: durable appends fsync, so put it on a real disk). About 3 to 4
# minutes on a quiet 2-CPU machine. Before each part it waits, up to
# QUIET_WAIT seconds in all (default 60), for other work to leave the CPUs
# nearly idle, and it prints the load before and after.
#
#	bash bench/sumlog/run.sh
#	bash bench/sumlog/run.sh -n 200000 -count 1          # quicker
#	bash bench/sumlog/run.sh -benchtime 2s -o table.md   # longer loads, Markdown table
#
# Not part of "go test ./...": the benchmarks only run with -bench.
set -euo pipefail
cd "$(dirname "$0")/../.."
export GOTOOLCHAIN=local

n=1000000
count=3
benchtime=1s
out=
while [ $# -gt 0 ]; do
	case "$1" in
	-n) n=$2; shift 2 ;;
	-count) count=$2; shift 2 ;;
	-benchtime) benchtime=$2; shift 2 ;;
	-o) out=$2; shift 2 ;;
	*) echo "usage: bash bench/sumlog/run.sh [-n records] [-count N] [-benchtime D] [-o table.md]" >&2; exit 2 ;;
	esac
done
quiet_left=${QUIET_WAIT:-60}

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
go test -c -o "$work/sumlogbench.test" ./bench/sumlog/
go build -o "$work/buildlog" ./bench/sumlog/cmd/buildlog

# busy prints the percentage of all CPUs' time that was not idle over 2 s.
busy() {
	local a b
	read -r -a a < /proc/stat
	sleep 2
	read -r -a b < /proc/stat
	awk -v a="${a[*]}" -v b="${b[*]}" 'BEGIN {
		split(a, x); split(b, y); total = 0; idle = 0
		for (i = 2; i <= 9; i++) { d = y[i] - x[i]; total += d; if (i == 5 || i == 6) idle += d }
		printf "%d", total ? 100 * (total - idle) / total : 0
	}'
}

# wait_quiet waits until the CPUs are less than 15 % busy, or QUIET_WAIT
# has been spent.
wait_quiet() {
	local b
	while :; do
		b=$(busy)
		if [ "$b" -lt 15 ]; then
			echo "== CPUs ${b}% busy: measuring"
			return
		fi
		if [ "$quiet_left" -le 0 ]; then
			echo "== CPUs ${b}% busy, measuring anyway (quiet wait used up)"
			ps -eo pcpu,etime,comm --sort=-pcpu | sed -n 2,5p
			return
		fi
		quiet_left=$((quiet_left - 2))
	done
}

# cpu_ticks prints the busy ticks of all CPUs since boot and the CPU ticks
# of this script's finished children (cutime and cstime of its shell), in
# USER_HZ (100 a second).
cpu_ticks() {
	local c st
	read -r -a c < /proc/stat
	st=$(cat /proc/$$/stat)
	st=${st##*) }
	read -r -a st <<< "$st"
	# After "pid (comm) ", cutime and cstime are the 14th and 15th fields.
	echo $((c[1] + c[2] + c[3] + c[6] + c[7] + c[8])) $((st[13] + st[14]))
}

# other_work prints the share of all CPUs' time between two cpu_ticks that
# was busy with something other than this script's children, over secs.
other_work() {
	awk -v a="$1" -v b="$2" -v secs="$3" -v ncpu="$(nproc)" 'BEGIN {
		split(a, x, " "); split(b, y, " ")
		o = ((y[1] - x[1]) - (y[2] - x[2])) / (100 * secs * ncpu)
		printf "%.0f%%", 100 * (o < 0 ? 0 : o)
	}'
}

echo "== machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(uname -sr), $(go version | cut -d' ' -f3)"
echo "== log directory: ${TMPDIR:-/tmp} ($(df -T "${TMPDIR:-/tmp}" | awk 'NR == 2 { print $2 }'))"
echo "== uptime before: $(uptime)"
ps -eo pcpu,etime,comm --sort=-pcpu | sed -n 2,5p

echo
wait_quiet
echo "== go test -run - -bench . -benchtime $benchtime -count $count ./bench/sumlog/"
t0=$(cpu_ticks)
s0=$SECONDS
(cd bench/sumlog && "$work/sumlogbench.test" -test.run '^$' -test.bench . -test.benchtime "$benchtime" -test.count "$count") > "$work/bench.txt" ||
	{ cat "$work/bench.txt"; exit 1; }
t1=$(cpu_ticks)
cat "$work/bench.txt"
bench_other=$(other_work "$t0" "$t1" $((SECONDS - s0)))
echo "== other work during the benchmarks: $bench_other of the CPUs; uptime: $(uptime)"

echo
wait_quiet
echo "== buildlog -n $n"
"$work/buildlog" -n "$n" -summary "$work/build.txt"
echo "== uptime after: $(uptime)"

# The table: medians of the Go benchmarks' runs, the build's figures, each
# against its target.
echo
awk -v md="${out:+1}" -v n="$n" '
function median(key,   m, i, j, t, v) {
	m = cnt[key]
	if (!m) return ""
	for (i = 1; i <= m; i++) v[i] = vals[key, i]
	for (i = 1; i <= m; i++) for (j = i + 1; j <= m; j++) if (v[j] < v[i]) { t = v[i]; v[i] = v[j]; v[j] = t }
	return v[int((m + 1) / 2)]
}
function fmtn(x,   s) {
	if (x == "") return "—"
	s = sprintf("%.0f", x)
	while (s ~ /[0-9][0-9][0-9][0-9]/) sub(/[0-9][0-9][0-9]($|,)/, ",&", s)
	return s
}
function row(metric, value, target, unit, ratio, result) {
	if (value == "") { ratio = "—"; result = "missing" }
	else if (target == "") { ratio = "—"; result = "—" }
	else { ratio = sprintf("%.2fx", value / target); result = value >= target ? "pass" : "FAIL" }
	line(metric, fmtn(value) unit, target == "" ? "—" : ">= " fmtn(target) unit, ratio, result)
}
function line(a, b, c, d, e) {
	if (md) printf "| %s | %s | %s | %s | %s |\n", a, b, c, d, e
	else printf "%-62s %16s %16s %7s %8s\n", a, b, c, d, e
}
FNR == 1 { file++ }
file == 1 && /^Benchmark/ {
	name = $1; sub(/-[0-9]+$/, "", name)
	for (i = 3; i < NF; i++) if ($(i + 1) ~ /\/s$/ && $(i + 1) != "MB/s") { key = name " " $(i + 1); vals[key, ++cnt[key]] = $i }
}
file == 2 { fig[$1] = $2 }
END {
	if (md) { print "| metric | measured | target | ratio | result |"; print "| --- | --- | --- | --- | --- |" }
	else line("metric", "measured", "target", "ratio", "result")
	row("durable appends/s, 1024 goroutines (batched), median", median("BenchmarkAppend/goroutines=1024 appends/s"), 5000, "")
	row("durable appends/s, 64 goroutines (batched), median", median("BenchmarkAppend/goroutines=64 appends/s"), 5000, "")
	row("(info) durable appends/s, 1 goroutine (a sync each)", median("BenchmarkAppend/goroutines=1 appends/s"), "", "")
	row("warm lookups/s, 16 clients, loopback, median", median("BenchmarkLookupWarm/cache=on lookups/s"), 20000, "")
	row("(info) lookups/s with the caches off (SQLite each time)", median("BenchmarkLookupWarm/cache=off lookups/s"), "", "")
	row("(info) full hash tiles/s (8 KiB), 16 clients, median", median("BenchmarkTileWarm/hash tiles/s"), "", "")
	row("(info) full data tiles/s (256 records), 16 clients, median", median("BenchmarkTileWarm/data tiles/s"), "", "")
	row("build of " fmtn(n) " records: appends/s", fig["build_rate_100"], 5000, "")
	line("build of " fmtn(n) " records: time", sprintf("%.1f s", fig["build_seconds_100"]), "—", "—", "—")
	line("build: peak RSS (VmHWM) at 10 / 50 / 100 %", sprintf("%.0f / %.0f / %.0f MB", fig["vmhwm_10"] / 1e6, fig["vmhwm_50"] / 1e6, fig["vmhwm_100"] / 1e6), "flat", sprintf("%.2fx", fig["vmhwm_100"] / fig["vmhwm_50"]), fig["vmhwm_100"] <= 1.1 * fig["vmhwm_50"] ? "pass" : "FAIL")
	line("build: live Go heap at 10 / 50 / 100 %", sprintf("%.0f / %.0f / %.0f MB", fig["live_heap_10"] / 1e6, fig["live_heap_50"] / 1e6, fig["live_heap_100"] / 1e6), "flat", sprintf("%.2fx", fig["live_heap_100"] / fig["live_heap_50"]), fig["live_heap_100"] <= 1.1 * fig["live_heap_50"] ? "pass" : "FAIL")
	line("build: SQLite files at 100 %", sprintf("%.0f MB", fig["db_bytes_100"] / 1e6), "—", "—", "—")
	row("lookups/s on the built log, random of all " fmtn(n), fig["lookups_random"], 20000, "")
	row("lookups/s on the built log, hot set of 10,000", fig["lookups_hot"], 20000, "")
	row("(info) hash tiles/s on the built log, random", fig["tiles_hash"], "", "")
	row("(info) data tiles/s on the built log, random", fig["tiles_data"], "", "")
}' "$work/bench.txt" "$work/build.txt" | tee "${out:-/dev/null}"
echo
echo "(\"flat\": while the records double from 50 % to 100 %, the peak grows by at most 1.1x; the first part includes fixed-size caches filling, SQLite's page caches among them. Other work: $bench_other during the Go benchmarks;" \
	"$(awk '/^other_build/ { printf "%s%.0f%%", sep, 100 * $2; sep = " / " }' "$work/build.txt") during the parts of the build;" \
	"$(awk '/^other_(lookups|tiles)/ { printf "%s%.0f%%", sep, 100 * $2; sep = " / " }' "$work/build.txt") during its four reads.)"
