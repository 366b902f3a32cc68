package checksum

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/modmirror/modmirror"
	"github.com/modmirror/modmirror/fsstore"
	"github.com/modmirror/modmirror/internal/testsumdb"
)

const testName = "sum.test"

// A testRemote is a Remote reading from a test database over HTTP, with fault
// injection and counters.
type testRemote struct {
	db *testsumdb.DB

	mu       sync.Mutex
	fetches  map[string]int                        // by path
	fail     map[string]int                        // path prefix -> failures left
	alter    func(path string, data []byte) []byte // if set, applied to answers
	block    map[string]chan struct{}              // path -> closed when it may proceed
	started  chan string                           // if set, receives blocked paths
	failOpen map[string]error                      // path -> what its blocked read returns once, when let go
}

func newTestRemote(db *testsumdb.DB) *testRemote {
	return &testRemote{db: db, fetches: make(map[string]int), fail: make(map[string]int), block: make(map[string]chan struct{}), failOpen: make(map[string]error)}
}

var errInjected = errors.New("injected failure")

func (r *testRemote) ReadSumDB(ctx context.Context, name, path string) ([]byte, error) {
	if name != testName {
		return nil, fmt.Errorf("remote: unexpected database %q", name)
	}
	r.mu.Lock()
	r.fetches[path]++
	var injected bool
	for prefix, n := range r.fail {
		if n > 0 && strings.HasPrefix(path, prefix) {
			r.fail[prefix] = n - 1
			injected = true
			break
		}
	}
	alter, gate, started := r.alter, r.block[path], r.started
	r.mu.Unlock()
	if injected {
		return nil, fmt.Errorf("remote: %s: %w", path, errInjected)
	}
	if gate != nil {
		if started != nil {
			started <- path
		}
		select {
		case <-gate:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		r.mu.Lock()
		err, ok := r.failOpen[path]
		delete(r.failOpen, path)
		r.mu.Unlock()
		if ok {
			return nil, fmt.Errorf("remote: %s: %w", path, err)
		}
	}

	req, err := http.NewRequestWithContext(ctx, "GET", r.db.URL+path, nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	switch resp.StatusCode {
	case http.StatusOK:
	case http.StatusNotFound, http.StatusGone:
		return nil, fmt.Errorf("remote: %s: %s: %w", path, strings.TrimSpace(string(data)), fs.ErrNotExist)
	default:
		return nil, fmt.Errorf("remote: %s: %s: %s", path, resp.Status, strings.TrimSpace(string(data)))
	}
	if alter != nil {
		data = alter(path, data)
	}
	return data, nil
}

// failNext makes the next n reads of paths starting with prefix fail.
func (r *testRemote) failNext(prefix string, n int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.fail[prefix] = n
}

func (r *testRemote) count(path string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.fetches[path]
}

// A testEnv is a Verifier on a fresh store and state directory.
type testEnv struct {
	key      testsumdb.Key
	db       *testsumdb.DB
	remote   *testRemote
	store    modmirror.Store
	stateDir string
	v        *Verifier
}

func newTestEnv(t *testing.T) *testEnv {
	t.Helper()
	key := testsumdb.NewKey(t, testName)
	db := testsumdb.New(t, key, "a", nil)
	store, err := fsstore.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	e := &testEnv{key: key, db: db, remote: newTestRemote(db), store: store, stateDir: t.TempDir()}
	e.v = e.newVerifier(t, e.remote)
	return e
}

func (e *testEnv) newVerifier(t *testing.T, remote Remote) *Verifier {
	t.Helper()
	v, err := NewVerifier(Config{
		Name:     testName,
		Key:      e.key.Verifier,
		Remote:   remote,
		Store:    e.store,
		StateDir: e.stateDir,
		Logger:   slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { v.Close() }) // before the temporary directories go
	return v
}
