package policy

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modmirror/modmirror"
	"github.com/modmirror/modmirror/internal/syncbuf"
	"github.com/modmirror/modmirror/vulndb"
	"github.com/modmirror/modmirror/vulndb/vulndbtest"
)

// memSeen is a FirstSeen in memory.
type memSeen struct {
	mu    sync.Mutex
	times map[string]time.Time
	calls int
	err   error
}

func (m *memSeen) Seen(ctx context.Context, path string, versions []string, at time.Time) ([]time.Time, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.calls++
	if m.err != nil {
		return nil, m.err
	}
	if m.times == nil {
		m.times = map[string]time.Time{}
	}
	out := make([]time.Time, len(versions))
	for i, v := range versions {
		k := path + "@" + v
		if _, ok := m.times[k]; !ok {
			m.times[k] = at
		}
		out[i] = m.times[k]
	}
	return out, nil
}

var day = 24 * time.Hour

var t0 = time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)

const testPolicy = `
# Exceptions first.
[[rule]]
name = "trusted"
kind = "allow"
modules = ["corp.example/*"]

[[rule]]
name = "vulns"
kind = "vulns"
except = ["GO-2026-0009", "CVE-2026-2222"]

[[rule]]
name = "no-pseudo"
kind = "deny"
modules = ["example.com/strict"]
versions = "pseudo"
reason = "tagged releases only"

[[rule]]
name = "legal"
kind = "deny"
modules = ["example.com/gpl", "github.com/badcorp/*"]
versions = ">= v1.2.0, < v1.4.0 || incompatible"
reason = "not cleared by legal (LEGAL-42)"

[[rule]]
name = "watch-betas"
kind = "deny"
mode = "report"
versions = "prerelease"

[[rule]]
name = "cooldown"
kind = "cooldown"
days = 7
except = ["example.com/fresh@v1.5.1"]
`

func newTestChecker(t *testing.T, text string) (*Checker, *memSeen, *time.Time) {
	t.Helper()
	p, err := Parse("policy.toml", []byte(text))
	if err != nil {
		t.Fatal(err)
	}
	var cur vulndb.Current
	db, err := vulndb.Load(vulndbtest.Zip("golang.org/x/vulndb", "v0.0.0-20261201000000-abcdefabcdef",
		vulndbtest.Entry{ID: "GO-2026-0001", Module: "example.com/lib", Aliases: []string{"CVE-2026-1111", "GHSA-xxxx-yyyy-zzzz"}, Ranges: [][]string{{"introduced:0", "fixed:1.0.1"}}},
		vulndbtest.Entry{ID: "GO-2026-0002", Module: "example.com/lib", Aliases: []string{"CVE-2026-2222"}, Ranges: [][]string{{"introduced:1.1.0", "fixed:1.1.1"}}},
		vulndbtest.Entry{ID: "GO-2026-0003", Module: "example.com/lib", Ranges: [][]string{{"introduced:1.2.0"}}},
		vulndbtest.Entry{ID: "GO-2026-0009", Module: "example.com/lib", Ranges: [][]string{{"introduced:1.3.0", "fixed:1.3.1"}}},
		vulndbtest.Entry{ID: "GO-2026-0010", Module: "corp.example/x", Ranges: [][]string{{"introduced:0"}}},
	), "golang.org/x/vulndb", "v0.0.0-20261201000000-abcdefabcdef", t0)
	if err != nil {
		t.Fatal(err)
	}
	cur.Store(db)
	seen := &memSeen{}
	now := t0
	c := NewChecker(p, &cur, seen)
	c.Now = func() time.Time { return now }
	return c, seen, &now
}

