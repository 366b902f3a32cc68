// Package sumlogbench measures modmirror's own checksum database
// (package sumlog over sumlog/sqlite): durable appends through
// [sumlog.Log.Record], and lookups and tiles served over a loopback HTTP
// listener, as the go command asks for them.
//
// # The benchmarks
//
// The Benchmark functions in this directory's test file run with
//
//	go test -run - -bench . ./bench/sumlog/
//
// BenchmarkAppend records distinct module versions from many goroutines at
// once, so that the log batches them (one transaction and one fsync per
// batch); BenchmarkLookupWarm and BenchmarkTileWarm ask a log of a few
// thousand records for versions and tiles it has. Each reports its rate
// with b.ReportMetric (appends/s, lookups/s, tiles/s).
//
// # Building a large log
//
// bench/sumlog/cmd/buildlog builds a log of a million records the same way
// and prints time, rate and memory at 10 %, 50 % and 100 % of it, then the
// lookup rate on the result. bash bench/sumlog/run.sh runs both and prints
// the figures against their targets; docs/BENCHMARKS.md records a run.
package sumlogbench

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"sync"
	"sync/atomic"

	"golang.org/x/mod/module"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/modmirror/modmirror/sumlog"
	"github.com/modmirror/modmirror/sumlog/sqlite"
)

// VersionsPerModule is how many versions each fixture module path has.
const VersionsPerModule = 8

// Version returns the i'th fixture module version: module paths with
// VersionsPerModule versions each, as a real log holds them.
func Version(i int) module.Version {
	return module.Version{
		Path:    fmt.Sprintf("example.com/bench/m%07d", i/VersionsPerModule),
		Version: fmt.Sprintf("v1.%d.0", i%VersionsPerModule),
	}
}

// Data returns the record of mv: its two go.sum lines, with h1: hashes of
// the real length.
func Data(mv module.Version) []byte {
	hash := func(s string) string {
		sum := sha256.Sum256([]byte(s))
		return "h1:" + base64.StdEncoding.EncodeToString(sum[:])
	}
	return fmt.Appendf(nil, "%s %s %s\n%s %s/go.mod %s\n",
		mv.Path, mv.Version, hash(mv.String()),
		mv.Path, mv.Version, hash(mv.String()+"/go.mod"))
}

// LookupPath returns the path of mv's lookup, relative to the log's root.
func LookupPath(mv module.Version) string {
	path, err := module.EscapePath(mv.Path)
	if err != nil {
		panic(err)
	}
	vers, err := module.EscapeVersion(mv.Version)
	if err != nil {
		panic(err)
	}
	return "/lookup/" + path + "@" + vers
}

// HashTilePath returns the path of the n'th full tile of level 0 of the
// hash tree, relative to the log's root.
func HashTilePath(n int64) string {
	return "/" + tlog.Tile{H: 8, L: 0, N: n, W: 1 << 8}.Path()
}

// DataTilePath returns the path of the n'th full tile of record data.
func DataTilePath(n int64) string {
	return "/" + tlog.Tile{H: 8, L: -1, N: n, W: 1 << 8}.Path()
}

// A Fixture is a log over an SQLite file, as modmirror opens it.
type Fixture struct {
	Log     *sumlog.Log
	Storage *sqlite.Storage
	File    string // the SQLite database file
	Key     string // the signer key
}

// Open opens the log in dir with cfg's settings, creating it if dir holds
// none. If cfg.SignerKey is empty, the log gets a new key, so dir must not
// hold a log yet.
func Open(ctx context.Context, dir string, cfg sumlog.Config) (*Fixture, error) {
	if cfg.SignerKey == "" {
		skey, _, err := sumlog.GenerateKey("bench.example.com")
		if err != nil {
			return nil, err
		}
		cfg.SignerKey = skey
	}
	file := filepath.Join(dir, "sumlog.db")
	st, err := sqlite.Open(file)
	if err != nil {
		return nil, err
	}
	cfg.Storage = st
	l, err := sumlog.Open(ctx, cfg)
	if err != nil {
		st.Close()
		return nil, err
	}
	return &Fixture{Log: l, Storage: st, File: file, Key: cfg.SignerKey}, nil
}

// Close closes the log and its storage.
func (f *Fixture) Close() error {
	f.Log.Close()
	return f.Storage.Close()
}

// Record records fixture versions from through to-1 with Log.Record from
// the given number of goroutines at once, and returns the first error.
func (f *Fixture) Record(ctx context.Context, from, to, goroutines int) error {
	return Parallel(to-from, goroutines, func(i int) error {
		mv := Version(from + i)
		if _, err := f.Log.Record(ctx, mv.Path, mv.Version, Data(mv)); err != nil {
			return fmt.Errorf("recording %s: %w", mv, err)
		}
		return nil
	})
}

// Parallel calls op(0) through op(n-1) from the given number of goroutines
// at once, each taking the next i not taken yet, and returns the first
// error; after an error, no new calls start.
func Parallel(n, goroutines int, op func(i int) error) error {
	var next atomic.Int64
	var failed atomic.Bool
	var once sync.Once
	var first error
	var wg sync.WaitGroup
	for range goroutines {
		wg.Go(func() {
			for !failed.Load() {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				if err := op(i); err != nil {
					once.Do(func() { first = err })
					failed.Store(true)
					return
				}
			}
		})
	}
	wg.Wait()
	return first
}

// NewClient returns an HTTP client that keeps up to conns connections to
// one host open, so that parallel clients reuse connections rather than
// open new ones.
func NewClient(conns int) *http.Client {
	return &http.Client{Transport: &http.Transport{
		MaxIdleConns:        conns,
		MaxIdleConnsPerHost: conns,
		DisableCompression:  true,
	}}
}

// Get fetches url, copies its body to body (nil: discards it) and returns
// the body's length; anything but a 200 is an error.
func Get(c *http.Client, url string, body io.Writer) (int64, error) {
	resp, err := c.Get(url)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if body == nil {
		body = io.Discard
	}
	n, err := io.Copy(body, resp.Body)
	if err != nil {
		return n, err
	}
	if resp.StatusCode != http.StatusOK {
		return n, fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return n, nil
}
