package checksum

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"golang.org/x/mod/module"
	"golang.org/x/mod/sumdb"
	"golang.org/x/mod/sumdb/note"

	"github.com/modmirror/modmirror/fsstore"
)

const testName = "sum.test"

// A testKey is a signing key of a test checksum database.
type testKey struct{ signer, verifier string }

func newTestKey(t *testing.T) testKey {
	t.Helper()
	skey, vkey, err := note.GenerateKey(rand.Reader, testName)
	if err != nil {
		t.Fatal(err)
	}
	return testKey{skey, vkey}
}

// A testDB is a checksum database served on 127.0.0.1. It knows every
// module version whose version does not contain "unknown"; the hashes it
// logs depend on salt, so two testDBs with different salts are two forks of
// one log when they share a key.
type testDB struct {
	ops   *sumdb.TestServer
	url   string
	salt  string
	grown int // module versions added by grow
}

func newTestDB(t *testing.T, key testKey, salt string) *testDB {
	t.Helper()
	db := &testDB{salt: salt}
	db.ops = sumdb.NewTestServer(key.signer, db.gosum)
	srv := httptest.NewServer(notFoundOnPanic(sumdb.NewServer(db.ops)))
	t.Cleanup(srv.Close)
	db.url = srv.URL
	return db
}

// notFoundOnPanic answers 404 where h panics: sumdb.TestServer panics when
// asked for a tile beyond the end of its log, which a real database answers
// with 404, and which a client asks for when a partial tile is missing.
func notFoundOnPanic(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if recover() != nil {
				http.Error(w, "not found", http.StatusNotFound)
			}
		}()
		h.ServeHTTP(w, r)
	})
}

func (db *testDB) gosum(path, version string) ([]byte, error) {
	if strings.Contains(version, "unknown") {
		// sumdb.Server answers 404 only for errors os.IsNotExist
		// recognises, which does not unwrap.
		return nil, &fs.PathError{Op: "lookup", Path: path + "@" + version, Err: fs.ErrNotExist}
	}
	return []byte(fmt.Sprintf("%s %s %s\n%s %s/go.mod %s\n",
		path, version, db.hash(path, version),
		path, version, db.hash(path, version+"/go.mod"))), nil
}

// hash returns the h1: hash the database logs for a go.sum line.
func (db *testDB) hash(path, version string) string {
	sum := sha256.Sum256([]byte(db.salt + path + "@" + version))
	return "h1:" + base64.StdEncoding.EncodeToString(sum[:])
}

// grow adds records for n new module versions directly, without HTTP.
func (db *testDB) grow(t *testing.T, n int) {
	t.Helper()
	for range n {
		m := module.Version{Path: fmt.Sprintf("example.com/grow/m%d", db.grown), Version: "v1.0.0"}
		db.grown++
		if _, err := db.ops.Lookup(context.Background(), m); err != nil {
			t.Fatal(err)
		}
	}
}

// A testRemote is a Remote reading from a testDB over HTTP, with fault
// injection and counters.
type testRemote struct {
	db *testDB

	mu      sync.Mutex
	fetches map[string]int                        // by path
	fail    map[string]int                        // path prefix -> failures left
	alter   func(path string, data []byte) []byte // if set, applied to answers
	block   map[string]chan struct{}              // path -> closed when it may proceed
	started chan string                           // if set, receives blocked paths
}

func newTestRemote(db *testDB) *testRemote {
	return &testRemote{db: db, fetches: make(map[string]int), fail: make(map[string]int), block: make(map[string]chan struct{})}
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
	}

	req, err := http.NewRequestWithContext(ctx, "GET", r.db.url+path, nil)
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
	key      testKey
	db       *testDB
	remote   *testRemote
	store    *fsstore.Store
	stateDir string
	v        *Verifier
}

func newTestEnv(t *testing.T) *testEnv {
	t.Helper()
	key := newTestKey(t)
	db := newTestDB(t, key, "a")
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
		Key:      e.key.verifier,
		Remote:   remote,
		Store:    e.store,
		StateDir: e.stateDir,
		Logger:   slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	return v
}
