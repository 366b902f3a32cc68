package main

import (
	"fmt"
	"io"

	"github.com/modmirror/modmirror/bench/internal/benchutil"
)

// A breakdownRow is one server's figures for the small files: requests per
// second (median of the measured runs) and system calls per request.
type breakdownRow struct {
	server string
	rps    [2]float64 // .info, small zip
	calls  [2]float64 // -1: not counted
}

var breakdownNotes = map[string]string{
	"nginx":          "nginx, static files (baseline of the targets)",
	"mirror":         "modmirror",
	"mirror-nocache": "modmirror --memory-cache-mb=0",
	"go-open":        "Go: os.Open + http.ServeContent, no mirror layers",
	"go-newfile":     "Go: as above, open(2) + os.NewFile (as fsstore.Open)",
	"go-lean":        "Go: open/fstat/pread + one Write (prototype)",
	"go-memsc":       "Go: from memory via ServeContent(bytes.Reader)",
	"go-mem":         "Go: from memory, one Write (prototype)",
}

func (b *bench) addBreakdown(server string, col int, rps, calls float64) {
	for i := range b.breakdown {
		if b.breakdown[i].server == server {
			b.breakdown[i].rps[col], b.breakdown[i].calls[col] = rps, calls
			return
		}
	}
	r := breakdownRow{server: server}
	r.rps[col], r.calls[col] = rps, calls
	b.breakdown = append(b.breakdown, r)
}

// writeBreakdown prints the breakdown as text or Markdown.
func writeBreakdown(w io.Writer, rows []breakdownRow, markdown bool) {
	if len(rows) == 0 {
		return
	}
	var base breakdownRow
	for _, r := range rows {
		if r.server == "nginx" {
			base = r
		}
	}
	calls := func(x float64) string {
		if x < 0 {
			return "—"
		}
		return fmt.Sprintf("%.1f", x)
	}
	cells := [][]string{{"server", ".info req/s", "vs nginx", "syscalls/req", "small zip req/s", "vs nginx", "syscalls/req"}}
	for _, r := range rows {
		name := breakdownNotes[r.server]
		if name == "" {
			name = r.server
		}
		cells = append(cells, []string{name,
			fmt.Sprintf("%.0f", r.rps[0]), fmt.Sprintf("%.2fx", r.rps[0]/base.rps[0]), calls(r.calls[0]),
			fmt.Sprintf("%.0f", r.rps[1]), fmt.Sprintf("%.2fx", r.rps[1]/base.rps[1]), calls(r.calls[1])})
	}
	benchutil.WriteCells(w, cells, markdown)
}
