package policy

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
	"golang.org/x/mod/module"

	"github.com/modmirror/modmirror"
)

// fileRule is a [[rule]] table of a policy file, as written.
type fileRule struct {
	Name     string   `toml:"name"`
	Kind     string   `toml:"kind"`
	Mode     string   `toml:"mode"`
	Modules  []string `toml:"modules"`
	Versions string   `toml:"versions"`
	Reason   string   `toml:"reason"`

	Days   *float64 `toml:"days"`   // cooldown
	Except []string `toml:"except"` // cooldown: module@version; vulns: IDs

	FixedOnly    bool   `toml:"fixed_only"`    // vulns
	ReviewedOnly bool   `toml:"reviewed_only"` // vulns
	MinSeverity  string `toml:"min_severity"`  // vulns
}

type file struct {
	Rules []fileRule `toml:"rule"`
}

// Parse parses a policy file. name is the file's name, for errors. Every
// mistake is an error that names the rule and the key: a policy that
// silently means something else than it says is worse than none.
func Parse(name string, data []byte) (*Policy, error) {
	var f file
	md, err := toml.Decode(string(data), &f)
	if err != nil {
		return nil, fmt.Errorf("policy: %s: %v", name, err)
	}
	if undecoded := md.Undecoded(); len(undecoded) > 0 {
		keys := make([]string, len(undecoded))
		for i, k := range undecoded {
			keys[i] = k.String()
		}
		return nil, fmt.Errorf("policy: %s: unknown keys %s (a rule has name, kind, mode, modules, versions, reason, days, except, fixed_only, reviewed_only, min_severity)", name, strings.Join(keys, ", "))
	}
	p := &Policy{}
	names := map[string]bool{}
	for i, fr := range f.Rules {
		r, err := compileRule(fr)
		where := fmt.Sprintf("rule %d", i+1)
		if fr.Name != "" {
			where = fmt.Sprintf("rule %d (%q)", i+1, fr.Name)
		}
		if err != nil {
			return nil, fmt.Errorf("policy: %s: %s: %v", name, where, err)
		}
		if names[r.Name] {
			return nil, fmt.Errorf("policy: %s: %s: a rule of that name comes earlier; names must be unique, as answers name them", name, where)
		}
		names[r.Name] = true
		p.rules = append(p.rules, r)
	}
	return p, nil
}

func compileRule(fr fileRule) (*rule, error) {
	r := &rule{Name: fr.Name, Kind: Kind(fr.Kind), Mode: Mode(fr.Mode), Reason: fr.Reason}
	if r.Name == "" {
		return nil, errors.New("no name: every rule needs one, as answers name it")
	}
	if strings.ContainsAny(r.Name, "'\n\r\t") || len(r.Name) > 64 {
		return nil, errors.New("name: at most 64 characters, no quotes, tabs or line breaks")
	}
	switch r.Kind {
	case Allow, Deny, Cooldown, Vulns:
	case "":
		return nil, errors.New(`no kind: "allow", "deny", "cooldown" or "vulns"`)
	default:
		return nil, fmt.Errorf(`kind %q: want "allow", "deny", "cooldown" or "vulns"`, fr.Kind)
	}
	switch r.Mode {
	case "":
		r.Mode = Block
	case Block, Report:
	default:
		return nil, fmt.Errorf(`mode %q: want "block" (the default) or "report"`, fr.Mode)
	}
	if r.Kind == Allow && fr.Mode != "" {
		return nil, errors.New("mode: an allow rule has none (it ends evaluation with the version served)")
	}
	var err error
	if r.Modules, err = modmirror.ParsePatterns(strings.Join(fr.Modules, ",")); err != nil {
		return nil, fmt.Errorf("modules: %v", err)
	}
	if len(fr.Modules) > 0 && r.Modules.Empty() {
		return nil, errors.New(`modules: no pattern; leave the key out to mean every module, or write "*"`)
	}
	if r.Versions, err = ParseRange(fr.Versions); err != nil {
		return nil, fmt.Errorf("versions: %v", err)
	}
	only := func(key string, set bool, kinds ...Kind) error {
		if set && !contains(kinds, r.Kind) {
			return fmt.Errorf("%s: only a %s rule has it", key, kindList(kinds))
		}
		return nil
	}
	for _, err := range []error{
		only("days", fr.Days != nil, Cooldown),
		only("except", fr.Except != nil, Cooldown, Vulns),
		only("fixed_only", fr.FixedOnly, Vulns),
		only("reviewed_only", fr.ReviewedOnly, Vulns),
		only("min_severity", fr.MinSeverity != "", Vulns),
		only("reason", fr.Reason != "", Allow, Deny),
	} {
		if err != nil {
			return nil, err
		}
	}
	switch r.Kind {
	case Cooldown:
		if fr.Days == nil || *fr.Days <= 0 || math.IsInf(*fr.Days, 0) || *fr.Days > 3650 {
			return nil, errors.New("days: a cooldown rule needs a number of days above 0 (at most 3650)")
		}
		r.Cooldown = time.Duration(*fr.Days * float64(24*time.Hour))
		r.exceptVersions = map[module.Version]bool{}
		for _, e := range fr.Except {
			p, v, ok := strings.Cut(e, "@")
			if !ok || module.Check(p, v) != nil || module.CanonicalVersion(v) != v {
				return nil, fmt.Errorf("except: %q is not module@version with a canonical version", e)
			}
			r.exceptVersions[module.Version{Path: p, Version: v}] = true
		}
	case Vulns:
		r.exceptIDs = map[string]bool{}
		for _, id := range fr.Except {
			if !idLike(id) {
				return nil, fmt.Errorf("except: %q is not a vulnerability ID such as GO-2024-1234 (aliases such as CVE-2024-1234 work too)", id)
			}
			r.exceptIDs[id] = true
		}
		r.FixedOnly, r.ReviewedOnly = fr.FixedOnly, fr.ReviewedOnly
		if r.MinSeverity, err = parseSeverity(fr.MinSeverity); err != nil {
			return nil, fmt.Errorf("min_severity: %v", err)
		}
	}
	return r, nil
}

func contains(kinds []Kind, k Kind) bool {
	for _, x := range kinds {
		if x == k {
			return true
		}
	}
	return false
}

func kindList(kinds []Kind) string {
	s := make([]string, len(kinds))
	for i, k := range kinds {
		s[i] = string(k)
	}
	return strings.Join(s, " or ")
}

func idLike(id string) bool {
	pre, rest, ok := strings.Cut(id, "-")
	return ok && pre != "" && strings.ToUpper(pre) == pre && len(rest) >= 4 && !strings.ContainsAny(id, " /")
}

// Severity labels, as the lowest CVSS base score of their band.
var severities = map[string]float64{"low": 0.1, "medium": 4, "moderate": 4, "high": 7, "critical": 9}

func parseSeverity(s string) (float64, error) {
	if s == "" {
		return 0, nil
	}
	if x, ok := severities[strings.ToLower(s)]; ok {
		return x, nil
	}
	x, err := strconv.ParseFloat(s, 64)
	if err != nil || x < 0 || x > 10 {
		return 0, fmt.Errorf("%q: want low, medium, high, critical or a CVSS score from 0 to 10", s)
	}
	return x, nil
}
