package checksum

import (
	"testing"
	"time"

	"golang.org/x/mod/module"
	"golang.org/x/mod/sumdb/tlog"
)

func TestParseRequest(t *testing.T) {
	for _, c := range []struct {
		path string
		want request
	}{
		{"/supported", request{kind: reqSupported}},
		{"/latest", request{kind: reqLatest}},
		{"/lookup/github.com/!azure/go@v1.0.0", request{kind: reqLookup, mod: module.Version{Path: "github.com/Azure/go", Version: "v1.0.0"}}},
		{"/lookup/example.com/m@v1.0.0-!r!c1", request{kind: reqLookup, mod: module.Version{Path: "example.com/m", Version: "v1.0.0-RC1"}}},
		{"/lookup/golang.org/toolchain@v0.0.1-go1.21.13.linux-amd64", request{kind: reqLookup, mod: module.Version{Path: "golang.org/toolchain", Version: "v0.0.1-go1.21.13.linux-amd64"}}},
		{"/tile/8/0/001", request{kind: reqTile, tile: tlog.Tile{H: 8, L: 0, N: 1, W: 256}}},
		{"/tile/8/2/x001/234.p/7", request{kind: reqTile, tile: tlog.Tile{H: 8, L: 2, N: 1234, W: 7}}},
		{"/tile/8/data/005", request{kind: reqTile, tile: tlog.Tile{H: 8, L: -1, N: 5, W: 256}}},
	} {
		got, err := parseRequest(c.path)
		if err != nil || got != c.want {
			t.Errorf("parseRequest(%q) = %+v, %v; want %+v", c.path, got, err, c.want)
		}
	}
}

// FuzzProxyPath checks that parseRequest does not panic and accepts only
// paths it can spell again exactly.
func FuzzProxyPath(f *testing.F) {
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
		"/tile/8/0/000.p/256",
		"/tile/8/63/x999/x999/x999/x999/x999/x999/999",
	} {
		f.Add(p)
	}
	f.Fuzz(func(t *testing.T, p string) {
		r, err := parseRequest(p)
		if err != nil {
			return
		}
		if got := r.path(); got != p {
			t.Fatalf("parseRequest(%q).path() = %q", p, got)
		}
		if r2, err := parseRequest(r.path()); err != nil || r2 != r {
			t.Fatalf("parseRequest(%q) = %+v, %v; want %+v", r.path(), r2, err, r)
		}
		if r.kind == reqTile && (r.tile.H != tileHeight || r.tile.N < 0 || r.tile.W < 1 || r.tile.W > 1<<r.tile.H) {
			t.Fatalf("parseRequest(%q) accepted tile %+v", p, r.tile)
		}
	})
}

func TestMemCache(t *testing.T) {
	now := time.Unix(0, 0)
	c := newMemCache(2)
	c.now = func() time.Time { return now }

	c.put("a", []byte("A"), time.Second)
	c.put("b", []byte("B"), 2*time.Second)
	if got, ok := c.get("a"); !ok || string(got) != "A" {
		t.Errorf("get(a) = %q, %v", got, ok)
	}
	now = now.Add(time.Second)
	if _, ok := c.get("a"); ok {
		t.Error("expired entry returned")
	}
	// Full: the expired entry goes first.
	c.put("c", []byte("C"), time.Second)
	if _, ok := c.get("b"); !ok {
		t.Error("live entry evicted while an expired one was there")
	}
	// Full of live entries: one goes, the bound holds.
	c.put("d", []byte("D"), time.Second)
	if len(c.m) != 2 {
		t.Errorf("cache holds %d entries, want 2", len(c.m))
	}
	if _, ok := c.get("d"); !ok {
		t.Error("new entry missing")
	}
	c.put("e", []byte("E"), 0)
	if _, ok := c.get("e"); ok {
		t.Error("entry with no TTL kept")
	}
}
