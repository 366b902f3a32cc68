package sumlogbench

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"net/http/httptest"
	"os"
	"sync"
	"testing"

	"github.com/modmirror/modmirror/sumlog"
)

var (
	records = flag.Int("records", 8192, "records in the log that BenchmarkLookupWarm and BenchmarkTileWarm read (a multiple of 256)")
	clients = flag.Int("clients", 16, "parallel HTTP clients of BenchmarkLookupWarm and BenchmarkTileWarm")
)

// tmp holds the logs of this run; TestMain removes it.
var tmp string

func TestMain(m *testing.M) {
	flag.Parse()
	var err error
	if tmp, err = os.MkdirTemp("", "sumlogbench-"); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	if shared != nil {
		shared.Close()
	}
	os.RemoveAll(tmp)
	os.Exit(code)
}

// BenchmarkAppend records distinct module versions from many goroutines
// into a new log; each op is one Record call that returns once the record
// is durable. goroutines=1 shows the cost of one transaction and fsync per
// record; with more, records queue while a batch commits and the next batch
// takes them all.
func BenchmarkAppend(b *testing.B) {
	for _, g := range []int{1, 64, 1024} {
		b.Run(fmt.Sprintf("goroutines=%d", g), func(b *testing.B) {
			ctx := context.Background()
			f, err := Open(ctx, b.TempDir(), sumlog.Config{})
			if err != nil {
				b.Fatal(err)
			}
			defer f.Close()
			b.ResetTimer()
			if err := f.Record(ctx, 0, b.N, g); err != nil {
				b.Fatal(err)
			}
			b.StopTimer()
			st := f.Log.Stats()
			if st.Size != int64(b.N) {
				b.Fatalf("log has %d records after %d appends", st.Size, b.N)
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "appends/s")
			b.ReportMetric(float64(b.N)/float64(st.Batches), "records/batch")
		})
	}
}

// BenchmarkLookupWarm asks for versions that the log has, over loopback
// HTTP from parallel clients, after every one was asked for once.
// cache=off is the same log opened again with its in-memory caches off, so
// that every lookup reads SQLite (three queries: id, record, leaf hash), as
// lookups in a log much larger than its caches mostly do.
func BenchmarkLookupWarm(b *testing.B) {
	f := sharedLog(b)
	nocache, err := Open(context.Background(), tmp, sumlog.Config{SignerKey: f.Key, CacheEntries: -1})
	if err != nil {
		b.Fatal(err)
	}
	defer nocache.Close()
	for _, x := range []struct {
		name string
		log  *sumlog.Log
	}{
		{"cache=on", f.Log},
		{"cache=off", nocache.Log},
	} {
		srv := httptest.NewServer(x.log)
		defer srv.Close()
		c := NewClient(*clients)
		defer c.CloseIdleConnections()
		// Warm up, and check each answer once.
		var body bytes.Buffer
		for i := range *records {
			mv := Version(i)
			body.Reset()
			if _, err := Get(c, srv.URL+LookupPath(mv), &body); err != nil {
				b.Fatal(err)
			}
			if !bytes.Contains(body.Bytes(), Data(mv)) {
				b.Fatalf("lookup of %s answered\n%s", mv, body.Bytes())
			}
		}
		b.Run(x.name, func(b *testing.B) {
			err := Parallel(b.N, *clients, func(i int) error {
				_, err := Get(c, srv.URL+LookupPath(Version(i%*records)), nil)
				return err
			})
			b.StopTimer()
			if err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "lookups/s")
		})
	}
}

// BenchmarkTileWarm asks for the full tiles of the log's level 0 (256
// hashes, 8 KiB) and its full data tiles (256 records), over loopback HTTP
// from parallel clients, after each was asked for once.
func BenchmarkTileWarm(b *testing.B) {
	f := sharedLog(b)
	srv := httptest.NewServer(f.Log)
	defer srv.Close()
	tiles := int64(*records / 256)
	for _, kind := range []struct {
		name string
		path func(n int64) string
	}{
		{"hash", HashTilePath},
		{"data", DataTilePath},
	} {
		c := NewClient(*clients)
		defer c.CloseIdleConnections()
		var size int64
		for n := range tiles {
			m, err := Get(c, srv.URL+kind.path(n), nil)
			if err != nil {
				b.Fatal(err)
			}
			size += m
		}
		b.Run(kind.name, func(b *testing.B) {
			b.SetBytes(size / tiles)
			err := Parallel(b.N, *clients, func(i int) error {
				_, err := Get(c, srv.URL+kind.path(int64(i)%tiles), nil)
				return err
			})
			b.StopTimer()
			if err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "tiles/s")
		})
	}
}

var (
	shared     *Fixture
	sharedErr  error
	sharedOnce sync.Once
)

// sharedLog returns the log of -records records that the read benchmarks
// share, building it the first time.
func sharedLog(b *testing.B) *Fixture {
	sharedOnce.Do(func() {
		if *records <= 0 || *records%256 != 0 {
			sharedErr = fmt.Errorf("-records %d is not a positive multiple of 256", *records)
			return
		}
		ctx := context.Background()
		shared, sharedErr = Open(ctx, tmp, sumlog.Config{})
		if sharedErr == nil {
			sharedErr = shared.Record(ctx, 0, *records, 256)
		}
	})
	if sharedErr != nil {
		b.Fatal(sharedErr)
	}
	return shared
}
