package gosum

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"golang.org/x/mod/module"

	"github.com/modmirror/modmirror"
)

func TestParse(t *testing.T) {
	data := "example.com/a v1.0.0 h1:AAA=\n\n  example.com/a v1.0.0/go.mod h1:BBB=  \n" +
		"example.com/b v1.0.0\nExample..com/c v1.0.0 h1:C=\nexample.com/d v1.0.0 nocolon\nexample.com/e v1.0.0 h2:E=\n"
	lines := Parse("go.sum", []byte(data))
	want := []struct {
		num  int
		key  string
		hash string
		err  string
	}{
		{1, "example.com/a v1.0.0", "h1:AAA=", ""},
		{3, "example.com/a v1.0.0/go.mod", "h1:BBB=", ""},
		{4, "", "", "2 fields, want 3"},
		{5, "", "", "malformed module path"},
		{6, "", "", `malformed hash "nocolon"`},
		{7, "example.com/e v1.0.0", "h2:E=", ""},
	}
	if len(lines) != len(want) {
		t.Fatalf("Parse returned %d lines, want %d: %+v", len(lines), len(want), lines)
	}
	for i, w := range want {
		l := lines[i]
		if l.Num != w.num || l.File != "go.sum" {
			t.Errorf("line %d: at %s, want go.sum:%d", i, l.Pos(), w.num)
		}
		if w.err != "" {
			if l.Err == nil || !strings.Contains(l.Err.Error(), w.err) {
				t.Errorf("%s: error %v, want %q", l.Pos(), l.Err, w.err)
			}
			continue
		}
		if l.Err != nil || l.Key() != w.key || l.Hash != w.hash {
			t.Errorf("%s: %q %q %v, want %q %q", l.Pos(), l.Key(), l.Hash, l.Err, w.key, w.hash)
		}
	}
}

// FuzzParse checks that every line Parse accepts is a valid module
// version with a hash, and that its key and hash rebuild the line.
func FuzzParse(f *testing.F) {
	for _, s := range []string{"example.com/a v1.0.0 h1:AAA=\n", "a b\n", "example.com/a v1.0.0/go.mod h1:x\r\n\n"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data string) {
		for _, l := range Parse("go.sum", []byte(data)) {
			if l.Err != nil {
				continue
			}
			if err := module.Check(l.Path, l.Version); err != nil {
				t.Fatalf("%s: accepted %q: %v", l.Pos(), l.Key(), err)
			}
			line := strings.Join(strings.Fields(strings.Split(data, "\n")[l.Num-1]), " ")
			if l.Alg() == "" || line != l.Key()+" "+l.Hash {
				t.Fatalf("%s: %q %q, but the line is %q", l.Pos(), l.Key(), l.Hash, line)
			}
		}
	})
}

// fakeChecker knows a few hashes, fails for one module, and knows nothing
// else.
type fakeChecker map[string]string

func (c fakeChecker) Check(ctx context.Context, path, version, hash string) error {
	if path == "example.com/broken" {
		return errors.New("database unreachable")
	}
	want, ok := c[path+" "+version]
	switch {
	case !ok:
		return fmt.Errorf("lookup: %w", modmirror.ErrNotInSumDB)
	case want != hash:
		return fmt.Errorf("check: %w", &modmirror.MismatchError{DB: "db", Path: path, Version: version, Got: hash, Want: want})
	}
	return nil
}

func TestCheck(t *testing.T) {
	db := fakeChecker{"example.com/a v1.0.0": "h1:A=", "example.com/a v1.0.0/go.mod": "h1:AM=", "example.com/b v1.0.0": "h1:B="}
	lines := Parse("go.sum", []byte("example.com/a v1.0.0 h1:A=\nexample.com/a v1.0.0/go.mod h1:XX=\nexample.com/b v1.0.0 h1:B=\n"+
		"example.com/c v1.0.0 h1:C=\ncorp.example/x v1.0.0 h1:X=\ngolang.org/toolchain v0.0.1-go1.21.0.linux-amd64 h1:T=\nexample.com/d v1.0.0 h2:D=\nbad\n"))
	res, err := Check(context.Background(), db, lines, CheckOptions{Skip: func(l Line) bool { return strings.HasPrefix(l.Path, "corp.example/") }})
	if err != nil {
		t.Fatal(err)
	}
	want := []Status{OK, Mismatch, OK, Missing, Skipped, Skipped, Skipped, Malformed}
	for i, r := range res {
		if r.Status != want[i] {
			t.Errorf("%s %s: status %d, want %d", r.Pos(), r.Key(), r.Status, want[i])
		}
	}
	if res[1].Want != "h1:AM=" {
		t.Errorf("mismatch: database hash %q", res[1].Want)
	}
	if n := Count(res); n[OK] != 2 || n[Skipped] != 3 {
		t.Errorf("Count = %v", n)
	}

	// A check that fails stops the others and names its line.
	lines = Parse("go.sum", []byte("example.com/broken v1.0.0 h1:Z=\n"))
	res, err = Check(context.Background(), db, lines, CheckOptions{Jobs: 1})
	if err == nil || !strings.HasPrefix(err.Error(), "go.sum:1: database unreachable") || res[0].Status != Failed {
		t.Errorf("a failing check: %v, %+v", err, res)
	}
}
