package storagetest

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/modmirror/modmirror/sumlog"
)

// TestTwoLogs tests that a storage can be shared by several processes, as
// replicas share one: two sumlog.Logs opened at once on it, each with four
// writers recording distinct versions and versions that all of them record,
// lose no record, give each version one id, and leave a dense log whose
// head a third Log opens. Each call of open must return a new handle on one
// and the same storage (a new connection to it); the test closes them.
// open is called from several goroutines. TestTwoLogs returns the number
// of records, for checks of the backend's own tables.
func TestTwoLogs(t *testing.T, open func() (sumlog.Storage, error)) int64 {
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	skey, _, err := sumlog.GenerateKey("storagetest.example.com")
	if err != nil {
		t.Fatal(err)
	}
	openLog := func() (*sumlog.Log, error) {
		st, err := open()
		if err != nil {
			return nil, err
		}
		t.Cleanup(func() { st.Close() })
		l, err := sumlog.Open(ctx, sumlog.Config{Storage: st, SignerKey: skey})
		if err == nil {
			t.Cleanup(func() { l.Close() })
		}
		return l, err
	}
	// The two open at once, too: both may create the first head.
	logs := make([]*sumlog.Log, 2)
	var wg sync.WaitGroup
	for i := range logs {
		wg.Go(func() {
			l, err := openLog()
			if err != nil {
				t.Error(err)
			}
			logs[i] = l
		})
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}

	const perWriter, shared, writersPerLog = 25, 20, 4
	type result struct {
		path string
		id   int64
	}
	results := make([][]result, len(logs)*writersPerLog)
	start := make(chan struct{})
	for k := range results {
		l := logs[k%len(logs)]
		wg.Go(func() {
			<-start
			var paths []string
			for i := range perWriter {
				paths = append(paths, fmt.Sprintf("example.com/two/w%d/m%d", k, i))
			}
			for i := range shared {
				paths = append(paths, fmt.Sprintf("example.com/two/shared/m%d", (i+k)%shared))
			}
			for _, path := range paths {
				id, err := l.Record(ctx, path, "v1.0.0", newRecord(path, "v1.0.0").Data)
				if err != nil {
					t.Errorf("writer %d: Record(%s): %v", k, path, err)
					return
				}
				results[k] = append(results[k], result{path, id})
			}
		})
	}
	close(start)
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}

	ids := map[string]int64{}
	for k, rs := range results {
		for _, r := range rs {
			if old, ok := ids[r.path]; ok && old != r.id {
				t.Errorf("writer %d: %s is record %d, but another writer got %d", k, r.path, r.id, old)
			}
			ids[r.path] = r.id
		}
	}
	want := int64(len(results)*perWriter + shared)
	if int64(len(ids)) != want {
		t.Fatalf("%d distinct versions recorded, want %d", len(ids), want)
	}

	// What the storage holds: a head of want records, records 0 to
	// want-1 and nothing after, each version at the id Record returned.
	st, err := open()
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	head, err := st.Head(ctx)
	if err != nil || head.Size != want {
		t.Errorf("stored head: size %d, %v; want %d", head.Size, err, want)
	}
	recs, err := st.ReadRecords(ctx, 0, want)
	if err != nil {
		t.Fatalf("ReadRecords(0, %d): %v", want, err)
	}
	if _, err := st.ReadRecords(ctx, want, 1); err == nil {
		t.Errorf("ReadRecords(%d, 1) found a record beyond the head", want)
	}
	seen := map[string]bool{}
	for path, id := range ids {
		got, err := st.Lookup(ctx, path, "v1.0.0")
		if err != nil || got != id {
			t.Errorf("%s is record %d, %v in the storage, but Record returned %d", path, got, err, id)
			continue
		}
		if string(recs[id]) != string(newRecord(path, "v1.0.0").Data) {
			t.Errorf("record %d holds %q, want %s's", id, recs[id], path)
		}
		seen[string(recs[id])] = true
	}
	if int64(len(seen)) != want {
		t.Errorf("%d distinct records among the %d", len(seen), want)
	}
	if _, err := st.ReadHashes(ctx, []int64{tlog.StoredHashCount(want) - 1}); err != nil {
		t.Errorf("the last stored hash of %d records: %v", want, err)
	}

	// A third process opens the result: the tree matches its head.
	if _, err := openLog(); err != nil {
		t.Errorf("a third Log on the storage: %v", err)
	}
	t.Logf("log a: %+v; log b: %+v", logs[0].Stats(), logs[1].Stats())
	return want
}
