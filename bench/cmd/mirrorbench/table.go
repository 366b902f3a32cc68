package main

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"time"
)

// A row is one line of the result table.
type row struct {
	metric, mirror, baseline, ratio, target, verdict string
	detail                                           string // samples and notes, printed below the table
}

func median(xs []float64) float64 {
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
	m, bl := median(mirror), median(base)
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
	secs := func(ds []time.Duration) []float64 {
		var out []float64
		for _, d := range ds {
			out = append(out, d.Seconds())
		}
		return out
	}
	m, bl := median(secs(mirror)), median(secs(base))
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

// writeTable prints the rows as an aligned text table or as Markdown.
func writeTable(w io.Writer, rows []row, markdown bool) {
	header := row{metric: "metric", mirror: "modmirror", baseline: "baseline", ratio: "ratio", target: "target", verdict: "result"}
	cells := func(r row) []string {
		return []string{r.metric, r.mirror, r.baseline, r.ratio, r.target, r.verdict}
	}
	if markdown {
		fmt.Fprintf(w, "| %s |\n", strings.Join(cells(header), " | "))
		fmt.Fprintf(w, "|%s\n", strings.Repeat(" --- |", len(cells(header))))
		for _, r := range rows {
			fmt.Fprintf(w, "| %s |\n", strings.Join(cells(r), " | "))
		}
		fmt.Fprintln(w)
		for i, r := range rows {
			fmt.Fprintf(w, "%d. %s: %s\n", i+1, r.metric, r.detail)
		}
		return
	}
	all := append([]row{header}, rows...)
	widths := make([]int, len(cells(header)))
	for _, r := range all {
		for i, c := range cells(r) {
			widths[i] = max(widths[i], len([]rune(c)))
		}
	}
	for j, r := range all {
		for i, c := range cells(r) {
			pad := widths[i] - len([]rune(c))
			if i == 0 {
				fmt.Fprint(w, c, strings.Repeat(" ", pad))
			} else {
				fmt.Fprint(w, "  ", strings.Repeat(" ", pad), c)
			}
		}
		fmt.Fprintln(w)
		if j == 0 {
			total := len(widths)*2 - 2
			for _, n := range widths {
				total += n
			}
			fmt.Fprintln(w, strings.Repeat("-", total))
		}
	}
	fmt.Fprintln(w)
	for i, r := range rows {
		fmt.Fprintf(w, "%d. %s: %s\n", i+1, r.metric, r.detail)
	}
}
