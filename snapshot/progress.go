package snapshot

import (
	"fmt"
	"io"
	"sync/atomic"
	"time"
)

// progress counts what a run has done, and reports it.
type progress struct {
	total int64
	done  atomic.Int64 // module versions
	bytes atomic.Int64 // downloaded
	start time.Time
}

// report writes a progress line to w every interval until stop is closed,
// then writes a last one. On a terminal it rewrites one line in place.
func (p *progress) report(w io.Writer, interval time.Duration, terminal bool, stop <-chan struct{}) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			p.print(w, terminal, false)
		case <-stop:
			p.print(w, terminal, true)
			return
		}
	}
}

func (p *progress) print(w io.Writer, terminal, last bool) {
	elapsed := time.Since(p.start)
	n := p.bytes.Load()
	rate := float64(n) / max(elapsed.Seconds(), 0.001)
	line := fmt.Sprintf("snapshot: %d/%d modules, %s downloaded, %s/s, %s",
		p.done.Load(), p.total, formatBytes(float64(n)), formatBytes(rate), elapsed.Round(time.Second))
	switch {
	case terminal && last:
		fmt.Fprintf(w, "\r\033[K%s\n", line)
	case terminal:
		fmt.Fprintf(w, "\r\033[K%s", line)
	default:
		fmt.Fprintln(w, line)
	}
}

// formatBytes formats a byte count with a binary unit.
func formatBytes(n float64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%.0f B", n)
	}
	units := "KMGTPE"
	i := 0
	for n /= unit; n >= unit && i < len(units)-1; i++ {
		n /= unit
	}
	return fmt.Sprintf("%.1f %ciB", n, units[i])
}
