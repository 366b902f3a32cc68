package sumlog_test

// Tests of a Log under concurrent lookups and records: one fill per module
// version, one record per module version, batches shared by whoever waits,
// and no request lost or answered twice around Close.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/modmirror/modmirror"
	"github.com/modmirror/modmirror/sumlog"
	"github.com/modmirror/modmirror/sumlog/sqlite"
	"github.com/modmirror/modmirror/sumlog/storagetest"
)

// hangGuard bounds waits that only a bug makes endless, so that such a bug
// fails its test instead of hanging the run. No test asserts on time.
const hangGuard = 2 * time.Minute

// A fillCounter is a Config.Fill that counts its calls per module version.
type fillCounter struct {
	mu    sync.Mutex
	calls map[string]int
	wait  <-chan struct{} // if not nil, each call waits for it
}

func (f *fillCounter) fill(ctx context.Context, path, version string) ([]byte, error) {
	f.mu.Lock()
	if f.calls == nil {
		f.calls = map[string]int{}
	}
	f.calls[path+"@"+version]++
	f.mu.Unlock()
	if f.wait != nil {
		select {
		case <-f.wait:
		case <-ctx.Done():
			return nil, fmt.Errorf("fill of %s@%s waited in vain: %w", path, version, context.Cause(ctx))
		}
	}
	return record(path, version), nil
}

func (f *fillCounter) counts() map[string]int {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := map[string]int{}
	for k, v := range f.calls {
		out[k] = v
	}
	return out
}

// lookupRecord GETs a lookup and returns the record id and text it answers.
func lookupRecord(client *http.Client, base, path, version string) (int64, []byte, error) {
	resp, err := client.Get(base + lookupPath(path, version))
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	var body bytes.Buffer
	if _, err := body.ReadFrom(resp.Body); err != nil {
		return 0, nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return 0, nil, fmt.Errorf("lookup %s@%s: %s: %s", path, version, resp.Status, body.Bytes())
	}
	id, text, _, err := tlog.ParseRecord(body.Bytes())
	if err != nil {
		return 0, nil, fmt.Errorf("lookup %s@%s: %v", path, version, err)
	}
	return id, text, nil
}

// queryInt runs a query that returns one integer.
func queryInt(t *testing.T, file, query string, args ...any) int64 {
	t.Helper()
	var n int64
	if err := openDB(t, file).QueryRow(query, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return n
}

// TestConcurrentLookups sends 100 lookups of 100 versions not yet recorded
// at once: each is filled once, recorded once with its own id, and the
// records are appended in far fewer than 100 batches.
func TestConcurrentLookups(t *testing.T) {
	t.Parallel()
	const n = 100
	skey, _ := newKey(t)
	file := filepath.Join(t.TempDir(), "log.db")

	// Every fill waits until all n have started, so that all n records
	// wait for a batch together.
	allFilling := make(chan struct{})
	var filling atomic.Int32
	fc := &fillCounter{wait: allFilling}
	fill := func(ctx context.Context, path, version string) ([]byte, error) {
		if filling.Add(1) == n {
			close(allFilling)
		}
		return fc.fill(ctx, path, version)
	}
	l, _, _ := openFile(t, file, sumlog.Config{SignerKey: skey, Fill: fill, FillTimeout: hangGuard})
	srv := httptest.NewServer(l)
	defer srv.Close()
	client := srv.Client()

	mod := func(i int) (string, string) { return fmt.Sprintf("example.com/conc/m%d", i), "v1.0.0" }
	ids := make([]int64, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-start
			path, version := mod(i)
			id, text, err := lookupRecord(client, srv.URL, path, version)
			if err != nil {
				t.Error(err)
				ids[i] = -1
				return
			}
			if want := record(path, version); !bytes.Equal(text, want) {
				t.Errorf("lookup %s@%s: record %q, want %q", path, version, text, want)
			}
			ids[i] = id
		})
	}
	close(start)
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}

	counts := fc.counts()
	if len(counts) != n {
		t.Errorf("Fill was called for %d versions, want %d", len(counts), n)
	}
	for i := range n {
		path, version := mod(i)
		if c := counts[path+"@"+version]; c != 1 {
			t.Errorf("Fill of %s@%s called %d times, want 1", path, version, c)
		}
	}
	seen := map[int64]bool{}
	for i, id := range ids {
		if id < 0 || id >= n || seen[id] {
			t.Errorf("lookup %d answered record %d: out of range or answered before", i, id)
		}
		seen[id] = true
		path, version := mod(i)
		if got := queryInt(t, file, "SELECT id FROM records WHERE path = ? AND version = ?", path, version); got != id {
			t.Errorf("%s@%s is record %d in the database, but the lookup answered %d", path, version, got, id)
		}
	}
	stats := l.Stats()
	if stats.Appended != n || stats.Size != n {
		t.Errorf("Stats() = %+v, want Appended and Size %d", stats, n)
	}
	if stats.Batches >= n {
		t.Errorf("Stats().Batches = %d for %d concurrent records: the appends were not batched", stats.Batches, n)
	}
	t.Logf("%d records in %d batches", stats.Appended, stats.Batches)

	for _, c := range []struct {
		query string
		want  int64
	}{
		{"SELECT COUNT(*) FROM records", n},
		{"SELECT COUNT(DISTINCT id) FROM records", n},
		{"SELECT COUNT(DISTINCT path || ' ' || version) FROM records", n},
		{"SELECT MIN(id) FROM records", 0},
		{"SELECT MAX(id) FROM records", n - 1},
		{"SELECT COUNT(*) FROM hashes", tlog.StoredHashCount(n)},
		{"SELECT size FROM head", n},
	} {
		if got := queryInt(t, file, c.query); got != c.want {
			t.Errorf("%s = %d, want %d", c.query, got, c.want)
		}
	}
}

