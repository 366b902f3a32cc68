package modmirror

import (
	"fmt"
	"testing"

	"golang.org/x/mod/module"
)

// TestMemoAgrees checks the remembering checks against golang.org/x/mod's,
// on a first call and on a second (answered from memory), and past the
// memo's bound.
func TestMemoAgrees(t *testing.T) {
	paths := []string{"example.com/m", "github.com/Azure/azure-sdk", "gopkg.in/yaml.v3", "example.com/m/v2",
		"example.com/m/v2/", "Example", "example.com/../x", "", "example.com/m\x00", "golang.org/toolchain", "example.com/a b"}
	escapedPaths := []string{"github.com/!azure/azure-sdk", "github.com/Azure/x", "example.com/!!x", "example.com/m", "example.com/!"}
	versions := []string{"v1.0.0", "v2.0.0", "v2.0.0+incompatible", "v0.0.0-20240102030405-abcdefabcdef", "v1.2", "latest", "", "v3.0.1",
		"v0.0.1-go1.21.0.linux-amd64"}
	for round := range 2 {
		for _, p := range paths {
			want, werr := module.EscapePath(p)
			got, err := EscapePath(p)
			if got != want || (err == nil) != (werr == nil) {
				t.Errorf("round %d: EscapePath(%q) = %q, %v; module.EscapePath: %q, %v", round, p, got, err, want, werr)
			}
			for _, v := range versions {
				werr := module.Check(p, v)
				if err := CheckVersion(p, v); (err == nil) != (werr == nil) || err != nil && err.Error() != werr.Error() {
					t.Errorf("round %d: CheckVersion(%q, %q) = %v; module.Check: %v", round, p, v, err, werr)
				}
			}
		}
		for _, v := range append(versions, "v1.0.0-RC1", "v1.0.0-!r!c1", "v1.0.0-!", "v1.0.0-RC!") {
			want, werr := module.EscapeVersion(v)
			got, err := EscapeVersion(v)
			if got != want || (err == nil) != (werr == nil) {
				t.Errorf("round %d: EscapeVersion(%q) = %q, %v; module: %q, %v", round, v, got, err, want, werr)
			}
			want, werr = module.UnescapeVersion(v)
			got, err = UnescapeVersion(v)
			if got != want || (err == nil) != (werr == nil) {
				t.Errorf("round %d: UnescapeVersion(%q) = %q, %v; module: %q, %v", round, v, got, err, want, werr)
			}
		}
		for _, e := range escapedPaths {
			want, werr := module.UnescapePath(e)
			got, err := UnescapePath(e)
			if got != want || (err == nil) != (werr == nil) {
				t.Errorf("round %d: UnescapePath(%q) = %q, %v; module.UnescapePath: %q, %v", round, e, got, err, want, werr)
			}
		}
	}
	// Past the bound the memo starts over, and answers stay right.
	for i := range maxMemo + 10 {
		p := fmt.Sprintf("example.com/m%d", i)
		if e, err := EscapePath(p); err != nil || e != p {
			t.Fatalf("EscapePath(%q) = %q, %v", p, e, err)
		}
	}
	if n := escaped.n.Load(); n > maxMemo {
		t.Errorf("the memo holds %d paths, more than %d", n, maxMemo)
	}
	if e, err := EscapePath("github.com/Azure/azure-sdk"); err != nil || e != "github.com/!azure/azure-sdk" {
		t.Errorf("after the memo started over: %q, %v", e, err)
	}
}
