package main

import (
	"crypto/sha256"
	"os"
	"strings"
	"time"

	"github.com/modmirror/modmirror/bench/internal/benchutil"
)

// The machine may be shared: other work running during a download makes it
// slow. Each timed run measures the CPU time that neither this program nor
// the processes it started used, and reports it with the figures.

// A cpuSample is CPU time in clock ticks: the machine's busy (user, nice,
// system) and total time, and ours: this process, its finished children
// with theirs (the go commands with their git, git http-backend with
// upload-pack), and the running mirrors with their finished children.
type cpuSample struct {
	busy, total, ours float64
}

func sampleCPU(mirrors ...*mirror) cpuSample {
	var s cpuSample
	s.busy, s.total = benchutil.MachineCPU()
	self, children := benchutil.ProcTicks(os.Getpid())
	s.ours = self + children
	for _, m := range mirrors {
		if m != nil {
			self, children := benchutil.ProcTicks(m.cmd.Process.Pid)
			s.ours += self + children
		}
	}
	return s
}

// foreign returns the share of the machine's CPU time between s and t that
// went to other processes.
func foreign(s, t cpuSample) float64 {
	total := t.total - s.total
	if total <= 0 {
		return 0
	}
	return max(0, ((t.busy-s.busy)-(t.ours-s.ours))/total)
}

// busyOver returns the share of all CPUs' time that was not idle over d.
func busyOver(d time.Duration) float64 {
	s := sampleCPU()
	time.Sleep(d)
	t := sampleCPU()
	if t.total == s.total {
		return 0
	}
	return (t.busy - s.busy) / (t.total - s.total)
}

// waitQuiet waits, for at most *budget in all, until the CPUs are less than
// 15 % busy, and returns how busy they were.
func waitQuiet(budget *time.Duration) float64 {
	for {
		b := busyOver(500 * time.Millisecond)
		if b < 0.15 || *budget <= 0 {
			return b
		}
		*budget -= 500 * time.Millisecond
	}
}

// probeBuf is what cpuProbe hashes.
var probeBuf = make([]byte, 16<<20)

// cpuProbe times a fixed amount of work on one CPU (SHA-256 of 16 MiB, the
// best of three), to show how fast the machine is at the moment: a shared
// virtual machine's CPUs slow down when its neighbours are busy, which no
// process inside it is charged for.
func cpuProbe() time.Duration {
	best := time.Duration(1<<63 - 1)
	for range 3 {
		t := time.Now()
		sha256.Sum256(probeBuf)
		best = min(best, time.Since(t))
	}
	return best
}

// pressure returns the kernel's pressure stall figures for CPU and I/O
// over the last 10 s (the share of time some task waited for them), or ""
// where the kernel has none.
func pressure() string {
	var parts []string
	for _, res := range []string{"cpu", "io"} {
		data, err := os.ReadFile("/proc/pressure/" + res)
		if err != nil {
			continue
		}
		line, _, _ := strings.Cut(string(data), "\n")
		for _, f := range strings.Fields(line) {
			if v, ok := strings.CutPrefix(f, "avg10="); ok {
				parts = append(parts, res+" "+v+"%")
			}
		}
	}
	if len(parts) == 0 {
		return ""
	}
	return "; pressure (some, 10 s) " + strings.Join(parts, ", ")
}
