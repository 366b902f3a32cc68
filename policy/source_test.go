package policy

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"strings"
	"testing"
	"time"

	"github.com/modmirror/modmirror"
	"golang.org/x/mod/module"
)

// fakeSource serves versions of modules from a map, and counts zips.
type fakeSource struct {
	lists  map[string][]string
	latest map[string]string
	zips   int
}

type memFile struct {
	*bytes.Reader
}

func (memFile) Close() error                 { return nil }
func (f memFile) Stat() (fs.FileInfo, error) { return nil, errors.New("no stat") }

func (s *fakeSource) List(ctx context.Context, path string) ([]string, error) {
	l, ok := s.lists[path]
	if !ok {
		return nil, modmirror.NotFound("%s: no such module", path)
	}
	return append([]string(nil), l...), nil
}

func info(v string) []byte {
	data, _ := json.Marshal(struct {
		Version string
		Time    time.Time
	}{v, t0})
	return data
}

func (s *fakeSource) Latest(ctx context.Context, path string) ([]byte, error) {
	return info(s.latest[path]), nil
}

func (s *fakeSource) Info(ctx context.Context, path, query string) (modmirror.File, error) {
	if query == "main" {
		query = "v1.3.1-0.20261201000000-abcdefabcdef"
	}
	return memFile{bytes.NewReader(info(query))}, nil
}

func (s *fakeSource) Mod(ctx context.Context, path, version string) (modmirror.File, error) {
	return memFile{bytes.NewReader([]byte("module " + path + "\n"))}, nil
}

func (s *fakeSource) Zip(ctx context.Context, path, version string) (modmirror.File, error) {
	s.zips++
	return memFile{bytes.NewReader([]byte("PK"))}, nil
}

