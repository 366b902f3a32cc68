// Command policybench measures what a policy costs modmirror, in one run on
// one machine:
//
//   - hits: requests per second of a stored .info and a small zip (3 KiB)
//     from "modmirror serve" with a policy of 1,000 rules and the whole
//     vulnerability database loaded, against the same mirror with no
//     policy, and a second mirror with no policy (a control: the noise),
//     loaded in turn (ABC CBA), with wrk; the target is a
//     ratio of at least 0.95;
//   - evaluation: the time to evaluate the policy for every module version
//     of the k8s graph (bench/testdata/k8s/go.sum), in the process
//     (policy.Checker: fresh, with the rules matched to the paths, with the
//     verdicts kept) and through the mirror (POST /policy/check, what
//     "modmirror policy check" costs).
//
// The policy is bench/internal/policyfixture's; the database is
// synthesized with as many entries as the real one, or is the real one
// (-vulndb-zip, a golang.org/x/vulndb module zip from a module cache).
// Everything runs on 127.0.0.1: the fixture upstream serves the modules
// and the database module. bench/policy/run.sh builds and runs it.
package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/modmirror/modmirror/bench/internal/benchutil"
	"github.com/modmirror/modmirror/bench/internal/policyfixture"
	"github.com/modmirror/modmirror/internal/testupstream"
	"github.com/modmirror/modmirror/policy"
	"github.com/modmirror/modmirror/vulndb"
)

type options struct {
	bin       string
	wrk       string
	duration  time.Duration
	repeat    int
	conns     int
	rules     int
	vulndbZip string
	goSum     string
	out       string
}

const (
	smallPath = policyfixture.Covered + "small" // meets ~30% of the rules
	vulnMod   = "golang.org/x/vulndb"
	vulnVer   = "v0.0.0-20261201000000-aaaaaaaaaaaa"
	// cooldownDays holds a version back for 4.3 s: long enough that the
	// rule is evaluated, short enough to wait out before the loads.
	cooldownDays = 0.00005
)

func main() {
	var o options
	flag.StringVar(&o.bin, "bin", "", "the modmirror binary (required)")
	flag.StringVar(&o.wrk, "wrk", "wrk", "the wrk binary")
	flag.DurationVar(&o.duration, "d", 5*time.Second, "length of each measured load")
	flag.IntVar(&o.repeat, "repeat", 3, "pairs of loads per file (ABBA order); the table shows medians")
	flag.IntVar(&o.conns, "c", 32, "wrk connections (1 thread)")
	flag.IntVar(&o.rules, "rules", 1000, "rules of the policy")
	flag.StringVar(&o.vulndbZip, "vulndb-zip", "", "a golang.org/x/vulndb module `zip` to load instead of the synthesized database")
	flag.StringVar(&o.goSum, "gosum", "bench/testdata/k8s/go.sum", "the go.sum whose module versions the evaluation checks")
	flag.StringVar(&o.out, "o", "", "also write the tables as Markdown to this file")
	flag.Parse()
	log.SetFlags(log.Ltime)
	if o.bin == "" {
		log.Fatal("policybench: -bin is required")
	}
	tb := &benchutil.ProgramTB{Program: "policybench"}
	benchutil.OnInterrupt(func() { benchutil.StopAll(); tb.RunCleanups() })
	err := run(tb, o)
	benchutil.StopAll()
	tb.RunCleanups()
	if err != nil {
		log.Fatal(err)
	}
}

