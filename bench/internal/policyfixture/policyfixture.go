// Package policyfixture writes the large policy and vulnerability database
// that the policy benchmarks measure: a policy file of many rules, of the
// kinds a company's policy has, and a vulnerability database the size of
// the real one (or the real one, from its module zip).
package policyfixture

import (
	"archive/zip"
	"bytes"
	"fmt"
	"io"
	"path"
	"strings"

	"github.com/modmirror/modmirror/vulndb/vulndbtest"
)

// Covered is the module path prefix that the policy's module-specific
// rules and the database's entries name besides their own: a hit on a
// module under it evaluates many rules, as a module that a policy singles
// out does.
const Covered = "example.com/bench/"

// Policy returns a policy file of n rules (at least 10), in this order:
//
//   - 20%: allow rules for a company's own modules (corpN.example/*);
//   - 40%: deny rules for other modules (github.com/deniedN/*), with
//     reasons;
//   - 10%: deny rules with a version range and no module pattern, so they
//     cover every module (= vN.M.0 of a version no module has);
//   - the rest but two: deny rules for modules under Covered, with version
//     ranges that do not hold for v1.x versions (< v0.N.0);
//   - a cooldown rule of cooldownDays, for every module;
//   - a vulns rule, for every module, with two exceptions.
//
// So a module under Covered meets about 30% of the rules, and any other
// about 10%, each checked against its version range, before the cooldown
// and vulnerability checks.
func Policy(n int, cooldownDays float64) string {
	if n < 10 {
		n = 10
	}
	var b strings.Builder
	rule := func(name, kind string, lines ...string) {
		fmt.Fprintf(&b, "[[rule]]\nname = %q\nkind = %q\n", name, kind)
		for _, l := range lines {
			b.WriteString(l + "\n")
		}
		b.WriteString("\n")
	}
	allow, deny, global := n/5, 2*n/5, n/10
	covered := n - allow - deny - global - 2
	for i := range allow {
		rule(fmt.Sprintf("ours-%d", i), "allow", fmt.Sprintf("modules = [\"corp%d.example/*\"]", i))
	}
	for i := range deny {
		rule(fmt.Sprintf("legal-%d", i), "deny", fmt.Sprintf("modules = [\"github.com/denied%d/*\"]", i),
			fmt.Sprintf("reason = \"not cleared by legal (LEGAL-%d)\"", i))
	}
	for i := range global {
		rule(fmt.Sprintf("broken-%d", i), "deny", fmt.Sprintf("versions = \"= v9%d.%d.0\"", i/100, i%100))
	}
	for i := range covered {
		rule(fmt.Sprintf("old-%d", i), "deny", fmt.Sprintf("modules = [%q]", Covered+"*"),
			fmt.Sprintf("versions = \"< v0.%d.0 || = v0.%d.1-rc.1\"", i+1, i+1))
	}
	rule("cooldown", "cooldown", fmt.Sprintf("days = %g", cooldownDays))
	rule("vulns", "vulns", `except = ["GO-2000-0001", "CVE-2000-0002"]`)
	return b.String()
}

// VulnDB returns the files of a vulnerability database module of n entries
// (about as many as the real one has: 4,800 in 2026), as vulndbtest writes
// them: most for modules of their own, a few for each of paths with ranges
// fixed before v0.1.0 (so that they apply to the paths, and affect none of
// their v1.x versions).
func VulnDB(n int, paths ...string) map[string]string {
	var entries []vulndbtest.Entry
	for i := range n {
		e := vulndbtest.Entry{
			ID:      fmt.Sprintf("GO-%d-%04d", 2020+i/1000, i%1000),
			Aliases: []string{fmt.Sprintf("CVE-%d-%05d", 2020+i/1000, i)},
			Summary: "A synthesized vulnerability of the benchmark's database.",
			Module:  fmt.Sprintf("github.com/synth%d/mod%d", i%1500, i%3),
			Ranges:  [][]string{{"introduced:0", fmt.Sprintf("fixed:1.%d.%d", i%7, i%5)}},
			Package: "example.com/pkg",
			Symbols: []string{"Parse", "Decode"},
		}
		if len(paths) > 0 && i%5 == 0 {
			e.Module = paths[(i/5)%len(paths)]
			e.Ranges = [][]string{{"introduced:0", fmt.Sprintf("fixed:0.0.%d", i%9+1)}}
		}
		entries = append(entries, e)
	}
	return vulndbtest.Files(entries...)
}

// RealVulnDB returns the data/osv files of a golang.org/x/vulndb module
// zip (from a module cache), with the module path prefix of their names
// removed: what the mirror reads of it.
func RealVulnDB(zipFile string) (map[string]string, error) {
	zr, err := zip.OpenReader(zipFile)
	if err != nil {
		return nil, err
	}
	defer zr.Close()
	files := map[string]string{}
	for _, f := range zr.File {
		_, name, ok := strings.Cut(f.Name, "/data/osv/")
		if !ok || path.Ext(name) != ".json" || strings.Contains(name, "/") {
			continue
		}
		rc, err := f.Open()
		if err != nil {
			return nil, err
		}
		data, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			return nil, fmt.Errorf("%s: %v", f.Name, err)
		}
		files["data/osv/"+name] = string(data)
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("%s: no data/osv/*.json entries: not a golang.org/x/vulndb module zip", zipFile)
	}
	return files, nil
}

// Zip returns files as a module zip of mod@version, read back.
func Zip(mod, version string, files map[string]string) (*zip.Reader, error) {
	var b bytes.Buffer
	zw := zip.NewWriter(&b)
	for name, content := range files {
		w, err := zw.Create(mod + "@" + version + "/" + name)
		if err != nil {
			return nil, err
		}
		if _, err := io.WriteString(w, content); err != nil {
			return nil, err
		}
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return zip.NewReader(bytes.NewReader(b.Bytes()), int64(b.Len()))
}