func TestCheck(t *testing.T) {
	c, seen, now := newTestChecker(t, testPolicy)
	ctx := context.Background()
	// Versions seen long ago: out of the cooldown.
	seen.Seen(ctx, "example.com/lib", []string{"v1.0.0", "v1.0.1", "v1.1.0", "v1.2.0", "v1.3.0"}, t0.Add(-30*day))
	seen.Seen(ctx, "example.com/gpl", []string{"v1.1.9", "v1.2.0", "v1.3.5", "v1.4.0", "v2.0.0+incompatible", "v1.3.0-rc.1"}, t0.Add(-30*day))
	seen.Seen(ctx, "example.com/strict", []string{"v1.0.0", "v1.0.1-0.20261101000000-abcdefabcdef"}, t0.Add(-30*day))

	tests := []struct {
		path, version string
		blocked       string // the rule, or ""
		reason        string // part of the reason
		reports       string
	}{
		{"example.com/lib", "v1.0.0", "vulns", "GO-2026-0001 (CVE-2026-1111) affects example.com/lib v1.0.0; fixed in v1.0.1", ""},
		{"example.com/lib", "v1.0.1", "", "", ""},
		{"example.com/lib", "v1.1.0", "", "", ""}, // GO-2026-0002 excepted by its alias
		{"example.com/lib", "v1.2.0", "vulns", "GO-2026-0003 affects example.com/lib v1.2.0; no fixed version", ""},
		{"example.com/lib", "v1.3.0", "vulns", "GO-2026-0003 affects", ""}, // GO-2026-0009 excepted
		{"corp.example/x", "v1.0.0", "", "", ""},                           // allowed before the vulns rule
		{"example.com/gpl", "v1.1.9", "", "", ""},
		{"example.com/gpl", "v1.2.0", "legal", "example.com/gpl v1.2.0 is denied (versions >= v1.2.0, < v1.4.0 || incompatible): not cleared by legal (LEGAL-42)", ""},
		{"example.com/gpl", "v1.3.5", "legal", "", ""},
		{"example.com/gpl", "v1.4.0", "", "", ""},
		{"example.com/gpl", "v2.0.0+incompatible", "legal", "", ""},
		{"example.com/gpl", "v1.3.0-rc.1", "legal", "", ""},          // below v1.4.0 and above v1.2.0
		{"github.com/badcorp/tool/v2", "v2.3.0", "cooldown", "", ""}, // not in the range; new
		{"github.com/badcorp/tool", "v1.3.0", "legal", "github.com/badcorp/tool v1.3.0 is denied", ""},
		{"example.com/strict", "v1.0.1-0.20261101000000-abcdefabcdef", "no-pseudo", "tagged releases only", ""},
		{"example.com/strict", "v1.0.0", "", "", ""},
		// New to the mirror: the cooldown holds them, after reporting.
		{"example.com/fresh", "v1.5.0-beta.1", "cooldown", "was first seen by this mirror 2026-12-01T12:00:00Z and is held back for 7 days, until 2026-12-08T12:00:00Z", "watch-betas"},
		{"example.com/fresh", "v1.5.1", "", "", ""}, // an exception
		{"example.com/new", "v0.1.0", "cooldown", "", ""},
	}
	for _, tt := range tests {
		v, err := c.Check(ctx, tt.path, tt.version)
		if err != nil {
			t.Errorf("Check(%s@%s): %v", tt.path, tt.version, err)
			continue
		}
		got := ""
		if v.Blocked != nil {
			got = v.Blocked.Rule
		}
		if got != tt.blocked || v.Blocked != nil && !strings.Contains(v.Blocked.Reason, tt.reason) {
			t.Errorf("Check(%s@%s) blocked by %q (%+v), want %q with %q", tt.path, tt.version, got, v.Blocked, tt.blocked, tt.reason)
		}
		var reports []string
		for _, m := range v.Reports {
			reports = append(reports, m.Rule)
		}
		if strings.Join(reports, " ") != tt.reports {
			t.Errorf("Check(%s@%s) reports %v, want %q", tt.path, tt.version, reports, tt.reports)
		}
		if err := v.Err(tt.path, tt.version); (err != nil) != (tt.blocked != "") || err != nil && (!errors.Is(err, modmirror.ErrBlocked) || !strings.HasPrefix(err.Error(), "blocked by policy '"+tt.blocked+"': ")) {
			t.Errorf("Check(%s@%s).Err() = %v", tt.path, tt.version, err)
		}
	}

	// The cooldown's edges: held until exactly 7 days after first seen.
	*now = t0.Add(7*day - time.Nanosecond)
	if v, _ := c.Check(ctx, "example.com/new", "v0.1.0"); v.Blocked == nil || !strings.Contains(v.Blocked.Reason, "until 2026-12-08T12:00:00Z") {
		t.Errorf("a nanosecond before the cooldown ends: %+v", v.Blocked)
	}
	*now = t0.Add(7 * day)
	if v, _ := c.Check(ctx, "example.com/new", "v0.1.0"); v.Blocked != nil {
		t.Errorf("when the cooldown ends: blocked %+v", v.Blocked)
	}
	// A version first seen now starts its own cooldown.
	if v, _ := c.Check(ctx, "example.com/new", "v0.2.0"); v.Blocked == nil {
		t.Errorf("a version first seen after another's cooldown ended is not held")
	}
}