func run(tb *benchutil.ProgramTB, o options) error {
	graph, err := readGoSum(o.goSum)
	if err != nil {
		return err
	}
	var paths []string
	for _, mv := range graph {
		paths = append(paths, mv[0])
	}
	dbFiles := policyfixture.VulnDB(4800, append([]string{smallPath}, paths...)...)
	dbName := "synthesized, 4,800 entries"
	if o.vulndbZip != "" {
		if dbFiles, err = policyfixture.RealVulnDB(o.vulndbZip); err != nil {
			return err
		}
		dbName = fmt.Sprintf("%s, %d entries", filepath.Base(o.vulndbZip), len(dbFiles))
	}
	polText := policyfixture.Policy(o.rules, cooldownDays)
	work := tb.TempDir()
	polFile := filepath.Join(work, "policy.toml")
	if err := os.WriteFile(polFile, []byte(polText), 0o644); err != nil {
		return err
	}

	var md strings.Builder
	md.WriteString(fmt.Sprintf("Policy: %d rules (bench/internal/policyfixture); vulnerability database: %s.\n\n", o.rules, dbName))
	if err := evalInProcess(&md, polText, dbFiles, graph); err != nil {
		return err
	}

	log.Printf("starting the fixture upstream and the mirrors")
	dbFiles["go.mod"] = "module " + vulnMod + "\n"
	up := testupstream.New(tb,
		benchutil.RandomModule(smallPath, "v1.0.0", 1, 3<<10),
		testupstream.Module{Path: vulnMod, Version: vulnVer, Files: dbFiles})
	common := []string{"--upstream", up.URL, "--sumdb", up.VerifierKey(), "--log-level", "warn"}
	none, err := benchutil.StartMirror(tb, o.bin, "no policy", nil, 30*time.Second, common...)
	if err != nil {
		return err
	}
	// The same again, so that the table shows how far two identical
	// mirrors differ on this machine: the noise the ratio has.
	control, err := benchutil.StartMirror(tb, o.bin, "no policy (control)", nil, 30*time.Second, common...)
	if err != nil {
		return err
	}
	// /readyz waits for the vulnerability database.
	withPolicy, err := benchutil.StartMirror(tb, o.bin, fmt.Sprintf("%d rules + vulndb", o.rules), nil, 2*time.Minute,
		append(common, "--policy", polFile, "--vulndb", vulnMod+"@"+vulnVer)...)
	if err != nil {
		return err
	}
	if err := evalMirror(&md, withPolicy, graph); err != nil {
		return err
	}
	if err := hits(&md, o, none, control, withPolicy); err != nil {
		return err
	}
	if o.out != "" {
		return os.WriteFile(o.out, []byte(md.String()), 0o644)
	}
	return nil
}

