package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// wrkScript makes wrk print its exact totals on one line, rather than the
// rounded figures of its summary.
const wrkScript = `
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("MIRRORBENCH requests=%d duration_us=%d bytes=%d connect=%d read=%d write=%d status=%d timeout=%d p50_us=%d p99_us=%d\n",
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(99)))
end
`

// A load is one wrk run's exact totals.
type load struct {
	requests, bytes int64
	duration        time.Duration
	p50, p99        time.Duration
	foreign         float64 // share of the CPUs other work used meanwhile
}

func (l load) perSecond() float64      { return float64(l.requests) / l.duration.Seconds() }
func (l load) bytesPerSecond() float64 { return float64(l.bytes) / l.duration.Seconds() }

// wrk loads url for d with the configured threads and connections and
// returns the totals. Any error response, timeout or broken connection makes
// the run invalid: a fast error is not a fast answer.
func (b *bench) wrk(url string, d time.Duration, header string) (load, error) {
	l, _, err := b.wrkCPU(url, d, header)
	return l, err
}

// wrkCPU is wrk that also returns the CPU time wrk used.
func (b *bench) wrkCPU(url string, d time.Duration, header string) (load, time.Duration, error) {
	script := filepath.Join(b.work, "report.lua")
	if _, err := os.Stat(script); err != nil {
		if err := os.WriteFile(script, []byte(wrkScript), 0o644); err != nil {
			return load{}, 0, err
		}
	}
	args := []string{"-t", strconv.Itoa(b.threads), "-c", strconv.Itoa(b.conns),
		"-d", fmt.Sprintf("%ds", int(d.Seconds())), "--timeout", "10s", "-s", script}
	if header != "" {
		args = append(args, "-H", header)
	}
	args = append(args, url)
	name := b.wrkBin
	if b.pin {
		args = append([]string{"-c", "1", b.wrkBin}, args...)
		name = "taskset"
	}
	cmd := exec.Command(name, args...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return load{}, 0, fmt.Errorf("wrk %s: %v\n%s", url, err, out)
	}
	cpu := cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
	for _, line := range strings.Split(string(out), "\n") {
		rest, ok := strings.CutPrefix(line, "MIRRORBENCH ")
		if !ok {
			continue
		}
		kv := map[string]int64{}
		for _, f := range strings.Fields(rest) {
			k, v, _ := strings.Cut(f, "=")
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				return load{}, 0, fmt.Errorf("wrk: bad result line %q", line)
			}
			kv[k] = n
		}
		if bad := kv["connect"] + kv["read"] + kv["write"] + kv["status"] + kv["timeout"]; bad > 0 || kv["requests"] == 0 {
			return load{}, 0, fmt.Errorf("wrk %s: %d requests with errors (connect %d, read %d, write %d, non-2xx %d, timeout %d)",
				url, kv["requests"], kv["connect"], kv["read"], kv["write"], kv["status"], kv["timeout"])
		}
		return load{
			requests: kv["requests"],
			bytes:    kv["bytes"],
			duration: time.Duration(kv["duration_us"]) * time.Microsecond,
			p50:      time.Duration(kv["p50_us"]) * time.Microsecond,
			p99:      time.Duration(kv["p99_us"]) * time.Microsecond,
		}, cpu, nil
	}
	return load{}, 0, fmt.Errorf("wrk %s: no result line in output:\n%s", url, out)
}

// wrkVersion returns wrk's version line.
func wrkVersion(bin string) string {
	out, _ := exec.Command(bin, "--version").CombinedOutput()
	return strings.TrimSpace(firstLine(string(out)))
}