func TestCheckList(t *testing.T) {
	c, seen, _ := newTestChecker(t, testPolicy)
	ctx := context.Background()
	list := []string{"v1.0.0", "v1.0.1", "v1.1.0", "v1.1.1", "v1.2.0"}
	seen.Seen(ctx, "example.com/lib", list[:4], t0.Add(-30*day))
	calls := seen.calls
	vs, err := c.CheckList(ctx, "example.com/lib", list)
	if err != nil {
		t.Fatal(err)
	}
	var served []string
	for i, v := range vs {
		if v.Blocked == nil {
			served = append(served, list[i])
		}
	}
	if got := strings.Join(served, " "); got != "v1.0.1 v1.1.0 v1.1.1" {
		t.Errorf("served %q", got)
	}
	if seen.calls != calls+1 {
		t.Errorf("a list made %d first-seen calls, want 1", seen.calls-calls)
	}
	// The times are kept in memory: no more calls.
	c.CheckList(ctx, "example.com/lib", list)
	c.Check(ctx, "example.com/lib", "v1.0.0")
	if seen.calls != calls+1 {
		t.Errorf("first-seen times were not kept: %d calls", seen.calls-calls)
	}
}

func TestCheckFailures(t *testing.T) {
	ctx := context.Background()
	// No vulnerability database loaded: a block-mode vulns rule cannot
	// say a version is safe.
	c, seen, _ := newTestChecker(t, testPolicy)
	c.Vulns = &vulndb.Current{}
	if _, err := c.Check(ctx, "example.com/lib", "v1.0.1"); !errors.Is(err, modmirror.ErrUnavailable) {
		t.Errorf("no vulnerability database: %v, want ErrUnavailable", err)
	}
	// A report-mode vulns rule is skipped.
	c2, _, _ := newTestChecker(t, "[[rule]]\nname = \"v\"\nkind = \"vulns\"\nmode = \"report\"\n")
	c2.Vulns = &vulndb.Current{}
	if v, err := c2.Check(ctx, "example.com/lib", "v1.0.0"); err != nil || v.Blocked != nil {
		t.Errorf("report-mode rule without a database: %+v, %v", v, err)
	}
	// First-seen times unavailable: fails, naming why.
	c, seen, _ = newTestChecker(t, testPolicy)
	seen.err = modmirror.Unavailable("catalog", errors.New("connection refused"))
	if _, err := c.Check(ctx, "example.com/x", "v1.0.0"); !errors.Is(err, modmirror.ErrUnavailable) {
		t.Errorf("first-seen times unavailable: %v", err)
	}
	// Paths no cooldown rule covers do not need them.
	c3, seen3, _ := newTestChecker(t, "[[rule]]\nname = \"c\"\nkind = \"cooldown\"\ndays = 1\nmodules = [\"example.com/new\"]\n")
	seen3.err = errors.New("must not be called")
	if v, err := c3.Check(ctx, "example.com/lib", "v1.0.0"); err != nil || v.Blocked != nil {
		t.Errorf("a path no cooldown covers: %+v, %v", v, err)
	}
}

