package main

import (
	"errors"
	"flag"
	"testing"
	"time"
)

func TestParseFlagsEnvironment(t *testing.T) {
	c := new(serveCommand)
	fs := c.flags()
	t.Setenv("MODMIRROR_LIST_TTL", "5m")
	t.Setenv("MODMIRROR_OFFLINE", "true")
	t.Setenv("MODMIRROR_LISTEN", "127.0.0.1:9")
	if err := parseFlags(fs, []string{"--listen", "127.0.0.1:4000"}); err != nil {
		t.Fatal(err)
	}
	if c.listTTL != 5*time.Minute || !c.offline {
		t.Errorf("environment not applied: list-ttl %v, offline %v", c.listTTL, c.offline)
	}
	if c.listen != "127.0.0.1:4000" {
		t.Errorf("--listen = %q: the command line must win over MODMIRROR_LISTEN", c.listen)
	}

	t.Setenv("MODMIRROR_LIST_TTL", "soon")
	err := parseFlags(new(serveCommand).flags(), nil)
	var ue usageError
	if !errors.As(err, &ue) {
		t.Fatalf("bad MODMIRROR_LIST_TTL: got %v, want a usage error", err)
	}
	if err := parseFlags(flag.NewFlagSet("x", flag.ContinueOnError), []string{"extra"}); !errors.As(err, &ue) {
		t.Errorf("extra argument: got %v, want a usage error", err)
	}
}

func TestSumDBKey(t *testing.T) {
	for _, tc := range []struct {
		in, name, key string
		ok            bool
	}{
		{"sum.golang.org", "sum.golang.org", sumGolangOrgKey, true},
		{sumGolangOrgKey, "sum.golang.org", sumGolangOrgKey, true},
		{"sum.example+01234567+AbCd", "sum.example", "sum.example+01234567+AbCd", true},
		{"sum.example+01234567+AbCd https://sum.example", "", "", false},
		{"sum.example", "", "", false},
		{"", "", "", false},
	} {
		name, key, err := sumdbKey(tc.in)
		if (err == nil) != tc.ok || name != tc.name || key != tc.key {
			t.Errorf("sumdbKey(%q) = %q, %q, %v; want %q, %q, ok=%v", tc.in, name, key, err, tc.name, tc.key, tc.ok)
		}
	}
}

func TestPatterns(t *testing.T) {
	match := patterns(joinPatterns("corp.example/*,", " ,*.internal"))
	for path, want := range map[string]bool{
		"corp.example/lib":     true,
		"corp.example/lib/v2":  true,
		"git.internal/x":       true,
		"example.com/public":   false,
		"corp.example.com/lib": false,
	} {
		if got := match(path); got != want {
			t.Errorf("match(%q) = %v, want %v", path, got, want)
		}
	}
	if patterns("")("corp.example/lib") {
		t.Error("empty patterns matched")
	}
}
