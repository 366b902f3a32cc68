// Package benchutil holds what the benchmark drivers in bench/ share: CPU
// accounting from /proc (a shared machine makes figures low, so each driver
// measures how much CPU time other work took), medians, result tables in
// text and Markdown, process helpers and the clean-up of work directories.
package benchutil

import (
	"errors"
	"fmt"
	"io"
	"log"
	"os"
	"os/exec"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/modmirror/modmirror/internal/rmtree"
)

// UserHZ is the clock tick of /proc's CPU times (USER_HZ), per second.
const UserHZ = 100

// MachineCPU returns the CPU time of the whole machine since boot, in
// clock ticks: busy (user, nice and system time; interrupt time, which no
// process is charged for, does not count) and total.
func MachineCPU() (busy, total float64) {
	data, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 0
	}
	line, _, _ := strings.Cut(string(data), "\n")
	for i, v := range strings.Fields(line)[1:] {
		x, _ := strconv.ParseFloat(v, 64)
		total += x
		if i <= 2 { // user, nice, system
			busy += x
		}
	}
	return busy, total
}

// ProcTicks returns the CPU time (user and system) of a running process,
// and that of its children that have ended, in clock ticks; 0 for a process
// that is gone.
func ProcTicks(pid int) (self, children float64) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, 0
	}
	// After the command name, in parentheses (it may hold spaces): state
	// is the first field, utime, stime, cutime and cstime the 12th to the
	// 15th.
	s := string(data)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 15 {
		return 0, 0
	}
	x := make([]float64, 4)
	for i, v := range f[11:15] {
		x[i], _ = strconv.ParseFloat(v, 64)
	}
	return x[0] + x[1], x[2] + x[3]
}

// Children returns the process ids of the children of pid.
func Children(pid int) []int {
	kids, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", pid, pid))
	if err != nil {
		return nil
	}
	var pids []int
	for _, k := range strings.Fields(string(kids)) {
		if p, err := strconv.Atoi(k); err == nil {
			pids = append(pids, p)
		}
	}
	return pids
}

// ProcStatus returns a field of /proc/<pid>/status that is a size, such as
// VmRSS or VmHWM, in bytes.
func ProcStatus(pid int, field string) (int64, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for line := range strings.SplitSeq(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			f := strings.Fields(v)
			if len(f) != 2 || f[1] != "kB" {
				return 0, fmt.Errorf("/proc/%d/status: odd %s line %q", pid, field, line)
			}
			kb, err := strconv.ParseInt(f[0], 10, 64)
			return kb << 10, err
		}
	}
	return 0, errors.New("no " + field + " in /proc/" + strconv.Itoa(pid) + "/status")
}

// LoadAvg returns the load averages of /proc/loadavg.
func LoadAvg() string {
	data, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	return strings.Join(strings.Fields(string(data))[:3], " ")
}

// Median returns the median of xs, the mean of the middle two for an even
// count; 0 for none.
func Median[T ~int64 | ~float64](xs []T) T {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// Tail returns the last n lines of a file, or the error reading it.
func Tail(path string, n int) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// RemoveAll removes a tree, first making its directories writable: module
// caches are read-only unless -modcacherw was in effect.
func RemoveAll(dir string) { rmtree.RemoveAll(dir) }

// OnInterrupt runs stop, then exits with status 130, when the program is
// interrupted, so that the servers a driver started do not outlive it.
// SIGPIPE is not caught: once notified of it, a Go program receives it for
// every write to a socket its peer closed, which an HTTP server in the
// driver (a fixture upstream, a delaying proxy) makes as a matter of course.
// A closed output pipe ends the program at its next write instead, and
// KillWithParent makes its servers end with it.
func OnInterrupt(stop func()) {
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	go func() {
		<-sig
		fmt.Fprintln(os.Stderr, "interrupted; stopping")
		stop()
		os.Exit(130)
	}()
}

// WriteCells prints a table whose first row is its header: as columns
// aligned with spaces (the first left-aligned, the others right-aligned),
// or as Markdown.
func WriteCells(w io.Writer, cells [][]string, markdown bool) {
	if len(cells) == 0 {
		return
	}
	if markdown {
		for i, c := range cells {
			fmt.Fprintf(w, "| %s |\n", strings.Join(c, " | "))
			if i == 0 {
				fmt.Fprintf(w, "|%s\n", strings.Repeat(" --- |", len(c)))
			}
		}
		return
	}
	widths := make([]int, len(cells[0]))
	for _, c := range cells {
		for i, s := range c {
			widths[i] = max(widths[i], len([]rune(s)))
		}
	}
	for _, c := range cells {
		for i, s := range c {
			pad := widths[i] - len([]rune(s))
			if i == 0 {
				fmt.Fprint(w, s+strings.Repeat(" ", pad))
			} else {
				fmt.Fprint(w, "  "+strings.Repeat(" ", pad)+s)
			}
		}
		fmt.Fprintln(w)
	}
}

// Seconds returns durations as seconds, for Median and tables.
func Seconds(ds []time.Duration) []float64 {
	out := make([]float64, len(ds))
	for i, d := range ds {
		out[i] = d.Seconds()
	}
	return out
}

// ProgramTB lets a program use test helpers that take a testing.TB (the
// fixture upstream): a failure ends the program, and cleanups run when
// RunCleanups is called. Methods a helper might call that are not defined
// here panic.
type ProgramTB struct {
	testing.TB
	Program  string // the program's name, for Name
	cleanups []func()
}

func (t *ProgramTB) Helper()                         {}
func (t *ProgramTB) Name() string                    { return t.Program }
func (t *ProgramTB) Logf(format string, args ...any) { log.Printf(format, args...) }
func (t *ProgramTB) Fatalf(format string, args ...any) {
	t.RunCleanups()
	log.Fatalf(format, args...)
}
func (t *ProgramTB) Fatal(args ...any)                 { t.Fatalf("%s", fmt.Sprint(args...)) }
func (t *ProgramTB) Errorf(format string, args ...any) { log.Printf("error: "+format, args...) }
func (t *ProgramTB) Cleanup(f func())                  { t.cleanups = append(t.cleanups, f) }

// TempDir returns a new temporary directory, removed by RunCleanups.
func (t *ProgramTB) TempDir() string {
	dir, err := os.MkdirTemp("", t.Program+"-")
	if err != nil {
		t.Fatalf("%v", err)
	}
	t.Cleanup(func() { RemoveAll(dir) })
	return dir
}

// RunCleanups runs the registered cleanups, last first.
func (t *ProgramTB) RunCleanups() {
	for len(t.cleanups) > 0 {
		f := t.cleanups[len(t.cleanups)-1]
		t.cleanups = t.cleanups[:len(t.cleanups)-1]
		f()
	}
}

// KillWithParent makes cmd's process receive SIGTERM when the driver dies,
// however it dies (Linux only: elsewhere it does nothing).
func KillWithParent(cmd *exec.Cmd) { killWithParent(cmd) }
