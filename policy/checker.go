package policy

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/mod/module"
	"golang.org/x/mod/semver"

	"github.com/modmirror/modmirror"
	"github.com/modmirror/modmirror/vulndb"
)

// FirstSeen keeps when the mirror first saw module versions.
// catalog.Catalog is one.
type FirstSeen interface {
	// Seen returns, for each of versions of path, when the mirror first
	// saw it, recording at for those never seen before. Once recorded, a
	// version's time never changes.
	Seen(ctx context.Context, path string, versions []string, at time.Time) ([]time.Time, error)
}

// A Checker evaluates the current policy. It is safe for concurrent use.
type Checker struct {
	policy atomic.Pointer[Policy]

	// Vulns holds the vulnerability database that vulns rules read. With
	// none loaded, a vulns rule in block mode fails (503): a version it
	// cannot check is not served.
	Vulns *vulndb.Current

	// Seen records first-seen times for cooldown rules; a policy with a
	// cooldown rule needs it.
	Seen FirstSeen

	// Now is the clock; nil means time.Now. Tests set it.
	Now func() time.Time

	seenMu    sync.Mutex
	seenCache map[module.Version]time.Time // immutable facts, so safe to keep
}

// maxSeenCache bounds the first-seen times kept in memory; when full, the
// cache starts over.
const maxSeenCache = 1 << 18

// NewChecker returns a Checker of p (which may be nil: no rules).
func NewChecker(p *Policy, vulns *vulndb.Current, seen FirstSeen) *Checker {
	c := &Checker{Vulns: vulns, Seen: seen}
	c.Set(p)
	return c
}

// Set makes p the policy evaluated from now on.
func (c *Checker) Set(p *Policy) {
	if p == nil {
		p = &Policy{}
	}
	c.policy.Store(p)
}

// Policy returns the policy evaluated.
func (c *Checker) Policy() *Policy { return c.policy.Load() }

func (c *Checker) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}

// Check evaluates the policy for one version, a canonical version of path.
// An error means the policy could not be evaluated (the vulnerability
// database not loaded, the first-seen times unavailable): the version is
// not to be served.
func (c *Checker) Check(ctx context.Context, path, version string) (Verdict, error) {
	if v, ok := c.kept(path, version); ok {
		return v, nil // the hit path: no allocation
	}
	vs, err := c.CheckList(ctx, path, []string{version})
	if err != nil {
		return Verdict{}, err
	}
	return vs[0], nil
}

// CheckList evaluates the policy for versions of path, all canonical.
//
// Verdicts are kept (per policy, so an edit starts afresh) and given again
// while they hold: a verdict depends on the policy, the vulnerability
// database loaded and, for a version a cooldown rule holds back, on the
// time, until the cooldown ends. First-seen times never change once
// recorded. So a hit evaluates nothing, whatever the number of rules.
func (c *Checker) CheckList(ctx context.Context, path string, versions []string) ([]Verdict, error) {
	p := c.policy.Load()
	out := make([]Verdict, len(versions))
	if p.Empty() {
		return out, nil
	}
	rules := p.rulesFor(path)
	if len(rules) == 0 {
		return out, nil
	}
	var db *vulndb.DB
	if c.Vulns != nil {
		db = c.Vulns.Load()
	}
	now := c.now()
	nowf := func() time.Time { return now }
	var todo []string // the versions with no verdict kept
	var at []int      // and their indexes in versions
	for i, v := range versions {
		if kv, ok := p.kept(module.Version{Path: path, Version: v}, c.Vulns, nowf); ok {
			out[i] = kv
			continue
		}
		todo = append(todo, v)
		at = append(at, i)
	}
	if len(todo) == 0 {
		return out, nil
	}
	var seen []time.Time
	for _, r := range rules {
		if r.Kind == Cooldown {
			var err error
			if seen, err = c.firstSeen(ctx, path, todo); err != nil {
				return nil, err
			}
			break
		}
	}
	for k, v := range todo {
		var verdict Verdict
		var until time.Time // when the verdict may change; zero: never
	rules:
		for _, r := range rules {
			if !r.Versions.Contains(v) {
				continue
			}
			var m *Match
			switch r.Kind {
			case Allow:
				break rules
			case Deny:
				m = deny(r, path, v)
			case Cooldown:
				if m = cooldown(r, path, v, seen[k], now); m != nil {
					if end := seen[k].Add(r.Cooldown); until.IsZero() || end.Before(until) {
						until = end
					}
				}
			case Vulns:
				if db == nil {
					if r.Mode == Report {
						continue
					}
					return nil, modmirror.Unavailable("vulnerability database", fmt.Errorf("policy '%s' needs it, and it is not loaded yet", r.Name))
				}
				m = vulns(r, db, path, v)
			}
			if m == nil {
				continue
			}
			if r.Mode == Block {
				verdict.Blocked = m
				break rules
			}
			verdict.Reports = append(verdict.Reports, *m)
		}
		out[at[k]] = verdict
		p.keep(module.Version{Path: path, Version: v}, &keptVerdict{verdict: verdict, db: db, until: until})
	}
	return out, nil
}

// kept returns the verdict kept for path@version, if there is one that
// still holds (with no rules, the empty verdict). Only canonical versions
// of path have verdicts.
func (c *Checker) kept(path, version string) (Verdict, bool) {
	p := c.policy.Load()
	if p.Empty() {
		return Verdict{}, true
	}
	return p.kept(module.Version{Path: path, Version: version}, c.Vulns, c.now)
}

