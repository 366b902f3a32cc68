package proxy

import (
	"errors"
	"io/fs"
	"strings"
	"testing"

	"golang.org/x/mod/module"

	"github.com/modmirror/modmirror"
)

func TestParseRequest(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in   string
		want Request
	}{
		{"golang.org/x/mod/@v/list", Request{Kind: KindList, Path: "golang.org/x/mod"}},
		{"golang.org/x/mod/@latest", Request{Kind: KindLatest, Path: "golang.org/x/mod"}},
		{"golang.org/x/mod/@v/v0.1.0.info", Request{Kind: KindInfo, Path: "golang.org/x/mod", Version: "v0.1.0"}},
		{"golang.org/x/mod/@v/v0.1.0.mod", Request{Kind: KindMod, Path: "golang.org/x/mod", Version: "v0.1.0"}},
		{"golang.org/x/mod/@v/v0.1.0.zip", Request{Kind: KindZip, Path: "golang.org/x/mod", Version: "v0.1.0"}},
		{"github.com/!azure/!a!b/@v/v1.0.0-!r!c1.zip", Request{Kind: KindZip, Path: "github.com/Azure/AB", Version: "v1.0.0-RC1"}},
		{"example.com/m/@v/v2.0.0+incompatible.mod", Request{Kind: KindMod, Path: "example.com/m", Version: "v2.0.0+incompatible"}},
		{"example.com/m/v2/@v/v2.1.0.mod", Request{Kind: KindMod, Path: "example.com/m/v2", Version: "v2.1.0"}},
		{"gopkg.in/yaml.v3/@v/v3.0.1.zip", Request{Kind: KindZip, Path: "gopkg.in/yaml.v3", Version: "v3.0.1"}},
		{"golang.org/toolchain/@v/v0.0.1-go1.21.13.linux-amd64.zip", Request{Kind: KindZip, Path: "golang.org/toolchain", Version: "v0.0.1-go1.21.13.linux-amd64"}},
		// Non-canonical queries are fine for .info only.
		{"example.com/m/@v/main.info", Request{Kind: KindInfo, Path: "example.com/m", Version: "main"}},
		{"example.com/m/@v/abc123def456.info", Request{Kind: KindInfo, Path: "example.com/m", Version: "abc123def456"}},
		{"example.com/m/@v/v1.2.info", Request{Kind: KindInfo, Path: "example.com/m", Version: "v1.2"}},
	} {
		got, err := ParseRequest(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("ParseRequest(%q) = %+v, %v; want %+v", tc.in, got, err, tc.want)
		}
	}
}

func TestParseRequestErrors(t *testing.T) {
	t.Parallel()
	for _, in := range []string{
		"",
		"golang.org/x/mod",
		"golang.org/x/mod/@v/",
		"golang.org/x/mod/@v/list/x",
		"golang.org/x/mod/@v/v0.1.0",
		"golang.org/x/mod/@v/v0.1.0.tgz",
		"golang.org/x/mod/@v/v0.1.0.zip/x",
		"Golang.org/x/mod/@v/list",              // capital in the escaped path
		"github.com/Azure/a/@v/list",            // unescaped capital
		"github.com/!azure/a/@v/v1.0.0-RC1.zip", // unescaped capital in version
		"github.com/!!azure/a/@v/list",
		"../etc/passwd/@v/list",
		"example.com/../m/@v/list",
		"example.com//m/@v/list",
		"example.com/m/@v/../../x.info",
		"example.com/m/@v/.info",
		"example.com/m/@latest/x",
		"/example.com/m/@v/list",
		"example.com/m\x00/@v/list",
		"example.com/m/@v/v1.0.0\n.mod",
		"example.com/m/@v/a b.info",
	} {
		got, err := ParseRequest(in)
		if err == nil {
			t.Errorf("ParseRequest(%q) = %+v, want an error", in, got)
			continue
		}
		if !errors.Is(err, modmirror.ErrInvalid) {
			t.Errorf("ParseRequest(%q): error %v does not wrap ErrInvalid", in, err)
		}
	}

	// Well-formed .mod and .zip names of versions that are not canonical
	// versions of the module: a file:// proxy would not have them, so they
	// are not found, and clients fall through to their next proxy.
	for _, in := range []string{
		"golang.org/x/mod/@v/0.1.0.zip",            // not semver
		"golang.org/x/mod/@v/v0.1.zip",             // not canonical
		"golang.org/x/mod/@v/v0.1.0+build.zip",     // not canonical
		"golang.org/x/mod/@v/master.mod",           // a branch
		"golang.org/x/mod/@v/v2.0.0.mod",           // wrong major version for the path
		"example.com/m/v2/@v/v1.0.0.mod",           // wrong major version for the path
		"example.com/m/@v/v1.0.0+incompatible.mod", // +incompatible below v2
	} {
		got, err := ParseRequest(in)
		if !errors.Is(err, fs.ErrNotExist) || errors.Is(err, modmirror.ErrInvalid) {
			t.Errorf("ParseRequest(%q) = %+v, %v; want not found", in, got, err)
		}
	}
}

// FuzzParseRequest checks that the parser never panics, and that every
// request it accepts names a valid module path, a version that escapes back
// to what was asked, and a canonical version for .mod and .zip: nothing
// unchecked can reach the store.
func FuzzParseRequest(f *testing.F) {
	for _, seed := range []string{
		"golang.org/x/mod/@v/list",
		"golang.org/x/mod/@latest",
		"github.com/!azure/!a!b/@v/v1.0.0-!r!c1.zip",
		"example.com/m/@v/v2.0.0+incompatible.mod",
		"example.com/m/@v/main.info",
		"../x/@v/list",
		"example.com/m/@v/v1.0.0.zip/..",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, in string) {
		req, err := ParseRequest(in)
		if err != nil {
			return
		}
		if err := module.CheckPath(req.Path); err != nil {
			t.Fatalf("ParseRequest(%q) accepted path %q: %v", in, req.Path, err)
		}
		escPath, err := module.EscapePath(req.Path)
		if err != nil || !strings.HasPrefix(in, escPath+"/@") {
			t.Fatalf("ParseRequest(%q): path %q escapes to %q, %v", in, req.Path, escPath, err)
		}
		switch req.Kind {
		case KindList, KindLatest:
			if req.Version != "" {
				t.Fatalf("ParseRequest(%q): version %q for %v", in, req.Version, req.Kind)
			}
		case KindInfo, KindMod, KindZip:
			escVersion, err := module.EscapeVersion(req.Version)
			if err != nil || !strings.HasSuffix(in, "/@v/"+escVersion+"."+req.Kind.String()) {
				t.Fatalf("ParseRequest(%q): version %q escapes to %q, %v", in, req.Version, escVersion, err)
			}
			if req.Kind != KindInfo {
				if err := module.Check(req.Path, req.Version); err != nil || module.CanonicalVersion(req.Version) != req.Version {
					t.Fatalf("ParseRequest(%q) accepted non-canonical or invalid %s@%s", in, req.Path, req.Version)
				}
			}
		default:
			t.Fatalf("ParseRequest(%q): unknown kind %v", in, req.Kind)
		}
	})
}
