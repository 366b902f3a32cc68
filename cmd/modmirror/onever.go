package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"text/tabwriter"

	"golang.org/x/mod/module"

	"github.com/modmirror/modmirror/snapshot"
	"github.com/modmirror/modmirror/upstream"
)

// runOneVersion is snapshot --one-version: args are project directories
// and applications (module@version).
func (c *snapshotCommand) runOneVersion(ctx context.Context, args []string) error {
	if c.toolchain != "" {
		return usageError{err: errors.New("--toolchain is not supported with --one-version")}
	}
	if c.checkTest && !c.check {
		return usageError{err: errors.New("--check-test needs --check")}
	}
	var dirs []string
	var apps []module.Version
	for _, a := range args {
		path, version, ok := strings.Cut(a, "@")
		if !ok {
			dirs = append(dirs, a)
			continue
		}
		if err := module.Check(path, version); err != nil || version != module.CanonicalVersion(version) {
			return usagef("%s: want a directory, or an application as module@version with a canonical version", a)
		}
		apps = append(apps, module.Version{Path: path, Version: version})
	}
	nosumdb, err := parsePatterns("nosumdb", c.nosumdb)
	if err != nil {
		return err
	}
	if strings.TrimSpace(c.upstream) == "off" {
		return usageError{err: errors.New("--one-version needs an upstream (--upstream) for the go.mod files it reads")}
	}
	if strings.TrimSpace(c.sumdb) == "off" {
		return usageError{err: errors.New("--one-version needs a checksum database (--sumdb) for the hashes of the versions it chooses")}
	}
	up, err := upstream.Parse(c.upstream, upstream.Options{UserAgent: "modmirror/" + version()})
	if err != nil {
		return usageError{err: err}
	}
	v, cleanup, err := c.checker(up)
	if err != nil {
		return err
	}
	defer cleanup()

	opts := snapshot.Options{Dirs: dirs, Out: c.out, Jobs: c.jobs, Expect: c.expect, Upstream: up}
	switch c.manifest {
	case "":
		opts.Manifest = snapshot.ManifestFile(c.out)
	case "off":
	default:
		opts.Manifest = c.manifest
	}
	if !c.quiet {
		opts.Progress = c.stderr
		opts.ProgressTerminal = isTerminal(c.stderr)
	}
	ov := snapshot.OneVersion{Apps: apps, Pins: c.pins, Sums: v, Private: nosumdb.Match}
	res, err := snapshot.RunOneVersion(ctx, opts, ov)
	if res != nil && res.Result != nil {
		c.report1(res)
		if werr := c.writeReport(res); werr != nil && err == nil {
			err = werr
		}
	}
	if err != nil {
		return err
	}
	fmt.Fprintln(c.stdout, res.Hash)
	if c.printEnv {
		for _, kv := range buildEnv(res.Out, false) {
			fmt.Fprintln(c.stdout, kv)
		}
	}
	if !c.check {
		return nil
	}
	checks, err := snapshot.CheckBuilds(ctx, res, snapshot.CheckOptions{Vet: c.checkVet, Test: c.checkTest})
	if err != nil {
		return err
	}
	return c.reportChecks(checks)
}

