package policy

import (
	"strings"
	"testing"
)

func TestRange(t *testing.T) {
	const pseudo = "v1.3.1-0.20240102030405-abcdefabcdef" // after v1.3.0
	tests := []struct {
		rng string
		in  []string
		out []string
	}{
		{"", []string{"v0.0.1", "v1.0.0", pseudo, "v2.0.0+incompatible"}, nil},
		{">= v1.2.0, < v1.4.0",
			[]string{"v1.2.0", "v1.3.9", "v1.4.0-rc.1", pseudo, "v1.2.1-pre"},
			[]string{"v1.1.9", "v1.2.0-rc.1", "v1.4.0", "v2.0.0"}},
		{">= v1.2.0, < v1.4.0, release",
			[]string{"v1.2.0", "v1.3.9"},
			[]string{"v1.4.0-rc.1", pseudo, "v1.2.1-pre"}},
		{"< v1.0.0 || >= v2.0.0", []string{"v0.9.0", "v2.0.0", "v2.0.0+incompatible", "v3.1.0"}, []string{"v1.0.0", "v1.9.9", "v2.0.0-rc.1"}},
		{"pseudo", []string{pseudo, "v0.0.0-20240102030405-abcdefabcdef"}, []string{"v1.0.0", "v1.0.0-rc.1"}},
		{"prerelease", []string{"v1.0.0-rc.1", "v1.3.0-RC1"}, []string{pseudo, "v1.0.0"}},
		{"!pseudo", []string{"v1.0.0", "v1.0.0-rc.1"}, []string{pseudo}},
		{"incompatible", []string{"v2.0.0+incompatible"}, []string{"v2.0.0", "v1.0.0"}},
		{"= v1.2.3", []string{"v1.2.3"}, []string{"v1.2.4", "v1.2.3-rc.1"}},
		{"v1.2.3", []string{"v1.2.3"}, []string{"v1.2.4"}},
		{"!= v1.2.3", []string{"v1.2.4"}, []string{"v1.2.3"}},
		{"<= v1.2", []string{"v1.2.0", "v1.1.5"}, []string{"v1.2.1"}},
		{"> v1.2.3", []string{"v1.2.4", "v1.3.0-rc.1"}, []string{"v1.2.3", "v1.2.3-rc.1"}},
		{"= v2.0.0", []string{"v2.0.0+incompatible", "v2.0.0"}, nil},
		{"<v1.0.0,>=v0.5.0", []string{"v0.5.0"}, []string{"v1.0.0"}},
	}
	for _, tt := range tests {
		r, err := ParseRange(tt.rng)
		if err != nil {
			t.Errorf("ParseRange(%q): %v", tt.rng, err)
			continue
		}
		for _, v := range tt.in {
			if !r.Contains(v) {
				t.Errorf("%q does not contain %s, want it to", tt.rng, v)
			}
		}
		for _, v := range tt.out {
			if r.Contains(v) {
				t.Errorf("%q contains %s, want it not to", tt.rng, v)
			}
		}
	}
}

func TestRangeErrors(t *testing.T) {
	for _, tt := range []struct{ rng, want string }{
		{">= 1.2.0", `"1.2.0" is not a semantic version`},
		{">= v1.2.0,", "an empty condition"},
		{"|| v1.0.0", "an empty condition"},
		{"~v1.2.0", "is not a comparison"},
		{"latest", "is not a comparison"},
		{"= v1.2", `not a full version`},
		{"< v1.2.0 && > v1.0.0", "not a semantic version"},
		{"!v1.0.0", "not a comparison"},
	} {
		_, err := ParseRange(tt.rng)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("ParseRange(%q) = %v, want an error with %q", tt.rng, err, tt.want)
		}
	}
}

func FuzzParseRange(f *testing.F) {
	for _, s := range []string{">= v1.2.0, < v1.4.0", "pseudo || = v1.0.0", "!prerelease", ""} {
		f.Add(s, "v1.3.0")
	}
	f.Fuzz(func(t *testing.T, rng, v string) {
		r, err := ParseRange(rng)
		if err != nil {
			return
		}
		r.Contains(v) // must not panic, whatever v is
		if r2, err := ParseRange(r.String()); err != nil || r2.Any() != r.Any() {
			t.Errorf("range %q does not parse back from String: %v", rng, err)
		}
	})
}