// TestSameVersionLookups sends 50 lookups of one version not yet recorded,
// all in flight while it is filled: one fill, one record, one id.
func TestSameVersionLookups(t *testing.T) {
	t.Parallel()
	const n = 50
	skey, _ := newKey(t)
	file := filepath.Join(t.TempDir(), "log.db")

	// The fill waits until all n requests have reached the handler.
	allIn := make(chan struct{})
	var in atomic.Int32
	fc := &fillCounter{wait: allIn}
	l, _, _ := openFile(t, file, sumlog.Config{SignerKey: skey, Fill: fc.fill, FillTimeout: hangGuard})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if in.Add(1) == n {
			close(allIn)
		}
		l.ServeHTTP(w, r)
	}))
	defer srv.Close()
	client := srv.Client()

	path, version := "example.com/same", "v1.2.3"
	ids := make([]int64, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-start
			id, text, err := lookupRecord(client, srv.URL, path, version)
			if err != nil {
				t.Error(err)
				return
			}
			if !bytes.Equal(text, record(path, version)) {
				t.Errorf("lookup: record %q, want %q", text, record(path, version))
			}
			ids[i] = id
		})
	}
	close(start)
	wg.Wait()

	if c := fc.counts(); len(c) != 1 || c[path+"@"+version] != 1 {
		t.Errorf("Fill calls %v, want one for %s@%s", c, path, version)
	}
	for i, id := range ids {
		if id != 0 {
			t.Errorf("lookup %d answered record %d, want 0", i, id)
		}
	}
	if got := queryInt(t, file, "SELECT COUNT(*) FROM records"); got != 1 {
		t.Errorf("%d records in the database, want 1", got)
	}
	if s := l.Stats(); s.Appended != 1 || s.Batches != 1 {
		t.Errorf("Stats() = %+v, want one record in one batch", s)
	}
}