func TestParseErrors(t *testing.T) {
	for _, tt := range []struct{ text, want string }{
		{"[[rule]]\nkind = \"deny\"\n", "rule 1: no name"},
		{"[[rule]]\nname = \"a\"\n", `rule 1 ("a"): no kind`},
		{"[[rule]]\nname = \"a\"\nkind = \"block\"\n", `kind "block": want`},
		{"[[rule]]\nname = \"a\"\nkind = \"deny\"\nmode = \"warn\"\n", `mode "warn"`},
		{"[[rule]]\nname = \"a\"\nkind = \"allow\"\nmode = \"report\"\n", "an allow rule has none"},
		{"[[rule]]\nname = \"a\"\nkind = \"deny\"\nmodules = [\"https://github.com/x\"]\n", "URL scheme"},
		{"[[rule]]\nname = \"a\"\nkind = \"deny\"\nmodules = [\"\"]\n", "no pattern"},
		{"[[rule]]\nname = \"a\"\nkind = \"deny\"\nversions = \">= 1.0\"\n", "not a semantic version"},
		{"[[rule]]\nname = \"a\"\nkind = \"deny\"\ndays = 3\n", "days: only a cooldown rule"},
		{"[[rule]]\nname = \"a\"\nkind = \"cooldown\"\n", "days: a cooldown rule needs"},
		{"[[rule]]\nname = \"a\"\nkind = \"cooldown\"\ndays = -1\n", "days: a cooldown rule needs"},
		{"[[rule]]\nname = \"a\"\nkind = \"cooldown\"\ndays = 1\nexcept = [\"example.com/x\"]\n", "not module@version"},
		{"[[rule]]\nname = \"a\"\nkind = \"vulns\"\nexcept = [\"not an id\"]\n", "not a vulnerability ID"},
		{"[[rule]]\nname = \"a\"\nkind = \"vulns\"\nmin_severity = \"bad\"\n", "min_severity"},
		{"[[rule]]\nname = \"a\"\nkind = \"deny\"\nfixed_only = true\n", "fixed_only: only a vulns rule"},
		{"[[rule]]\nname = \"a\"\nkind = \"deny\"\nmodule = [\"x.com\"]\n", "unknown keys rule.module"},
		{"[[rule]]\nname = \"a\"\nkind = \"deny\"\n[[rule]]\nname = \"a\"\nkind = \"allow\"\n", "rule 2 (\"a\"): a rule of that name comes earlier"},
		{"[[rule]]\nname = \"it's\"\nkind = \"deny\"\n", "no quotes"},
		{"[[rule]\n", "policy.toml"},
		{"rules = 1\n", "unknown keys rules"},
	} {
		_, err := Parse("policy.toml", []byte(tt.text))
		if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.HasPrefix(err.Error(), "policy: policy.toml: ") {
			t.Errorf("Parse(%q) = %v, want an error with %q", tt.text, err, tt.want)
		}
	}
	if p, err := Parse("empty.toml", nil); err != nil || !p.Empty() {
		t.Errorf("an empty file: %v, %v", p, err)
	}
}

func TestWatch(t *testing.T) {
	file := t.TempDir() + "/policy.toml"
	deny := func(name string) string {
		return "[[rule]]\nname = \"" + name + "\"\nkind = \"deny\"\nmodules = [\"example.com/x\"]\n"
	}
	writeFile(t, file, deny("first"))
	p, data, err := Load(file)
	if err != nil {
		t.Fatal(err)
	}
	c := NewChecker(p, nil, nil)
	var logs syncbuf.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	reloaded := make(chan *Policy, 10)
	go Watch(ctx, file, data, time.Millisecond, c, log, func(p *Policy) error {
		if p.Has(Cooldown) {
			return errors.New("no cooldown here")
		}
		reloaded <- p
		return nil
	})

	rule := func() string {
		v, err := c.Check(ctx, "example.com/x", "v1.0.0")
		if err != nil || v.Blocked == nil {
			return ""
		}
		return v.Blocked.Rule
	}
	// accept runs just before the policy is put in force: wait for both.
	settled := func(want string) string {
		<-reloaded
		for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
			if rule() == want {
				break
			}
		}
		return rule()
	}
	writeFile(t, file, deny("second"))
	if got := settled("second"); got != "second" {
		t.Errorf("after an edit, blocked by %q, want second", got)
	}
	// An invalid edit is logged; the last good policy stays.
	writeFile(t, file, "[[rule]]\nname = \"third\"\nkind = \"deny\"\nversions = \">= 1\"\n")
	waitLog(t, &logs, "not a semantic version")
	if got := rule(); got != "second" {
		t.Errorf("after an invalid edit, blocked by %q, want second", got)
	}
	// So is one the caller refuses.
	writeFile(t, file, "[[rule]]\nname = \"c\"\nkind = \"cooldown\"\ndays = 1\n")
	waitLog(t, &logs, "no cooldown here")
	if got := rule(); got != "second" {
		t.Errorf("after a refused edit, blocked by %q, want second", got)
	}
	// An emptied file (an editor caught between truncating and writing).
	writeFile(t, file, "")
	waitLog(t, &logs, "policy file is empty")
	if got := rule(); got != "second" {
		t.Errorf("after the file was emptied, blocked by %q, want second", got)
	}
	// A removed file too.
	os.Remove(file)
	waitLog(t, &logs, "reading the policy file failed")
	if got := rule(); got != "second" {
		t.Errorf("after the file was removed, blocked by %q, want second", got)
	}
	// A file replaced by rename is seen.
	writeFile(t, file+".new", deny("fourth"))
	os.Rename(file+".new", file)
	if got := settled("fourth"); got != "fourth" {
		t.Errorf("after a rename, blocked by %q, want fourth", got)
	}
	if n := strings.Count(logs.String(), "not a semantic version"); n != 1 {
		t.Errorf("an invalid file was logged %d times, want once", n)
	}
}

