package sumdbpath

import (
	"testing"

	"golang.org/x/mod/module"
	"golang.org/x/mod/sumdb/tlog"
)

func TestParse(t *testing.T) {
	for _, c := range []struct {
		path string
		want Request
	}{
		{"/supported", Request{Kind: Supported}},
		{"/latest", Request{Kind: Latest}},
		{"/lookup/github.com/!azure/go@v1.0.0", Request{Kind: Lookup, Mod: module.Version{Path: "github.com/Azure/go", Version: "v1.0.0"}}},
		{"/lookup/example.com/m@v1.0.0-!r!c1", Request{Kind: Lookup, Mod: module.Version{Path: "example.com/m", Version: "v1.0.0-RC1"}}},
		{"/lookup/golang.org/toolchain@v0.0.1-go1.21.13.linux-amd64", Request{Kind: Lookup, Mod: module.Version{Path: "golang.org/toolchain", Version: "v0.0.1-go1.21.13.linux-amd64"}}},
		{"/tile/8/0/001", Request{Kind: Tile, Tile: tlog.Tile{H: 8, L: 0, N: 1, W: 256}}},
		{"/tile/8/2/x001/234.p/7", Request{Kind: Tile, Tile: tlog.Tile{H: 8, L: 2, N: 1234, W: 7}}},
		{"/tile/8/data/005", Request{Kind: Tile, Tile: tlog.Tile{H: 8, L: -1, N: 5, W: 256}}},
	} {
		got, err := Parse(c.path)
		if err != nil || got != c.want {
			t.Errorf("Parse(%q) = %+v, %v; want %+v", c.path, got, err, c.want)
		}
	}
}

func TestParseRejects(t *testing.T) {
	for _, p := range []string{
		"",
		"/",
		"/lookup/example.com/m",
		"/lookup/example.com/m@v1.0",          // not canonical
		"/lookup/example.com/m@latest",        // a query, not a version
		"/lookup/github.com/Azure/go@v1.0.0",  // capitals must be escaped
		"/lookup/example.com/m@v1.0.0/go.mod", // records are per version
		"/lookup/../x@v1.0.0",
		"/tile/4/0/001",       // another height
		"/tile/8/0/1",         // not the canonical spelling
		"/tile/8/0/001.p/0",   // empty tile
		"/tile/8/0/001.p/256", // a full tile spelled as partial
		"/tile/8/64/000",      // no such level
		"/tile/8/data/x",
		"/latest/",
		"/supported?x",
	} {
		if r, err := Parse(p); err == nil {
			t.Errorf("Parse(%q) = %+v, want an error", p, r)
		}
	}
}

// FuzzParse checks that Parse does not panic and accepts only paths it can
// spell again exactly, and only tiles that can be served.
func FuzzParse(f *testing.F) {
	for _, p := range []string{
		"/supported",
		"/latest",
		"/lookup/golang.org/x/text@v0.3.0",
		"/lookup/github.com/!azure/go@v1.0.0",
		"/lookup/example.com/m@v2.0.0+incompatible",
		"/lookup/golang.org/toolchain@v0.0.1-go1.21.13.linux-amd64",
		"/lookup/example.com/m@v1.0",
		"/tile/8/0/001",
		"/tile/8/1/x001/x234/567.p/89",
		"/tile/8/data/000",
		"/tile/8/data/x001/002.p/3",
		"/tile/8/0/000.p/256",
		"/tile/8/63/x999/x999/x999/x999/x999/x999/999",
	} {
		f.Add(p)
	}
	f.Fuzz(func(t *testing.T, p string) {
		r, err := Parse(p)
		if err != nil {
			return
		}
		if got := r.Path(); got != p {
			t.Fatalf("Parse(%q).Path() = %q", p, got)
		}
		if r2, err := Parse(r.Path()); err != nil || r2 != r {
			t.Fatalf("Parse(%q) = %+v, %v; want %+v", r.Path(), r2, err, r)
		}
		switch r.Kind {
		case Tile:
			if r.Tile.H != TileHeight || r.Tile.N < 0 || r.Tile.W < 1 || r.Tile.W > 1<<r.Tile.H || r.Tile.L < -1 || r.Tile.L > 63 {
				t.Fatalf("Parse(%q) accepted tile %+v", p, r.Tile)
			}
		case Lookup:
			if err := module.Check(r.Mod.Path, r.Mod.Version); err != nil {
				t.Fatalf("Parse(%q) accepted %v: %v", p, r.Mod, err)
			}
		}
	})
}