func TestFilter(t *testing.T) {
	c, seen, _ := newTestChecker(t, testPolicy)
	ctx := context.Background()
	src := &fakeSource{
		lists: map[string][]string{
			"example.com/lib":    {"v1.0.0", "v1.0.1", "v1.1.0", "v1.2.0", "v1.3.0"},
			"example.com/gpl":    {"v1.1.0", "v1.2.0", "v1.3.0", "v1.4.1-rc.1"},
			"example.com/strict": {"v1.0.0"},
		},
		latest: map[string]string{"example.com/lib": "v1.3.0", "example.com/gpl": "v1.3.0", "example.com/strict": "v1.0.1-0.20261101000000-abcdefabcdef", "example.com/new": "v1.0.0"},
	}
	for p, l := range src.lists {
		seen.Seen(ctx, p, l, t0.Add(-30*day))
	}
	seen.Seen(ctx, "example.com/strict", []string{"v1.0.1-0.20261101000000-abcdefabcdef"}, t0.Add(-30*day))
	seen.Seen(ctx, "example.com/lib", []string{"v1.3.1-0.20261201000000-abcdefabcdef"}, t0.Add(-30*day))
	var matched []string
	f := &Filter{Source: src, Checker: c, Matched: func(ctx context.Context, path, version, file string, m Match, blocked bool) {
		matched = append(matched, strings.Join([]string{path, version, file, m.Rule, map[bool]string{true: "block", false: "report"}[blocked]}, " "))
	}}

	list, err := f.List(ctx, "example.com/lib")
	if got := strings.Join(list, " "); err != nil || got != "v1.0.1 v1.1.0" {
		t.Errorf("List = %q, %v; want v1.0.1 v1.1.0", got, err)
	}
	if _, err := f.List(ctx, "example.com/none"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("List of a module not found: %v", err)
	}

	// @latest: the newest allowed release when the latest is blocked.
	latest := func(path string) (string, error) {
		data, err := f.Latest(ctx, path)
		if err != nil {
			return "", err
		}
		var i struct{ Version string }
		json.Unmarshal(data, &i)
		return i.Version, nil
	}
	for path, want := range map[string]string{
		"example.com/lib":    "v1.1.0",
		"example.com/gpl":    "v1.1.0", // v1.3.0 denied; v1.4.1-rc.1 allowed, but a pre-release
		"example.com/strict": "v1.0.0", // the pseudo-version is denied
	} {
		if got, err := latest(path); err != nil || got != want {
			t.Errorf("Latest(%s) = %s, %v; want %s", path, got, err, want)
		}
	}
	// Nothing allowed: the latest version's reason.
	if _, err := latest("example.com/new"); !errors.Is(err, modmirror.ErrBlocked) || !strings.Contains(err.Error(), "'cooldown'") {
		t.Errorf("Latest with nothing allowed: %v", err)
	}

	// .info and .zip of a blocked version are refused, the zip before
	// the source is asked; the .mod is served.
	if _, err := f.Info(ctx, "example.com/lib", "v1.0.0"); !errors.Is(err, modmirror.ErrBlocked) {
		t.Errorf("Info of a blocked version: %v", err)
	}
	if _, err := f.Zip(ctx, "example.com/lib", "v1.0.0"); !errors.Is(err, modmirror.ErrBlocked) || src.zips != 0 {
		t.Errorf("Zip of a blocked version: %v (source asked %d times)", err, src.zips)
	}
	if m, err := f.Mod(ctx, "example.com/lib", "v1.0.0"); err != nil {
		t.Errorf("Mod of a blocked version: %v", err)
	} else {
		data, _ := io.ReadAll(m)
		if string(data) != "module example.com/lib\n" {
			t.Errorf("Mod = %q", data)
		}
	}
	if z, err := f.Zip(ctx, "example.com/lib", "v1.0.1"); err != nil || z == nil {
		t.Errorf("Zip of an allowed version: %v", err)
	}
	// A query is checked once resolved: "main" is a pseudo-version after
	// v1.3.0, which GO-2026-0003 affects.
	if _, err := f.Info(ctx, "example.com/lib", "main"); !errors.Is(err, modmirror.ErrBlocked) || !strings.Contains(err.Error(), "v1.3.1-0.20261201000000-abcdefabcdef") {
		t.Errorf("Info of a query that resolves to a blocked version: %v", err)
	}
	// Reports are told, and served.
	if _, err := f.Info(ctx, "example.com/gpl", "v1.4.1-rc.1"); err != nil {
		t.Errorf("Info of a reported version: %v", err)
	}
	want := []string{
		"example.com/lib v1.0.0 info vulns block",
		"example.com/lib v1.0.0 zip vulns block",
		"example.com/lib v1.3.1-0.20261201000000-abcdefabcdef info vulns block",
		"example.com/gpl v1.4.1-rc.1 info watch-betas report",
	}
	if strings.Join(matched, "\n") != strings.Join(want, "\n") {
		t.Errorf("Matched told:\n%s\nwant:\n%s", strings.Join(matched, "\n"), strings.Join(want, "\n"))
	}

	// With no rules, everything passes through.
	c.Set(nil)
	list, _ = f.List(ctx, "example.com/lib")
	if len(list) != 5 {
		t.Errorf("List with no policy = %v", list)
	}
}

func TestIsVersionOf(t *testing.T) {
	for _, tt := range []struct {
		path, query string
		want        bool
	}{
		{"example.com/m", "v1.2.3", true},
		{"example.com/m", "v0.0.0-20240102030405-abcdefabcdef", true},
		{"example.com/m", "v4.1.2", false}, // resolved to v4.1.2+incompatible
		{"example.com/m", "v4.1.2+incompatible", true},
		{"example.com/m/v4", "v4.1.2", true},
		{"example.com/m/v4", "v4.1.2+incompatible", true}, // as module.Check has it
		{"example.com/m/v4", "v1.0.0", false},
		{"gopkg.in/yaml.v3", "v3.0.1", true},
		{"gopkg.in/yaml.v3", "v2.0.0", false},
		{"example.com/m", "v1.2", false},
		{"example.com/m", "latest", false},
		{"example.com/m", "master", false},
		{"example.com/m", "v1.2.3+meta", false},
	} {
		if got := isVersionOf(tt.path, tt.query); got != tt.want {
			t.Errorf("isVersionOf(%q, %q) = %v, want %v", tt.path, tt.query, got, tt.want)
		}
		if want := module.Check(tt.path, tt.query) == nil && module.CanonicalVersion(tt.query) == tt.query; want != tt.want {
			t.Errorf("%q, %q: module.Check says %v", tt.path, tt.query, want)
		}
	}
}