func writeFile(t *testing.T, name, content string) {
	t.Helper()
	if err := os.WriteFile(name, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func waitLog(t *testing.T, logs *syncbuf.Buffer, text string) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !strings.Contains(logs.String(), text); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no %q in the log:\n%s", text, logs.String())
		}
	}
}

// TestKeptVerdicts checks that a verdict kept for the hit path is given
// again only while it holds: not after the database or the policy changed,
// and, for lists, in the list's order with the versions evaluated anew.
func TestKeptVerdicts(t *testing.T) {
	c, seen, _ := newTestChecker(t, testPolicy)
	ctx := context.Background()
	list := []string{"v1.0.0", "v1.0.1", "v1.1.0", "v1.1.1", "v1.2.0"}
	seen.Seen(ctx, "example.com/lib", list, t0.Add(-30*day))
	blockedBy := func(vs []Verdict) string {
		var out []string
		for _, v := range vs {
			rule := "-"
			if v.Blocked != nil {
				rule = v.Blocked.Rule
			}
			out = append(out, rule)
		}
		return strings.Join(out, " ")
	}
	fresh, freshSeen, _ := newTestChecker(t, testPolicy)
	freshSeen.Seen(ctx, "example.com/lib", list, t0.Add(-30*day))
	want, err := fresh.CheckList(ctx, "example.com/lib", list)
	if err != nil {
		t.Fatal(err)
	}
	// Some kept, some not, in every arrangement.
	for _, first := range [][]string{{"v1.0.1"}, {"v1.0.0", "v1.2.0"}, {"v1.1.1"}, list} {
		if _, err := c.CheckList(ctx, "example.com/lib", first); err != nil {
			t.Fatal(err)
		}
		got, err := c.CheckList(ctx, "example.com/lib", list)
		if err != nil {
			t.Fatal(err)
		}
		if blockedBy(got) != blockedBy(want) {
			t.Errorf("after checking %v: %s, want %s", first, blockedBy(got), blockedBy(want))
		}
	}

	// A new database: v1.0.1 is now affected.
	db, err := vulndb.Load(vulndbtest.Zip("golang.org/x/vulndb", "v0.0.0-20261202000000-abcdefabcdef",
		vulndbtest.Entry{ID: "GO-2026-0011", Module: "example.com/lib", Ranges: [][]string{{"introduced:1.0.1", "fixed:1.0.2"}}},
	), "golang.org/x/vulndb", "v0.0.0-20261202000000-abcdefabcdef", t0)
	if err != nil {
		t.Fatal(err)
	}
	c.Vulns.Store(db)
	if v, _ := c.Check(ctx, "example.com/lib", "v1.0.1"); v.Blocked == nil || !strings.Contains(v.Blocked.Reason, "GO-2026-0011") {
		t.Errorf("after the database changed, v1.0.1: %+v, want blocked by GO-2026-0011", v.Blocked)
	}
	// A new policy.
	p, err := Parse("policy.toml", []byte("[[rule]]\nname = \"all\"\nkind = \"deny\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	c.Set(p)
	if v, _ := c.Check(ctx, "example.com/lib", "v1.0.1"); v.Blocked == nil || v.Blocked.Rule != "all" {
		t.Errorf("after the policy changed, v1.0.1: %+v, want blocked by all", v.Blocked)
	}
}
