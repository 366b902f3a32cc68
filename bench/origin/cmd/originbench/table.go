package main

import (
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/modmirror/modmirror/bench/internal/benchutil"
)

// A tableRow compares a mirror case with its GOPROXY=direct baseline.
type tableRow struct {
	what           string
	mirror, direct string // case names
}

func (b *bench) rows() []tableRow {
	tag, latest := b.tagQuery(), b.repo.tags[len(b.repo.tags)-1]
	return []tableRow{
		{"1st download @" + tag + ": cold mirror (clone + zip)", caseColdTag, caseDirectTag},
		{"2nd download @" + tag + ": warm mirror (store)", caseWarmTag, caseDirectTag},
		{"1st download @latest (" + latest + "): cold mirror", caseColdLatest, caseDirectLat},
		{"2nd download @latest: warm mirror (store, refs asked)", caseWarmLatest, caseDirectLat},
		{"another tag each run: clone warm, new zip", caseNewTag, caseDirectNew},
		{"(floor) GOPROXY=file:// on the store @" + tag, caseFileTag, caseDirectTag},
	}
}

// stats returns the median, min and max of the runs' wall times.
func stats(runs []goRun) (median, lo, hi time.Duration) {
	if len(runs) == 0 {
		return 0, 0, 0
	}
	d := make([]time.Duration, len(runs))
	for i, r := range runs {
		d[i] = r.elapsed
	}
	return benchutil.Median(d), slices.Min(d), slices.Max(d)
}

func medianBytes(runs []goRun) float64 {
	d := make([]time.Duration, len(runs)) // a duration is an int64, and sorts as one
	for i, r := range runs {
		d[i] = time.Duration(r.gitBytes)
	}
	return float64(benchutil.Median(d))
}

func maxOther(runs ...[]goRun) float64 {
	var m float64
	for _, rs := range runs {
		for _, r := range rs {
			m = max(m, r.other)
		}
	}
	return m
}

func secs(d time.Duration) string { return fmt.Sprintf("%.3f s", d.Seconds()) }

func kB(x float64) string {
	switch {
	case x >= 1e6:
		return fmt.Sprintf("%.2f MB", x/1e6)
	case x >= 1e3:
		return fmt.Sprintf("%.0f kB", x/1e3)
	}
	return fmt.Sprintf("%.0f B", x)
}

// writeTable prints the comparison as aligned text or Markdown.
func (b *bench) writeTable(w io.Writer, markdown bool) {
	cells := [][]string{{"case", "mirror", "min-max", "direct", "min-max", "mirror/direct", "git sent: mirror / direct", "other work (max)"}}
	for _, row := range b.rows() {
		m, mlo, mhi := stats(b.results[row.mirror])
		d, dlo, dhi := stats(b.results[row.direct])
		ratio := "—"
		if d > 0 {
			ratio = fmt.Sprintf("%.2fx", m.Seconds()/d.Seconds())
		}
		cells = append(cells, []string{row.what,
			secs(m), fmt.Sprintf("%.3f-%.3f", mlo.Seconds(), mhi.Seconds()),
			secs(d), fmt.Sprintf("%.3f-%.3f", dlo.Seconds(), dhi.Seconds()),
			ratio,
			kB(medianBytes(b.results[row.mirror])) + " / " + kB(medianBytes(b.results[row.direct])),
			fmt.Sprintf("%.0f%%", 100*maxOther(b.results[row.mirror], b.results[row.direct])),
		})
	}
	benchutil.WriteCells(w, cells, markdown)
}

// writeBreakdown prints, for each mirror case, the medians of what the
// mirror's log says it spent, and what is left for the go command.
func (b *bench) writeBreakdown(w io.Writer) {
	fmt.Fprintln(w, "where the mirror's time goes (medians of its debug log; \"go command\" is the wall time less the mirror's answers):")
	cells := [][]string{{"case", "wall", "clone", "ls-remote*", "fill .info", "fill .mod", "fill .zip", "answers", "go command"}}
	for _, name := range []string{caseColdTag, caseWarmTag, caseNewTag, caseColdLatest, caseWarmLatest} {
		runs := b.results[name]
		var wall, clone, fetch, info, mod, zip, answers, rest []time.Duration
		fetches := 0
		for _, r := range runs {
			if r.mirror == nil {
				continue
			}
			bd := r.mirror
			wall = append(wall, r.elapsed)
			clone = append(clone, bd.clone)
			fetch = append(fetch, bd.fetch)
			fetches = max(fetches, bd.fetches)
			info = append(info, bd.fills["info"])
			mod = append(mod, bd.fills["mod"])
			zip = append(zip, bd.fills["zip"])
			answers = append(answers, bd.total)
			rest = append(rest, r.elapsed-bd.total)
		}
		if len(wall) == 0 {
			continue
		}
		cells = append(cells, []string{name, ms(benchutil.Median(wall)), ms(benchutil.Median(clone)),
			fmt.Sprintf("%dx %s", fetches, ms(benchutil.Median(fetch))),
			ms(benchutil.Median(info)), ms(benchutil.Median(mod)), ms(benchutil.Median(zip)), ms(benchutil.Median(answers)), ms(benchutil.Median(rest))})
	}
	benchutil.WriteCells(w, cells, false)
	fmt.Fprintln(w, "(fill .info includes the clone when the .info comes first; in the @latest cases the list request clones.")
	fmt.Fprintln(w, "*ls-remote: the origin's checks of the repository's refs, with those of the background recheck that a hit")
	fmt.Fprintln(w, "of a stored private .info starts (at most once per --list-ttl); only the warm @latest list waits for one.)")
}