// readGoSum returns the module versions whose zips a go.sum names.
func readGoSum(file string) ([][2]string, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	var out [][2]string
	for line := range strings.Lines(string(data)) {
		f := strings.Fields(line)
		if len(f) == 3 && !strings.HasSuffix(f[1], "/go.mod") {
			out = append(out, [2]string{f[0], f[1]})
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s: no module versions", file)
	}
	return out, nil
}

// seenLongAgo is a FirstSeen for which every version is old.
type seenLongAgo struct{}

func (seenLongAgo) Seen(ctx context.Context, path string, versions []string, at time.Time) ([]time.Time, error) {
	out := make([]time.Time, len(versions))
	for i := range out {
		out[i] = at.Add(-365 * 24 * time.Hour)
	}
	return out, nil
}

// evalInProcess times policy.Checker on the graph: with the policy just
// parsed (every rule matched to every path), again (the rules of each path
// known, the verdicts kept), and with the verdicts forgotten.
func evalInProcess(md *strings.Builder, polText string, dbFiles map[string]string, graph [][2]string) error {
	log.Printf("evaluating in the process")
	zr, err := policyfixture.Zip(vulnMod, vulnVer, dbFiles)
	if err != nil {
		return err
	}
	t := time.Now()
	db, err := vulndb.Load(zr, vulnMod, vulnVer, time.Now())
	if err != nil {
		return err
	}
	loadTime := time.Since(t)
	// An equal database at another address, as a refresh gives: it makes
	// the checker forget its verdicts, not the rules of each path.
	db2, err := vulndb.Load(zr, vulnMod, vulnVer, time.Now())
	if err != nil {
		return err
	}
	ctx := context.Background()
	evalAll := func(c *policy.Checker) (time.Duration, int, error) {
		blocked := 0
		t := time.Now()
		for _, mv := range graph {
			v, err := c.Check(ctx, mv[0], mv[1])
			if err != nil {
				return 0, 0, err
			}
			if v.Blocked != nil {
				blocked++
			}
		}
		return time.Since(t), blocked, nil
	}
	const runs = 20
	var parse, cold, kept, rulesKnown []time.Duration
	blocked := 0
	for range runs {
		t := time.Now()
		p, err := policy.Parse("policy.toml", []byte(polText))
		if err != nil {
			return err
		}
		parse = append(parse, time.Since(t))
		cur := new(vulndb.Current)
		cur.Store(db)
		c := policy.NewChecker(p, cur, seenLongAgo{})
		d, n, err := evalAll(c)
		if err != nil {
			return err
		}
		cold, blocked = append(cold, d), n
		if d, _, err = evalAll(c); err != nil {
			return err
		}
		kept = append(kept, d)
		cur.Store(db2)
		if d, _, err = evalAll(c); err != nil {
			return err
		}
		rulesKnown = append(rulesKnown, d)
	}
	n := len(graph)
	per := func(d time.Duration) string {
		return fmt.Sprintf("%.1f µs", float64(d.Nanoseconds())/float64(n)/1000)
	}
	cells := [][]string{{"step", "time (median of 20)", "per module version"}}
	cells = append(cells,
		[]string{"load the vulnerability database", benchutil.Ms(loadTime), ""},
		[]string{"parse the policy", benchutil.Ms(benchutil.Median(parse)), ""},
		[]string{fmt.Sprintf("evaluate %d versions, policy just parsed", n), benchutil.Ms(benchutil.Median(cold)), per(benchutil.Median(cold))},
		[]string{"again, rules by path known, verdicts forgotten (a new database)", benchutil.Ms(benchutil.Median(rulesKnown)), per(benchutil.Median(rulesKnown))},
		[]string{"again, verdicts kept (the hit path)", benchutil.Ms(benchutil.Median(kept)), per(benchutil.Median(kept))},
	)
	log.Printf("in process: %d of %d versions blocked", blocked, n)
	return table(md, fmt.Sprintf("Evaluating the policy for the k8s graph (%d module versions with zips; %d blocked), in the process", n, blocked), cells)
}

// evalMirror times POST /policy/check of the graph: the first (which
// records the versions' first-seen times, all new, so the cooldown holds
// them back), one after the cooldown has passed (every rule evaluated), and
// one more (verdicts kept).
func evalMirror(md *strings.Builder, m *benchutil.Mirror, graph [][2]string) error {
	log.Printf("evaluating through the mirror")
	var body bytes.Buffer
	for _, mv := range graph {
		fmt.Fprintf(&body, "%s %s\n", mv[0], mv[1])
	}
	check := func() (time.Duration, int, error) {
		t := time.Now()
		resp, err := http.Post(m.URL+policy.CheckPath, "text/plain", bytes.NewReader(body.Bytes()))
		if err != nil {
			return 0, 0, err
		}
		data, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		d := time.Since(t)
		if err != nil || resp.StatusCode != 200 {
			return 0, 0, fmt.Errorf("POST %s: %v %s %s", policy.CheckPath, err, resp.Status, data)
		}
		return d, bytes.Count(data, []byte(`"blocked"`)), nil
	}
	first, held, err := check()
	if err != nil {
		return err
	}
	time.Sleep(time.Duration(cooldownDays*24*float64(time.Hour)) + time.Second)
	after, blocked, err := check()
	if err != nil {
		return err
	}
	again, _, err := check()
	if err != nil {
		return err
	}
	n := len(graph)
	cells := [][]string{{"request", "time", "blocked"}}
	cells = append(cells,
		[]string{"first: records first-seen times (all new: the cooldown holds them)", benchutil.Ms(first), fmt.Sprint(held)},
		[]string{"after the cooldown: every rule evaluated", benchutil.Ms(after), fmt.Sprint(blocked)},
		[]string{"again: verdicts kept", benchutil.Ms(again), fmt.Sprint(blocked)},
	)
	return table(md, fmt.Sprintf("The same through the mirror: POST %s of %d module versions (what \"modmirror policy check\" sends), SQLite catalog", policy.CheckPath, n), cells)
}

// hits loads a stored .info and small zip from both mirrors in turn.
func hits(md *strings.Builder, o options, none, control, withPolicy *benchutil.Mirror) error {
	files := []struct{ name, path string }{
		{".info", "/" + smallPath + "/@v/v1.0.0.info"},
		{".zip (3 KiB)", "/" + smallPath + "/@v/v1.0.0.zip"},
	}
	// Fill both, and wait out the cooldown of the policy's mirror.
	client := benchutil.NewClient(1)
	deadline := time.Now().Add(time.Minute)
	for _, f := range files {
		for _, m := range []*benchutil.Mirror{none, control} {
			if _, err := benchutil.Fetch(client, m.URL+f.path); err != nil {
				return err
			}
		}
		for {
			_, err := benchutil.Fetch(client, withPolicy.URL+f.path)
			if err == nil {
				break
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("%s: %v (the cooldown should have passed)", withPolicy.Name, err)
			}
			time.Sleep(500 * time.Millisecond)
		}
	}
	cells := [][]string{{"file", "no policy, req/s", fmt.Sprintf("%d rules + vulndb, req/s", o.rules), "ratio", "target", "control, req/s", "control ratio"}}
	for _, f := range files {
		rps := map[*benchutil.Mirror][]float64{}
		for i := range o.repeat {
			order := []*benchutil.Mirror{none, withPolicy, control}
			if i%2 == 1 {
				slices.Reverse(order)
			}
			for _, m := range order {
				if _, err := wrk(o, m.URL+f.path, time.Second); err != nil { // warm-up
					return err
				}
				r, err := wrk(o, m.URL+f.path, o.duration)
				if err != nil {
					return err
				}
				rps[m] = append(rps[m], r)
				log.Printf("%s %s: %.0f req/s", f.name, m.Name, r)
			}
		}
		a, b := benchutil.Median(rps[none]), benchutil.Median(rps[withPolicy])
		verdict := "met"
		if b/a < 0.95 {
			verdict = "MISSED"
		}
		c := benchutil.Median(rps[control])
		cells = append(cells, []string{f.name, fmt.Sprintf("%.0f", a), fmt.Sprintf("%.0f", b), fmt.Sprintf("%.3f", b/a), ">= 0.95 " + verdict,
			fmt.Sprintf("%.0f", c), fmt.Sprintf("%.3f", c/a)})
	}
	return table(md, fmt.Sprintf("Hits: wrk, 1 thread, %d connections, keep-alive, median of %d runs of %v each, alternating (ABC CBA); the control is a second mirror with no policy", o.conns, o.repeat, o.duration), cells)
}

var wrkRate = regexp.MustCompile(`(?m)^Requests/sec:\s+([0-9.]+)`)

// wrk loads url for d and returns the requests per second; any error or
// answer other than 2xx makes the run invalid.
func wrk(o options, url string, d time.Duration) (float64, error) {
	out, err := exec.Command(o.wrk, "-t", "1", "-c", strconv.Itoa(o.conns), "-d", fmt.Sprintf("%ds", max(1, int(d.Round(time.Second).Seconds()))), url).CombinedOutput()
	if err != nil {
		return 0, fmt.Errorf("wrk %s: %v\n%s", url, err, out)
	}
	if bytes.Contains(out, []byte("Non-2xx")) || bytes.Contains(out, []byte("Socket errors")) {
		return 0, fmt.Errorf("wrk %s: errors:\n%s", url, out)
	}
	m := wrkRate.FindSubmatch(out)
	if m == nil {
		return 0, fmt.Errorf("wrk %s: no Requests/sec line:\n%s", url, out)
	}
	return strconv.ParseFloat(string(m[1]), 64)
}

// table prints a table, and adds it to md as Markdown.
func table(md *strings.Builder, title string, cells [][]string) error {
	fmt.Printf("\n%s\n\n", title)
	benchutil.WriteCells(os.Stdout, cells, false)
	fmt.Fprintf(md, "%s\n\n", title)
	benchutil.WriteCells(md, cells, true)
	md.WriteString("\n")
	return nil
}
