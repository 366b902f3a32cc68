package main

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/modmirror/modmirror/bench/internal/benchutil"
)

// A row is one line of the result table.
type row struct {
	metric, mirror, baseline, ratio, target, verdict string
	detail                                           string // samples and notes, printed below the table
}

func verdict(ok bool) string {
	if ok {
		return "pass"
	}
	return "FAIL"
}

func formatAll(xs []float64, format string) string {
	var parts []string
	for _, x := range xs {
		parts = append(parts, fmt.Sprintf(format, x))
	}
	return strings.Join(parts, ", ")
}

// rowRate adds a row comparing medians of rates (higher is better), with a
// target ratio mirror/baseline of at least minRatio (0: no target).
func (b *bench) rowRate(metric string, mirror, base []float64, format string, minRatio float64, note string) {
	m, bl := benchutil.Median(mirror), benchutil.Median(base)
	r := row{
		metric:   metric,
		mirror:   fmt.Sprintf(format, m),
		baseline: fmt.Sprintf(format, bl),
		ratio:    fmt.Sprintf("%.2fx", m/bl),
		target:   "—",
		verdict:  "—",
		detail:   fmt.Sprintf("modmirror [%s]; baseline [%s]", formatAll(mirror, format), formatAll(base, format)),
	}
	if minRatio > 0 {
		r.target = fmt.Sprintf(">= %.2fx", minRatio)
		r.verdict = verdict(m/bl >= minRatio)
	}
	if note != "" {
		r.detail += "; " + note
	}
	b.rows = append(b.rows, r)
}

// rowTime adds a row comparing median times (lower is better), with a
// target ratio mirror/baseline of at most maxRatio.
func (b *bench) rowTime(metric string, mirror, base []time.Duration, maxRatio float64, note string) {
	secs := benchutil.Seconds
	m, bl := benchutil.Median(secs(mirror)), benchutil.Median(secs(base))
	r := row{
		metric:   metric,
		mirror:   fmt.Sprintf("%.2f s", m),
		baseline: fmt.Sprintf("%.2f s", bl),
		ratio:    fmt.Sprintf("%.2fx", m/bl),
		target:   fmt.Sprintf("<= %.2fx", maxRatio),
		verdict:  verdict(m/bl <= maxRatio),
		detail:   fmt.Sprintf("modmirror [%s] s; baseline [%s] s; %s", formatAll(secs(mirror), "%.2f"), formatAll(secs(base), "%.2f"), note),
	}
	b.rows = append(b.rows, r)
}

// writeTable prints the rows as an aligned text table or as Markdown, then
// the details of each row.
func writeTable(w io.Writer, rows []row, markdown bool) {
	cells := [][]string{{"metric", "modmirror", "baseline", "ratio", "target", "result"}}
	for _, r := range rows {
		cells = append(cells, []string{r.metric, r.mirror, r.baseline, r.ratio, r.target, r.verdict})
	}
	benchutil.WriteCells(w, cells, markdown)
	fmt.Fprintln(w)
	for i, r := range rows {
		fmt.Fprintf(w, "%d. %s: %s\n", i+1, r.metric, r.detail)
	}
}