// TestRecordConflict checks that a module version recorded with some go.sum
// lines cannot be recorded with others: Record returns an error wrapping
// modmirror.ErrSecurity and the stored record stays as it was, also after
// a restart, and also when the two records race each other.
func TestRecordConflict(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	skey, _ := newKey(t)
	file := filepath.Join(t.TempDir(), "log.db")
	path, version := "example.com/conflict", "v1.0.0"
	good := record(path, version)
	evil := bytes.ReplaceAll(good, []byte("h1:"), []byte("h1:EVIL"))

	wantStored := func(t *testing.T, path, version string, want []byte) {
		t.Helper()
		var data []byte
		if err := openDB(t, file).QueryRow("SELECT data FROM records WHERE path = ? AND version = ?", path, version).Scan(&data); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(data, want) {
			t.Fatalf("stored record of %s@%s = %q, want %q", path, version, data, want)
		}
	}

	l, _, closeLog := openFile(t, file, sumlog.Config{SignerKey: skey})
	id, err := l.Record(ctx, path, version, good)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.Record(ctx, path, version, evil); !errors.Is(err, modmirror.ErrSecurity) {
		t.Fatalf("Record with other lines: %v; want an error wrapping modmirror.ErrSecurity", err)
	}
	if id2, err := l.Record(ctx, path, version, good); err != nil || id2 != id {
		t.Fatalf("Record with the same lines again = %d, %v; want %d, nil", id2, err, id)
	}
	wantStored(t, path, version, good)
	if s := l.Stats(); s.Appended != 1 {
		t.Fatalf("Stats() = %+v, want one record appended", s)
	}
	closeLog()

	// A restarted log, with empty caches, refuses it too.
	l, _, _ = openFile(t, file, sumlog.Config{SignerKey: skey})
	if _, err := l.Record(ctx, path, version, evil); !errors.Is(err, modmirror.ErrSecurity) {
		t.Fatalf("Record with other lines after a restart: %v; want an error wrapping modmirror.ErrSecurity", err)
	}
	wantStored(t, path, version, good)
	srv := httptest.NewServer(l)
	defer srv.Close()
	if _, text, err := lookupRecord(srv.Client(), srv.URL, path, version); err != nil || !bytes.Equal(text, good) {
		t.Fatalf("lookup after the refused record = %q, %v; want %q", text, err, good)
	}

	// Two records of one new version racing: exactly one wins, the
	// other is a security error, and the winner is what is stored.
	for i := range 20 {
		path, version := fmt.Sprintf("example.com/race/m%d", i), "v1.0.0"
		datas := [][]byte{record(path, version), bytes.ReplaceAll(record(path, version), []byte("h1:"), []byte("h1:OTHER"))}
		errs := make([]error, 2)
		start := make(chan struct{})
		var wg sync.WaitGroup
		for k := range 2 {
			wg.Go(func() {
				<-start
				_, errs[k] = l.Record(ctx, path, version, datas[k])
			})
		}
		close(start)
		wg.Wait()
		switch {
		case errs[0] == nil && errors.Is(errs[1], modmirror.ErrSecurity):
			wantStored(t, path, version, datas[0])
		case errs[1] == nil && errors.Is(errs[0], modmirror.ErrSecurity):
			wantStored(t, path, version, datas[1])
		default:
			t.Fatalf("racing records of %s@%s: errors %v and %v; want one nil and one wrapping modmirror.ErrSecurity", path, version, errs[0], errs[1])
		}
	}
}

// hookStorage is a Storage that calls afterAppend after each successful
// Append, before the Log sees its result.
type hookStorage struct {
	sumlog.Storage
	afterAppend func()
}

func (s *hookStorage) Append(ctx context.Context, oldSize int64, recs []sumlog.Record, hashes []tlog.Hash, head sumlog.Head) error {
	err := s.Storage.Append(ctx, oldSize, recs, hashes, head)
	if err == nil && s.afterAppend != nil {
		s.afterAppend()
	}
	return err
}

