// Package policy decides which module versions the mirror serves: rules
// that deny or allow versions by module pattern and version range, hold
// back versions the mirror first saw less than some days ago (a cooldown),
// and deny versions that an entry of the Go vulnerability database affects.
//
// # Evaluation
//
// Rules are evaluated in the order the file lists them, for a module
// version, skipping those whose modules and versions do not cover it:
//
//   - an allow rule ends evaluation: the version is served;
//   - a deny rule matches;
//   - a cooldown rule matches if the mirror first saw the version less than
//     its days ago (and the version is not one of its exceptions);
//   - a vulns rule matches if an entry of the vulnerability database affects
//     the version (not withdrawn, not an exception, and passing its filters).
//
// A match in block mode ends evaluation: the version is blocked, with the
// rule's name and the reason in the answer. A match in report mode is
// recorded (logged, counted, shown on the status page) and evaluation goes
// on. With no match the version is served. So an allow rule above a deny
// rule makes an exception to it, and an allow rule above a vulns rule
// exempts modules from it: order rules from the most to the least
// specific, as in a firewall.
//
// # What is blocked
//
// A blocked version's .info and .zip are refused (403, which the go command
// does not fall through on), and it is left out of lists and never chosen
// as @latest or as the answer to a query. Its go.mod is served: the go
// command needs the go.mod files of versions in the module graph that the
// build does not use, and a go.mod holds no code.
//
// # The cooldown's clock
//
// A version's first-seen time is the mirror's own: when it first stored,
// listed or was asked for the version, whichever came first, recorded in
// the catalog. Never the .info Time, which the author sets. A module the
// mirror has never seen is new in all its versions: adopting one takes an
// allow rule or an exception, or the cooldown's wait.
package policy

import (
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/mod/module"

	"github.com/modmirror/modmirror"
)

// A Kind is what a rule does.
type Kind string

// The kinds of rules.
const (
	Allow    Kind = "allow"
	Deny     Kind = "deny"
	Cooldown Kind = "cooldown"
	Vulns    Kind = "vulns"
)

// A Mode says what a matching rule does.
type Mode string

// The modes of rules.
const (
	Block  Mode = "block"  // refuse the version
	Report Mode = "report" // serve it, and record the match
)

// A rule is one compiled [[rule]] of a policy file.
type rule struct {
	Name     string
	Kind     Kind
	Mode     Mode
	Modules  modmirror.Patterns // empty: every module
	Versions Range
	Reason   string // allow, deny: the operator's words

	Cooldown       time.Duration
	exceptVersions map[module.Version]bool

	exceptIDs    map[string]bool
	FixedOnly    bool
	ReviewedOnly bool
	MinSeverity  float64 // 0: any
}

func (r *rule) covers(path string) bool {
	return r.Modules.Empty() || r.Modules.Match(path)
}

// A Policy is a parsed policy file. It is immutable and safe for concurrent
// use.
type Policy struct {
	rules []*rule

	// byPath caches the rules that cover a module path: with a thousand
	// rules, matching every pattern on every hit would cost more than the
	// hit.
	byPath     sync.Map // string -> []*rule
	byPathSize atomic.Int64

	// verdicts keeps the verdicts evaluated, by module version (see
	// Checker.CheckList).
	verdicts     sync.Map // module.Version -> *keptVerdict
	verdictsSize atomic.Int64
}

// maxKeptVerdicts bounds the verdicts kept; past it, they are forgotten
// and kept afresh. The verdicts of a mirror's working set stay.
const maxKeptVerdicts = 1 << 17

func (p *Policy) keep(mv module.Version, kv *keptVerdict) {
	if p.verdictsSize.Load() >= maxKeptVerdicts {
		p.verdicts.Clear()
		p.verdictsSize.Store(0)
	}
	if _, loaded := p.verdicts.Swap(mv, kv); !loaded {
		p.verdictsSize.Add(1)
	}
}

// maxCachedPaths bounds the cache of rules by module path; past it, rules
// are matched on each request.
const maxCachedPaths = 200_000

// Empty reports whether the policy has no rules.
func (p *Policy) Empty() bool { return p == nil || len(p.rules) == 0 }

// Len returns the number of rules.
func (p *Policy) Len() int { return len(p.rules) }

// Has reports whether the policy has a rule of kind k.
func (p *Policy) Has(k Kind) bool {
	if p == nil {
		return false
	}
	for _, r := range p.rules {
		if r.Kind == k {
			return true
		}
	}
	return false
}

// RuleNames returns the names of the rules, in order, with their kinds and
// modes, for the status page: "name (kind, mode)".
func (p *Policy) RuleNames() []string {
	var out []string
	for _, r := range p.rules {
		if r.Kind == Allow {
			out = append(out, fmt.Sprintf("%s (allow)", r.Name))
		} else {
			out = append(out, fmt.Sprintf("%s (%s, %s)", r.Name, r.Kind, r.Mode))
		}
	}
	return out
}

// rulesFor returns the rules that cover path, in order.
func (p *Policy) rulesFor(path string) []*rule {
	if v, ok := p.byPath.Load(path); ok {
		return v.([]*rule)
	}
	var out []*rule
	for _, r := range p.rules {
		if r.covers(path) {
			out = append(out, r)
		}
	}
	if p.byPathSize.Load() < maxCachedPaths {
		if _, loaded := p.byPath.LoadOrStore(path, out); !loaded {
			p.byPathSize.Add(1)
		}
	}
	return out
}

// A Match is a rule that matched a module version.
type Match struct {
	Rule   string `json:"rule"`
	Kind   Kind   `json:"kind"`
	Mode   Mode   `json:"mode"`
	Reason string `json:"reason"` // why, naming the version
}

func (m Match) String() string { return fmt.Sprintf("policy '%s': %s", m.Rule, m.Reason) }

// A Verdict is the policy's answer for one module version.
type Verdict struct {
	Blocked *Match  // the block-mode match, or nil if the version is served
	Reports []Match // report-mode matches before the evaluation ended
}

// A BlockedError reports a version a policy blocks. It matches
// modmirror.ErrBlocked.
type BlockedError struct {
	Path, Version string
	Match         Match
}

func (e *BlockedError) Error() string { return "blocked by " + e.Match.String() }

func (e *BlockedError) Is(target error) bool { return target == modmirror.ErrBlocked }

// Err returns the verdict as an error: a *BlockedError if the version is
// blocked, else nil.
func (v Verdict) Err(path, version string) error {
	if v.Blocked == nil {
		return nil
	}
	return &BlockedError{Path: path, Version: version, Match: *v.Blocked}
}