// report1 prints what one version per module chose, on stderr.
func (c *snapshotCommand) report1(res *snapshot.OneVersionResult) {
	w := c.stderr
	if !c.quiet {
		fmt.Fprintf(w, "snapshot: %d module versions, %d files (%d fetched, %d reused), %d removed\n",
			res.Modules, res.Files, res.Fetched, res.Reused, len(res.Result.Removed))
	}
	if len(res.Before) == 0 {
		fmt.Fprintln(w, "snapshot: no version skew among the projects")
	} else {
		fmt.Fprintln(w, "snapshot: version skew among the projects, and the version chosen:")
		chosen := make(map[string]string)
		for _, m := range res.Chosen {
			chosen[m.Path] = m.Version
		}
		for _, s := range res.Before {
			if v := chosen[s.Path]; v != "" {
				fmt.Fprintf(w, "\t%s: chose %s\n", s.Path, v)
			} else {
				fmt.Fprintf(w, "\t%s: a project itself, built from its own source\n", s.Path)
			}
			for _, v := range s.Versions {
				fmt.Fprintf(w, "\t\t%s\twanted by %s\n", v.Version, strings.Join(v.Projects, ", "))
			}
		}
	}
	for _, p := range res.Pins {
		switch {
		case p.Selected == "":
			fmt.Fprintf(w, "snapshot: --pin %s@%s: no project needs %s\n", p.Path, p.Pinned, p.Path)
		case p.Selected == p.Pinned:
			fmt.Fprintf(w, "snapshot: --pin %s@%s: selection chose it anyway\n", p.Path, p.Pinned)
		default:
			fmt.Fprintf(w, "snapshot: --pin %s@%s: instead of %s\n", p.Path, p.Pinned, p.Selected)
		}
	}
	if len(res.Extra) > 0 {
		fmt.Fprintf(w, "snapshot: requirements added for the choice to hold in each project: %v\n", res.Extra)
	}
	for _, p := range res.Projects {
		fmt.Fprintf(w, "snapshot: %s: %s, %s", projectLabel(p), p.ModFile, p.SumFile)
		if len(p.Changed) == 0 {
			fmt.Fprintln(w, "; no version changed")
			continue
		}
		fmt.Fprintf(w, "; %d changed:\n", len(p.Changed))
		for _, ch := range p.Changed {
			fmt.Fprintf(w, "\t%s %s => %s\n", ch.Path, orNone(ch.From), ch.To)
		}
	}
	if len(res.Reports) > 0 && !c.quiet {
		tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
		fmt.Fprintln(tw, "MODULE\tVERSION\tNAR HASH\tLICENSES")
		for _, m := range res.Reports {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", m.Path, m.Version, m.NAR, orNone(strings.Join(m.Licenses, ", ")))
		}
		tw.Flush()
	}
}

func projectLabel(p snapshot.ProjectFiles) string {
	if p.App != "" {
		return p.App
	}
	return p.Dir
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}

// writeReport writes the JSON report beside the snapshot, unless --report
// is off.
func (c *snapshotCommand) writeReport(res *snapshot.OneVersionResult) error {
	file := c.reportFile
	switch file {
	case "off":
		return nil
	case "":
		file = strings.TrimSuffix(snapshot.ManifestFile(c.out), ".manifest") + ".report.json"
	}
	r := struct {
		Hash     string
		Chosen   []string
		Extra    []string
		Before   []snapshot.Skew
		Pins     []snapshot.PinEffect
		Projects []snapshot.ProjectFiles
		Modules  []snapshot.ModuleReport
	}{Hash: res.Hash, Before: res.Before, Pins: res.Pins, Projects: res.Projects, Modules: res.Reports}
	for _, m := range res.Chosen {
		r.Chosen = append(r.Chosen, m.String())
	}
	for _, m := range res.Extra {
		r.Extra = append(r.Extra, m.String())
	}
	data, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(file, append(data, '\n'), 0o644)
}

// reportChecks prints how each project built, and fails if one did not.
func (c *snapshotCommand) reportChecks(checks []snapshot.BuildCheck) error {
	failed := 0
	for _, ch := range checks {
		where := "offline"
		if !ch.Sandboxed {
			where = "without a network sandbox (unshare -n is not available here)"
		}
		if ch.Failed == "" {
			fmt.Fprintf(c.stderr, "check: %s: ok (%s)\n", projectLabel(ch.Project), where)
			continue
		}
		failed++
		fmt.Fprintf(c.stderr, "check: %s: go %s failed (%s):\n", projectLabel(ch.Project), ch.Failed, where)
		for _, l := range strings.Split(ch.Output, "\n") {
			fmt.Fprintf(c.stderr, "\t%s\n", l)
		}
		if len(ch.Project.Changed) > 0 {
			fmt.Fprintf(c.stderr, "\tversions changed for it:")
			for _, m := range ch.Project.Changed {
				fmt.Fprintf(c.stderr, " %s %s => %s;", m.Path, orNone(m.From), m.To)
			}
			fmt.Fprintln(c.stderr)
		}
	}
	if failed > 0 {
		return fmt.Errorf("check: %d of %d projects failed under the chosen versions; a --pin may help", failed, len(checks))
	}
	return nil
}
