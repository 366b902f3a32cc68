package main

import (
	"fmt"
	"os"
	"time"

	"github.com/modmirror/modmirror/bench/internal/benchutil"
)

// This machine may be shared: other work running during a measurement makes
// it low. Each load is therefore checked for CPU time that neither this
// program nor the processes it started used, and measured again (up to
// maxAttempts times) when that share is above maxForeign.
const (
	maxForeign  = 0.10
	maxAttempts = 3
)

// A cpuSample is the CPU time, in clock ticks, used so far by the whole
// machine (user, nice and system time, so that interrupt time, which no
// process is charged for, does not count) and by this program with the
// server being measured.
type cpuSample struct {
	busy, total, ours float64
}

func (b *bench) sampleCPU(srv *server) cpuSample {
	var s cpuSample
	s.busy, s.total = benchutil.MachineCPU()
	s.ours, _ = benchutil.ProcTicks(os.Getpid())
	if srv != nil {
		for _, pid := range srv.pids() {
			t, _ := benchutil.ProcTicks(pid)
			s.ours += t
		}
	}
	return s
}

// foreign returns the share of the machine's CPU time between s and t that
// went to other processes; gone is the CPU time of processes of ours that
// ended in between (wrk).
func foreign(s, t cpuSample, gone time.Duration) float64 {
	total := t.total - s.total
	if total <= 0 {
		return 0
	}
	other := (t.busy - s.busy) - (t.ours - s.ours) - gone.Seconds()*benchutil.UserHZ
	return max(0, other/total)
}

// pids returns the process ids of the server: its own and its children's
// (nginx's workers).
func (s *server) pids() []int {
	return append([]int{s.pid()}, benchutil.Children(s.pid())...)
}

// measure runs one measured load, again while other work took more than
// maxForeign of the CPUs during it, and returns the least disturbed run.
func (b *bench) measure(what string, srv *server, run func() (load, time.Duration, error)) (load, error) {
	var best load
	for attempt := 1; attempt <= maxAttempts; attempt++ {
		b.checkQuiet(what)
		s := b.sampleCPU(srv)
		l, gone, err := run()
		if err != nil {
			return l, err
		}
		l.foreign = foreign(s, b.sampleCPU(srv), gone)
		if attempt == 1 || l.foreign < best.foreign {
			best = l
		}
		if l.foreign <= maxForeign {
			break
		}
		fmt.Printf("  (other work took %.0f%% of the CPUs during %s)\n", l.foreign*100, what)
	}
	if best.foreign > maxForeign {
		msg := fmt.Sprintf("%s: other work took %.0f%% of the CPUs during the least disturbed of %d runs; that figure may be low", what, best.foreign*100, maxAttempts)
		fmt.Println("  WARNING:", msg)
		b.notes = append(b.notes, msg)
	}
	return best, nil
}