// kept returns the verdict kept for mv, if it still holds with the
// database vulns has loaded, at now (asked only of a verdict that a
// cooldown's end will change).
func (p *Policy) kept(mv module.Version, vulns *vulndb.Current, now func() time.Time) (Verdict, bool) {
	kv, ok := p.verdicts.Load(mv)
	if !ok {
		return Verdict{}, false
	}
	k := kv.(*keptVerdict)
	var db *vulndb.DB
	if vulns != nil {
		db = vulns.Load()
	}
	if k.db != db || !k.until.IsZero() && !now().Before(k.until) {
		return Verdict{}, false
	}
	return k.verdict, true
}

// A keptVerdict is a verdict and what it holds for.
type keptVerdict struct {
	verdict Verdict
	db      *vulndb.DB // the database it was evaluated with
	until   time.Time  // zero: for good
}

func deny(r *rule, path, v string) *Match {
	reason := fmt.Sprintf("%s %s is denied", path, v)
	if !r.Versions.Any() {
		reason += fmt.Sprintf(" (versions %s)", r.Versions)
	}
	if r.Reason != "" {
		reason += ": " + r.Reason
	}
	return &Match{Rule: r.Name, Kind: r.Kind, Mode: r.Mode, Reason: reason}
}

func cooldown(r *rule, path, v string, seen, now time.Time) *Match {
	if r.exceptVersions[module.Version{Path: path, Version: v}] {
		return nil
	}
	until := seen.Add(r.Cooldown)
	if !now.Before(until) {
		return nil
	}
	return &Match{Rule: r.Name, Kind: r.Kind, Mode: r.Mode, Reason: fmt.Sprintf(
		"%s %s was first seen by this mirror %s and is held back for %s, until %s",
		path, v, seen.UTC().Format(time.RFC3339), roughly(r.Cooldown), until.UTC().Format(time.RFC3339))}
}

// roughly writes a duration in days, hours or minutes.
func roughly(d time.Duration) string {
	switch {
	case d >= 48*time.Hour:
		return fmt.Sprintf("%d days", int(d/(24*time.Hour)))
	case d >= 2*time.Hour:
		return fmt.Sprintf("%d hours", int(d/time.Hour))
	default:
		return fmt.Sprintf("%d minutes", int(d/time.Minute))
	}
}

func vulns(r *rule, db *vulndb.DB, path, v string) *Match {
	if !db.Covers(path) {
		return nil
	}
	var hits []*vulndb.Entry
	for _, e := range db.Affecting(path, v) {
		if r.excepted(e) || r.FixedOnly && !e.HasFix(path) || r.ReviewedOnly && !e.Reviewed {
			continue
		}
		if r.MinSeverity > 0 && e.Severity >= 0 && e.Severity < r.MinSeverity {
			continue // rated, below the bar; unrated entries count
		}
		hits = append(hits, e)
	}
	if len(hits) == 0 {
		return nil
	}
	var ids []string
	fixed := ""
	for _, e := range hits {
		id := e.ID
		if cves := cveAliases(e.Aliases); cves != "" {
			id += " (" + cves + ")"
		}
		ids = append(ids, id)
		f := e.Fixed(path, v)
		if f == "" {
			fixed = "none"
		} else if fixed != "none" && (fixed == "" || semver.Compare(fixed, f) < 0) {
			fixed = f
		}
	}
	verb := "affects"
	if len(ids) > 1 {
		verb = "affect"
	}
	reason := fmt.Sprintf("%s %s %s %s", strings.Join(ids, ", "), verb, path, v)
	if fixed == "none" {
		reason += "; no fixed version"
	} else {
		reason += "; fixed in " + fixed
	}
	return &Match{Rule: r.Name, Kind: r.Kind, Mode: r.Mode, Reason: reason}
}

func (r *rule) excepted(e *vulndb.Entry) bool {
	if r.exceptIDs[e.ID] {
		return true
	}
	for _, a := range e.Aliases {
		if r.exceptIDs[a] {
			return true
		}
	}
	return false
}

func cveAliases(aliases []string) string {
	var cves []string
	for _, a := range aliases {
		if strings.HasPrefix(a, "CVE-") {
			cves = append(cves, a)
		}
	}
	return strings.Join(cves, ", ")
}

// firstSeen returns the first-seen times of versions of path, from memory
// where it has them, recording and fetching the others in one call.
func (c *Checker) firstSeen(ctx context.Context, path string, versions []string) ([]time.Time, error) {
	out := make([]time.Time, len(versions))
	var missing []string
	var at []int
	c.seenMu.Lock()
	for i, v := range versions {
		t, ok := c.seenCache[module.Version{Path: path, Version: v}]
		if ok {
			out[i] = t
		} else {
			missing = append(missing, v)
			at = append(at, i)
		}
	}
	c.seenMu.Unlock()
	if len(missing) == 0 {
		return out, nil
	}
	if c.Seen == nil {
		return nil, fmt.Errorf("policy: a cooldown rule needs first-seen times, and there is no catalog to keep them")
	}
	times, err := c.Seen.Seen(ctx, path, missing, c.now())
	if err != nil {
		return nil, err
	}
	c.seenMu.Lock()
	if c.seenCache == nil || len(c.seenCache) > maxSeenCache {
		c.seenCache = make(map[module.Version]time.Time)
	}
	for j, i := range at {
		out[i] = times[j]
		c.seenCache[module.Version{Path: path, Version: missing[j]}] = times[j]
	}
	c.seenMu.Unlock()
	return out, nil
}
