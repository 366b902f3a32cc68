package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/mod/module"

	"github.com/modmirror/modmirror/internal/activity"
	"github.com/modmirror/modmirror/internal/metrics"
	"github.com/modmirror/modmirror/policy"
	"github.com/modmirror/modmirror/vulndb"
	"github.com/modmirror/modmirror/web"
)

// policyFlags are serve's flags for the policy and the vulnerability
// database.
type policyFlags struct {
	file    string
	reload  time.Duration
	vulndb  string
	refresh time.Duration
}

func (p *policyFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&p.file, "policy", "", "policy `file` (TOML): rules that deny, allow, hold back (cooldown) or refuse vulnerable module versions; see docs/POLICY.md. Reloaded when it changes; an invalid edit is logged and the last good policy stays")
	fs.DurationVar(&p.reload, "policy-reload", 5*time.Second, "how often the policy file is looked at for changes")
	fs.StringVar(&p.vulndb, "vulndb", "", "the Go vulnerability database, served at /vuln/ for govulncheck -db and read by vulns rules: on (from the module "+vulndb.DefaultModule+"), off, another module `path` that publishes one, or path@version to keep to one version of it (an imported one, on a mirror without upstream); default on when the policy has a vulns rule, else off")
	fs.DurationVar(&p.refresh, "vulndb-refresh", time.Hour, "how often the vulnerability database module is refreshed from the upstream")
}

// policySetup is what the policy flags open.
type policySetup struct {
	flags   *policyFlags
	checker *policy.Checker
	vulns   *vulndb.Current // empty until the database is loaded
	module  string          // of the database; "" if it is off
	version string          // of the database module to keep to; "" for the latest
	eager   bool            // load the database at start
	log     *slog.Logger

	startVulns sync.Once
	started    atomic.Bool // the updater runs
}

// open loads the policy file (an invalid one stops the mirror at start)
// and decides on the vulnerability database. seen keeps first-seen times:
// nil when there is no catalog, which cooldown rules need.
func (p *policyFlags) open(log *slog.Logger, seen policy.FirstSeen) (*policySetup, []byte, error) {
	if p.reload <= 0 || p.refresh <= 0 {
		return nil, nil, usagef("--policy-reload and --vulndb-refresh must be positive")
	}
	s := &policySetup{flags: p, log: log}
	var pol *policy.Policy
	var data []byte
	if p.file != "" {
		var err error
		if pol, data, err = policy.Load(p.file); err != nil {
			return nil, nil, usagef("--policy: %v", err)
		}
		if err := s.accept(pol, seen); err != nil {
			return nil, nil, usagef("--policy: %v", err)
		}
	}
	switch p.vulndb {
	case "off": // a vulns rule was refused by accept
	case "", "on":
		s.module = vulndb.DefaultModule
	default:
		path, version, pinned := strings.Cut(p.vulndb, "@")
		if err := module.CheckPath(path); err != nil {
			return nil, nil, usagef("--vulndb: want on, off, a module path or path@version: %v", err)
		}
		if pinned {
			if err := module.Check(path, version); err != nil || version != module.CanonicalVersion(version) {
				return nil, nil, usagef("--vulndb: want on, off, a module path or path@version, with a canonical version: %q", p.vulndb)
			}
		}
		s.module, s.version = path, version
	}
	s.eager = p.vulndb != "off" && (p.vulndb != "" || pol.Has(policy.Vulns))
	s.vulns = new(vulndb.Current)
	s.checker = policy.NewChecker(pol, s.vulns, seen)
	return s, data, nil
}

// accept checks that the mirror can evaluate a policy: cooldown rules need
// the catalog's first-seen times.
func (s *policySetup) accept(p *policy.Policy, seen policy.FirstSeen) error {
	if p.Has(policy.Cooldown) && seen == nil {
		return fmt.Errorf("a cooldown rule needs the catalog, which keeps when the mirror first saw each version, and it is off (--catalog-db)")
	}
	if p.Has(policy.Vulns) && s.flags.vulndb == "off" {
		return fmt.Errorf("a vulns rule needs the vulnerability database, and --vulndb is off")
	}
	return nil
}

// start starts the background work: reloading the policy file, and
// keeping the vulnerability database fresh from src, until ctx ends.
func (s *policySetup) start(ctx context.Context, data []byte, src vulndb.Source, tmpDir string, seen policy.FirstSeen) {
	if s.eager {
		s.runVulns(ctx, src, tmpDir)
	}
	if s.flags.file == "" {
		return
	}
	go policy.Watch(ctx, s.flags.file, data, s.flags.reload, s.checker, s.log, func(p *policy.Policy) error {
		if err := s.accept(p, seen); err != nil {
			return err
		}
		if p.Has(policy.Vulns) {
			// A vulns rule added by an edit: the database loads now
			// if it has not; until it has, the rule answers 503.
			s.runVulns(ctx, src, tmpDir)
		}
		return nil
	})
}

func (s *policySetup) runVulns(ctx context.Context, src vulndb.Source, tmpDir string) {
	s.startVulns.Do(func() {
		u := &vulndb.Updater{Module: s.module, Version: s.version, Source: src, Current: s.vulns, TempDir: tmpDir, Logger: s.log.WithGroup("vulndb")}
		s.started.Store(true)
		go u.Run(ctx, s.flags.refresh)
	})
}

// matched logs, counts and records a policy's block or report.
func matched(log *slog.Logger, m *metrics.Metrics, act *activity.Log) func(ctx context.Context, path, version, file string, match policy.Match, blocked bool) {
	return func(ctx context.Context, path, version, file string, match policy.Match, blocked bool) {
		action := "report"
		if blocked {
			action = "block"
		}
		log.Info("policy: "+action, "module", path, "version", version, "file", file, "rule", match.Rule, "reason", match.Reason)
		m.PolicyMatch(match.Rule, action)
		act.AddPolicy(activity.Policy{Time: time.Now(), Path: path, Version: version, File: file, Rule: match.Rule, Reason: match.Reason, Blocked: blocked})
	}
}

// vulnReady is the readiness of the vulnerability database: a mirror whose
// vulns rules cannot tell a safe version from another answers 503 for
// every version they cover, so it is not ready until the database loads.
type vulnReady struct{ c *vulndb.Current }

func (v vulnReady) Ping(ctx context.Context) error {
	if v.c.Load() == nil {
		return errors.New("not loaded yet")
	}
	return nil
}

// info describes the policy in force, for the status page.
func (s *policySetup) info() web.PolicyInfo {
	info := web.PolicyInfo{File: s.flags.file, Rules: s.checker.Policy().RuleNames()}
	switch db := s.vulns.Load(); {
	case s.module == "":
		info.VulnDB = "off"
	case db != nil:
		info.VulnDB = fmt.Sprintf("%s@%s, %d entries, served at /vuln/", db.Module, db.Version, db.Len())
	case !s.started.Load():
		info.VulnDB = "not loaded (--vulndb on, or a vulns rule, loads it)"
	default:
		info.VulnDB = "loading " + s.module + " (see the log if this lasts)"
	}
	return info
}