// TestLookupDuringAppend checks a request for a version that arrives
// while its append is durable in the storage but not yet known to the Log:
// both it and the Record that appends answer the one id.
func TestLookupDuringAppend(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	skey, _ := newKey(t)
	st, err := sqlite.Open(filepath.Join(t.TempDir(), "log.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	hs := &hookStorage{Storage: st}
	l, err := sumlog.Open(ctx, sumlog.Config{Storage: hs, SignerKey: skey})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()

	path, version := "example.com/during", "v1.0.0"
	data := record(path, version)
	var hookID int64
	var hookErr error
	var once sync.Once
	hs.afterAppend = func() {
		once.Do(func() {
			// Run from the Log's appender: this Record must not need
			// it, since the record is in the storage already.
			hctx, cancel := context.WithTimeout(ctx, hangGuard)
			defer cancel()
			hookID, hookErr = l.Record(hctx, path, version, data)
		})
	}
	id, err := l.Record(ctx, path, version, data)
	if err != nil || id != 0 {
		t.Errorf("Record = %d, %v; want 0, nil", id, err)
	}
	if hookErr != nil || hookID != 0 {
		t.Errorf("Record during the append = %d, %v; want 0, nil", hookID, hookErr)
	}
	if s := l.Stats(); s.Size != 1 || s.Appended != 1 || s.Batches != 1 {
		t.Errorf("Stats() = %+v, want one record in one batch", s)
	}
	if id, err := l.Record(ctx, "example.com/after", "v1.0.0", record("example.com/after", "v1.0.0")); err != nil || id != 1 {
		t.Errorf("Record of the next version = %d, %v; want 1, nil", id, err)
	}
}

// TestCloseWhileRecording closes a log while records arrive: every Record
// returns an id that is durable or ErrClosed, none is left waiting, and
// Record after Close returns ErrClosed.
func TestCloseWhileRecording(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), hangGuard)
	defer cancel()
	skey, _ := newKey(t)
	file := filepath.Join(t.TempDir(), "log.db")
	l, st, _ := openFile(t, file, sumlog.Config{SignerKey: skey})

	const writers = 8
	type ack struct {
		path string
		id   int64
	}
	acks := make([][]ack, writers)
	var acked atomic.Int32
	some := make(chan struct{})
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := 0; ; i++ {
				path := fmt.Sprintf("example.com/close/w%d/m%d", w, i)
				id, err := l.Record(ctx, path, "v1.0.0", record(path, "v1.0.0"))
				if errors.Is(err, sumlog.ErrClosed) {
					return
				}
				if err != nil {
					t.Errorf("Record while closing: %v; want nil or ErrClosed", err)
					return
				}
				acks[w] = append(acks[w], ack{path, id})
				if acked.Add(1) == 50 {
					close(some)
				}
			}
		})
	}
	<-some
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	wg.Wait()

	// After Close, new versions are refused, every time.
	for i := range 100 {
		path := fmt.Sprintf("example.com/close/after/m%d", i)
		if _, err := l.Record(ctx, path, "v1.0.0", record(path, "v1.0.0")); !errors.Is(err, sumlog.ErrClosed) {
			t.Fatalf("Record %d after Close: %v; want ErrClosed", i, err)
		}
	}

	// Every acknowledged record is in the storage, with its id.
	n := 0
	for _, as := range acks {
		for _, a := range as {
			id, err := st.Lookup(ctx, a.path, "v1.0.0")
			if err != nil || id != a.id {
				t.Fatalf("acknowledged record %s (id %d): storage Lookup = %d, %v", a.path, a.id, id, err)
			}
			n++
		}
	}
	if h, err := st.Head(ctx); err != nil || h.Size < int64(n) {
		t.Fatalf("stored head %+v, %v: fewer than the %d acknowledged records", h, err, n)
	}
	t.Logf("%d records acknowledged before Close", n)
}

// TestTwoWriters runs two logs, as two processes would, over one database
// file: both append, neither loses a record, and a version that both
// record gets one id.
func TestTwoWriters(t *testing.T) {
	t.Parallel()
	file := filepath.Join(t.TempDir(), "log.db")
	want := storagetest.TestTwoLogs(t, func() (sumlog.Storage, error) { return sqlite.Open(file) })
	for _, c := range []struct {
		query string
		want  int64
	}{
		{"SELECT COUNT(*) FROM records", want},
		{"SELECT COUNT(DISTINCT id) FROM records", want},
		{"SELECT MAX(id) FROM records", want - 1},
		{"SELECT size FROM head", want},
	} {
		if got := queryInt(t, file, c.query); got != c.want {
			t.Errorf("%s = %d, want %d", c.query, got, c.want)
		}
	}
}
