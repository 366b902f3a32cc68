package main

import (
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"time"

	"github.com/modmirror/modmirror"
	"github.com/modmirror/modmirror/internal/goenv"
	"github.com/modmirror/modmirror/origin"
)

// originFlags are serve's flags for filling modules from their origin
// repositories: private paths always, and the upstream list's "direct".
type originFlags struct {
	off      bool
	rules    ruleList
	netrc    string
	insecure string
	cache    string
	interval time.Duration
}

func (o *originFlags) register(fs *flag.FlagSet) {
	fs.BoolVar(&o.off, "no-origin", false, "never fetch from origin repositories: private paths are served from the store only, and direct answers not-found")
	fs.Var(&o.rules, "origin-rule", "`PATTERN=URL`: the repository of module paths whose root matches PATTERN (GOPRIVATE glob, one element per root element), such as 'corp.example/*=https://git.corp.example/{path}.git' ({root}: the matched root, {path}: it without its host, {rest}: it without the pattern's literal prefix); repeat the flag, or separate rules with spaces in the variable; paths no rule matches are found by go-import discovery")
	fs.StringVar(&o.netrc, "origin-netrc", "", "credentials for origin hosts, a `file` in .netrc format (a token per host: 'machine git.corp.example login x-access-token password TOKEN'); sent only to the host they name, never logged")
	fs.StringVar(&o.insecure, "origin-insecure", goenv.Get("GOINSECURE"), "host `patterns` (GOINSECURE syntax) that may be reached over plain http for discovery and git; default $GOINSECURE")
	fs.StringVar(&o.cache, "origin-cache", "", "`directory` of the persistent clones of origin repositories; default <data>/origin")
	fs.DurationVar(&o.interval, "origin-fetch-interval", origin.DefaultFetchInterval, "least time between two fetches of one repository for lists, latest versions and branches")
}

// needed reports whether the mirror needs an origin: it has private paths
// or its upstream list names direct.
func (o *originFlags) needed(private modmirror.Patterns, upstreamList string) bool {
	if o.off {
		return false
	}
	if !private.Empty() {
		return true
	}
	for _, e := range strings.FieldsFunc(upstreamList, func(r rune) bool { return r == ',' || r == '|' }) {
		if strings.TrimSpace(e) == "direct" {
			return true
		}
	}
	return false
}

// check checks the patterns of --origin-insecure and --origin-rule, so that
// a mistyped one stops the mirror at start, whether or not it needs an
// origin.
func (o *originFlags) check() error {
	if _, err := modmirror.ParseHostPatterns(o.insecure); err != nil {
		return usagef("--origin-insecure: %v", err)
	}
	for _, r := range o.rules {
		if err := origin.CheckRule(r); err != nil {
			return usagef("--origin-rule %s=%s: %v", r.Pattern, r.URL, err)
		}
	}
	return nil
}

// open returns the origin, with its clones under data unless --origin-cache
// says otherwise.
func (o *originFlags) open(data string, log *slog.Logger) (*origin.Origin, error) {
	cache := o.cache
	if cache == "" {
		cache = filepath.Join(data, "origin")
	}
	cfg := origin.Config{
		CacheDir:      cache,
		Rules:         o.rules,
		NetrcFile:     o.netrc,
		FetchInterval: o.interval,
		Logger:        log,
	}
	if insecure, _ := modmirror.ParseHostPatterns(o.insecure); !insecure.Empty() {
		cfg.Insecure = insecure.Match // checked by check
	}
	orig, err := origin.New(cfg)
	if err != nil {
		return nil, fmt.Errorf("origin (needed for private paths and direct; --no-origin serves private paths from the store only): %w", err)
	}
	return orig, nil
}

// ruleList is a repeatable flag of origin rules.
type ruleList []origin.Rule

func (l *ruleList) String() string {
	var s []string
	for _, r := range *l {
		s = append(s, r.Pattern+"="+r.URL)
	}
	return strings.Join(s, " ")
}

// Set adds the rules in v, separated by white space (so that one
// environment variable can hold several).
func (l *ruleList) Set(v string) error {
	for _, f := range strings.Fields(v) {
		pattern, url, ok := strings.Cut(f, "=")
		if !ok || pattern == "" || url == "" {
			return errors.New("want PATTERN=URL, such as corp.example/*=https://git.corp.example/{path}.git")
		}
		*l = append(*l, origin.Rule{Pattern: pattern, URL: url})
	}
	return nil
}
