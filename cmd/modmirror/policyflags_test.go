package main

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/modmirror/modmirror/policy"
)

type noSeen struct{}

func (noSeen) Seen(ctx context.Context, path string, versions []string, at time.Time) ([]time.Time, error) {
	return nil, nil
}

func TestPolicyFlags(t *testing.T) {
	dir := t.TempDir()
	file := func(name, text string) string {
		f := filepath.Join(dir, name)
		if err := os.WriteFile(f, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return f
	}
	vulns := file("vulns.toml", "[[rule]]\nname = \"v\"\nkind = \"vulns\"\n")
	cooldown := file("cooldown.toml", "[[rule]]\nname = \"c\"\nkind = \"cooldown\"\ndays = 3\n")
	bad := file("bad.toml", "[[rule]]\nname = \"d\"\nkind = \"deny\"\nversions = \"> 1\"\n")
	log := slog.New(slog.DiscardHandler)
	for _, tt := range []struct {
		file, vulndb string
		seen         policy.FirstSeen
		err          string // "" if it opens
		module       string
		version      string
		eager        bool
	}{
		{vulndb: "", module: "golang.org/x/vulndb"},
		{vulndb: "on", module: "golang.org/x/vulndb", eager: true},
		{file: vulns, module: "golang.org/x/vulndb", eager: true},
		{vulndb: "off"},
		{file: vulns, vulndb: "off", err: "a vulns rule needs the vulnerability database, and --vulndb is off"},
		{vulndb: "corp.example/vulndb", module: "corp.example/vulndb", eager: true},
		{vulndb: "golang.org/x/vulndb@v0.0.0-20261105234957-e22db6528018", module: "golang.org/x/vulndb", version: "v0.0.0-20261105234957-e22db6528018", eager: true},
		{vulndb: "golang.org/x/vulndb@latest", err: "with a canonical version"},
		{vulndb: "golang.org/x/vulndb@v1.0", err: "with a canonical version"},
		{vulndb: "golang.org/x/vulndb@v2.0.0", err: "with a canonical version"},
		{vulndb: "yes", err: "--vulndb: want on, off, a module path or path@version"},
		{file: cooldown, err: "a cooldown rule needs the catalog"},
		{file: cooldown, seen: noSeen{}, module: "golang.org/x/vulndb"},
		{file: bad, err: "not a semantic version"},
		{file: filepath.Join(dir, "missing.toml"), err: "no such file"},
	} {
		p := &policyFlags{file: tt.file, vulndb: tt.vulndb, reload: time.Second, refresh: time.Hour}
		s, _, err := p.open(log, tt.seen)
		name := tt.file + " --vulndb " + tt.vulndb
		if tt.err != "" {
			if _, ok := err.(usageError); !ok || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("%s: %v, want a usage error with %q", name, err, tt.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if s.module != tt.module || s.version != tt.version || s.eager != tt.eager {
			t.Errorf("%s: module %q, version %q, eager %v; want %q, %q, %v", name, s.module, s.version, s.eager, tt.module, tt.version, tt.eager)
		}
	}
}
