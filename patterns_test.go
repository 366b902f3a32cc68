package modmirror

import (
	"strings"
	"testing"
)

func TestParsePatterns(t *testing.T) {
	for _, tc := range []struct {
		in, want string // want: the cleaned list, or the error's substring after "!"
	}{
		{"", ""},
		{" corp.example/* , ,*.internal/", "corp.example/*,*.internal"},
		{"github.com/Azure/secret", "github.com/Azure/secret"},
		{"*", "*"},
		{"corp.example/[a-z]*,corp.example/x\\.y", `corp.example/[a-z]*,corp.example/x\.y`},
		{"https://corp.example/*", "!has a URL scheme"},
		{"corp.example/[", "!is not a valid glob"},
		{"Corp.example/lib", "!upper-case letters in its first element"},
		{"corp.example/!azure", `!contains "!"`},
		{"corp.example/a b", `!contains ' '`},
		{"corp.example//lib", "!empty path element"},
		{"corp.example/lib@v1", `!contains '@'`},
		{"localhost/lib", "!has no dot"},
		{"corp.example:8443/lib", `!contains ':'`},
		{"ok.example,bad.example/[", `!pattern "bad.example/["`},
	} {
		p, err := ParsePatterns(tc.in)
		if want, ok := strings.CutPrefix(tc.want, "!"); ok {
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("ParsePatterns(%q) = %q, %v; want an error containing %q", tc.in, p, err, want)
			}
			continue
		}
		if err != nil || p.String() != tc.want {
			t.Errorf("ParsePatterns(%q) = %q, %v; want %q", tc.in, p, err, tc.want)
		}
	}
}

func TestParseHostPatterns(t *testing.T) {
	for in, want := range map[string]string{
		"localhost, 127.0.0.1,*.corp.example": "localhost,127.0.0.1,*.corp.example",
		"corp.example/private":                "!has a path",
		"Git.corp.example":                    "!upper-case",
		"http://git.corp.example":             "!URL scheme",
	} {
		p, err := ParseHostPatterns(in)
		if w, ok := strings.CutPrefix(want, "!"); ok {
			if err == nil || !strings.Contains(err.Error(), w) {
				t.Errorf("ParseHostPatterns(%q) = %q, %v; want an error containing %q", in, p, err, w)
			}
		} else if err != nil || p.String() != want {
			t.Errorf("ParseHostPatterns(%q) = %q, %v; want %q", in, p, err, want)
		}
	}
}

func TestPatternsMatch(t *testing.T) {
	p := MustParsePatterns(" corp.example/* , *.internal")
	for path, want := range map[string]bool{
		"corp.example/lib":     true,
		"corp.example/lib/v2":  true,
		"git.internal/x":       true,
		"example.com/public":   false,
		"corp.example.com/lib": false,
		"corp.example":         false,
	} {
		if got := p.Match(path); got != want {
			t.Errorf("Match(%q) = %v, want %v", path, got, want)
		}
	}
	if (Patterns{}).Match("corp.example/lib") || !(Patterns{}).Empty() {
		t.Error("the zero Patterns matched, or is not empty")
	}
}

func FuzzParsePatterns(f *testing.F) {
	for _, s := range []string{"corp.example/*", "a[b-c]\\d/e", "[", "x,y,,z/"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, list string) {
		p, err := ParsePatterns(list)
		if err != nil {
			return
		}
		// What ParsePatterns keeps parses again to itself.
		q, err := ParsePatterns(p.String())
		if err != nil || q != p {
			t.Fatalf("ParsePatterns(%q) = %q, which parses to %q, %v", list, p, q, err)
		}
	})
}

func TestCheckPath(t *testing.T) {
	for path, want := range map[string]string{
		"example.com/m": "",
		"example.com/" + strings.Repeat("a", 255): "",
		"example.com/" + strings.Repeat("a", 256): "longer than 255 bytes",
		"example.com/" + strings.Repeat("aB", 86): "longer than 255 bytes", // 172 bytes, 258 escaped
		"Example.com/m": "invalid request",
	} {
		err := CheckPath(path)
		if want == "" && err != nil || want != "" && (err == nil || !strings.Contains(err.Error(), want)) {
			t.Errorf("CheckPath(%.30q) = %v, want %q", path, err, want)
		}
		if _, derr := ModuleDir(path); (derr == nil) != (err == nil) {
			t.Errorf("CheckPath(%.30q) = %v, but ModuleDir says %v", path, err, derr)
		}
	}
}
