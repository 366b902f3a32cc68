// Package catalogtest is the conformance suite of catalog.Storage: a
// backend's whole test can be
//
//	func TestStorage(t *testing.T) { catalogtest.Run(t, open) }
package catalogtest

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/mod/module"

	"github.com/modmirror/modmirror"
	"github.com/modmirror/modmirror/catalog"
)

// Run runs the suite; open returns a new, empty storage for each subtest.
func Run(t *testing.T, open func(t *testing.T) catalog.Storage) {
	ctx := context.Background()
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 123456789, time.UTC)
	at := func(d time.Duration) time.Time { return t0.Add(d) }
	file := func(path, version, ext string, size int64, source string, when time.Time) catalog.File {
		return catalog.File{Path: path, Version: version, Ext: ext, Size: size, Source: source, At: when}
	}

	t.Run("StoredAndVersion", func(t *testing.T) {
		s := open(t)
		must(t, s.Stored(ctx, []catalog.File{
			file("example.com/a", "v1.0.0", modmirror.ExtInfo, 50, "https://proxy.example", at(0)),
			file("example.com/a", "v1.0.0", modmirror.ExtMod, 30, "https://proxy.example", at(time.Second)),
		}))
		// Later: the zip, from another source, with a later time.
		must(t, s.Stored(ctx, []catalog.File{file("example.com/a", "v1.0.0", modmirror.ExtZip, 1000, "origin", at(time.Minute))}))
		v, err := s.Version(ctx, "example.com/a", "v1.0.0")
		must(t, err)
		want := catalog.Version{Path: "example.com/a", Version: "v1.0.0", FirstStored: at(0), Source: "https://proxy.example", InfoSize: 50, ModSize: 30, ZipSize: 1000}
		if v != want {
			t.Errorf("Version = %+v\nwant      %+v", v, want)
		}
		if v.Size() != 1080 {
			t.Errorf("Size = %d", v.Size())
		}
		// A rebuild finds an earlier time: it wins; the source stays.
		must(t, s.Stored(ctx, []catalog.File{file("example.com/a", "v1.0.0", modmirror.ExtZip, 1000, "store", at(-time.Hour))}))
		v, _ = s.Version(ctx, "example.com/a", "v1.0.0")
		if !v.FirstStored.Equal(at(-time.Hour)) || v.Source != "https://proxy.example" {
			t.Errorf("after an earlier file: first stored %v, source %q", v.FirstStored, v.Source)
		}
		if _, err := s.Version(ctx, "example.com/a", "v9.9.9"); !catalog.IsNotExist(err) {
			t.Errorf("Version of an unknown version: %v, want fs.ErrNotExist", err)
		}
		if err := s.Stored(ctx, []catalog.File{file("example.com/a", "v1.0.0", ".txt", 1, "x", at(0))}); err == nil {
			t.Errorf("a file of no known kind was accepted")
		}
	})

	t.Run("Served", func(t *testing.T) {
		s := open(t)
		must(t, s.Stored(ctx, []catalog.File{file("example.com/a", "v1.0.0", modmirror.ExtMod, 1, "u", at(0))}))
		must(t, s.Served(ctx, []catalog.Hit{{Path: "example.com/a", Version: "v1.0.0", At: at(2 * time.Hour)}, {Path: "example.com/unknown", Version: "v1.0.0", At: at(0)}}))
		must(t, s.Served(ctx, []catalog.Hit{{Path: "example.com/a", Version: "v1.0.0", At: at(time.Hour)}})) // older: ignored
		v, err := s.Version(ctx, "example.com/a", "v1.0.0")
		must(t, err)
		if !v.LastServed.Equal(at(2 * time.Hour)) {
			t.Errorf("last served %v, want %v", v.LastServed, at(2*time.Hour))
		}
		if _, err := s.Version(ctx, "example.com/unknown", "v1.0.0"); !catalog.IsNotExist(err) {
			t.Errorf("a hit of an unknown version added it: %v", err)
		}
	})

	t.Run("VersionsSinceModules", func(t *testing.T) {
		s := open(t)
		var files []catalog.File
		for i, mv := range []string{"example.com/b@v1.10.0", "example.com/b@v1.2.0", "example.com/a@v0.1.0", "example.com/b@v1.2.0-pre", "example.org/c@v2.0.0+incompatible"} {
			p, v, _ := cut(mv)
			files = append(files, file(p, v, modmirror.ExtZip, int64(100*(i+1)), "u", at(time.Duration(i)*time.Minute)))
		}
		must(t, s.Stored(ctx, files))
		vs, err := s.Versions(ctx, "example.com/b")
		must(t, err)
		if got := versions(vs); got != "v1.2.0-pre v1.2.0 v1.10.0" {
			t.Errorf("Versions = %s, want semver order", got)
		}
		since, err := s.Since(ctx, at(time.Minute), 2)
		must(t, err)
		if got := versions(since); got != "v1.2.0 v0.1.0" {
			t.Errorf("Since(+1m, 2) = %s, want the 2nd and 3rd stored", got)
		}
		all, err := s.Since(ctx, time.Time{}, 100)
		must(t, err)
		if len(all) != 5 {
			t.Errorf("Since(zero) = %d versions, want 5", len(all))
		}
		mods, err := s.Modules(ctx, "", "", 10)
		must(t, err)
		if len(mods) != 3 || mods[1].Path != "example.com/b" || mods[1].Versions != 3 || mods[1].Bytes != 100+200+400 || !mods[1].LastStored.Equal(at(3*time.Minute)) {
			t.Errorf("Modules = %+v", mods)
		}
		mods, err = s.Modules(ctx, "example.com/a", "", 1)
		must(t, err)
		if len(mods) != 1 || mods[0].Path != "example.com/b" {
			t.Errorf("Modules after example.com/a, limit 1 = %+v", mods)
		}
		mods, err = s.Modules(ctx, "", ".org/", 10)
		must(t, err)
		if len(mods) != 1 || mods[0].Path != "example.org/c" {
			t.Errorf("Modules matching .org/ = %+v", mods)
		}
		st, err := s.Stats(ctx)
		must(t, err)
		if st != (catalog.Stats{Modules: 3, Versions: 5, Bytes: 1500}) {
			t.Errorf("Stats = %+v", st)
		}
	})

	t.Run("UnusedDelete", func(t *testing.T) {
		s := open(t)
		must(t, s.Stored(ctx, []catalog.File{
			file("example.com/old", "v1.0.0", modmirror.ExtZip, 1, "u", at(0)),            // never served, old
			file("example.com/used", "v1.0.0", modmirror.ExtZip, 1, "u", at(0)),           // served late
			file("example.com/stale", "v1.0.0", modmirror.ExtZip, 1, "u", at(0)),          // served early
			file("example.com/new", "v1.0.0", modmirror.ExtZip, 1, "u", at(48*time.Hour)), // never served, new
		}))
		must(t, s.Served(ctx, []catalog.Hit{
			{Path: "example.com/used", Version: "v1.0.0", At: at(47 * time.Hour)},
			{Path: "example.com/stale", Version: "v1.0.0", At: at(time.Hour)},
		}))
		unused, err := s.Unused(ctx, at(24*time.Hour), 10)
		must(t, err)
		if got := paths(unused); got != "example.com/old example.com/stale" {
			t.Errorf("Unused(+24h) = %s, want old (stored at 0) then stale (served at 1h)", got)
		}
		must(t, s.Delete(ctx, []module.Version{{Path: "example.com/old", Version: "v1.0.0"}, {Path: "example.com/none", Version: "v1.0.0"}}))
		if _, err := s.Version(ctx, "example.com/old", "v1.0.0"); !catalog.IsNotExist(err) {
			t.Errorf("deleted version still there: %v", err)
		}
	})

	t.Run("Seen", func(t *testing.T) {
		s := open(t)
		// v1.0.0 was stored at t0, long before anyone asked for it.
		must(t, s.Stored(ctx, []catalog.File{file("example.com/s", "v1.0.0", modmirror.ExtZip, 1, "u", at(0))}))
		got, err := s.Seen(ctx, "example.com/s", []string{"v1.1.0", "v1.0.0", "v1.1.0"}, at(time.Hour))
		must(t, err)
		if want := []time.Time{at(time.Hour), at(0), at(time.Hour)}; !equalTimes(got, want) {
			t.Errorf("Seen = %v, want %v", got, want)
		}
		// Later calls do not move a time; a new version gets the new one.
		got, err = s.Seen(ctx, "example.com/s", []string{"v1.1.0", "v1.2.0"}, at(2*time.Hour))
		must(t, err)
		if want := []time.Time{at(time.Hour), at(2 * time.Hour)}; !equalTimes(got, want) {
			t.Errorf("Seen later = %v, want %v", got, want)
		}
		// A version stored after it was first seen keeps the seen time;
		// one found by a rebuild with an earlier time gets that.
		must(t, s.Stored(ctx, []catalog.File{
			file("example.com/s", "v1.1.0", modmirror.ExtZip, 1, "u", at(3*time.Hour)),
			file("example.com/s", "v1.2.0", modmirror.ExtZip, 1, "store", at(-time.Hour)),
		}))
		// Deleting a version forgets its store record, not that it was seen.
		must(t, s.Delete(ctx, []module.Version{{Path: "example.com/s", Version: "v1.1.0"}}))
		got, err = s.Seen(ctx, "example.com/s", []string{"v1.1.0", "v1.2.0"}, at(4*time.Hour))
		must(t, err)
		if want := []time.Time{at(time.Hour), at(-time.Hour)}; !equalTimes(got, want) {
			t.Errorf("Seen after store and delete = %v, want %v", got, want)
		}
		if got, err := s.Seen(ctx, "example.com/s", nil, at(0)); err != nil || len(got) != 0 {
			t.Errorf("Seen of no versions = %v, %v", got, err)
		}
	})

	t.Run("Concurrent", func(t *testing.T) {
		s := open(t)
		var wg sync.WaitGroup
		errs := make(chan error, 40)
		for i := range 20 {
			wg.Go(func() {
				errs <- s.Stored(ctx, []catalog.File{file("example.com/c", fmt.Sprintf("v1.0.%d", i%5), modmirror.ExtZip, 10, "u", at(time.Duration(i)))})
			})
			wg.Go(func() {
				errs <- s.Served(ctx, []catalog.Hit{{Path: "example.com/c", Version: fmt.Sprintf("v1.0.%d", i%5), At: at(time.Hour)}})
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			must(t, err)
		}
		vs, err := s.Versions(ctx, "example.com/c")
		must(t, err)
		if len(vs) != 5 {
			t.Errorf("%d versions after concurrent writes, want 5", len(vs))
		}
	})

	t.Run("CatalogBatchesHits", func(t *testing.T) {
		s := open(t)
		must(t, s.Stored(ctx, []catalog.File{file("example.com/h", "v1.0.0", modmirror.ExtZip, 1, "u", at(0))}))
		c := catalog.New(s, nil)
		before := time.Now()
		c.Hit("example.com/h", "v1.0.0")
		v, err := s.Version(ctx, "example.com/h", "v1.0.0")
		must(t, err)
		if !v.LastServed.IsZero() {
			t.Errorf("a hit reached the storage before a flush")
		}
		must(t, c.Flush(ctx))
		v, _ = s.Version(ctx, "example.com/h", "v1.0.0")
		if v.LastServed.Before(before.Add(-time.Millisecond)) {
			t.Errorf("after Flush, last served %v, want about %v", v.LastServed, before)
		}
		must(t, c.Close())
	})
}

func equalTimes(a, b []time.Time) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !a[i].Equal(b[i]) {
			return false
		}
	}
	return true
}

func cut(mv string) (string, string, bool) {
	for i := range mv {
		if mv[i] == '@' {
			return mv[:i], mv[i+1:], true
		}
	}
	return mv, "", false
}

func versions(vs []catalog.Version) string {
	return join(vs, func(v catalog.Version) string { return v.Version })
}

func paths(vs []catalog.Version) string {
	return join(vs, func(v catalog.Version) string { return v.Path })
}

// join joins one field of each version, space-separated.
func join(vs []catalog.Version, field func(catalog.Version) string) string {
	s := make([]string, len(vs))
	for i, v := range vs {
		s[i] = field(v)
	}
	return strings.Join(s, " ")
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
