package checksum

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/modmirror/modmirror/internal/syncbuf"
	"github.com/modmirror/modmirror/internal/testsumdb"

	"github.com/modmirror/modmirror"
)

func TestCheck(t *testing.T) {
	e := newTestEnv(t)
	ctx := context.Background()
	const path, version = "example.com/m", "v1.0.0"

	if err := e.v.Check(ctx, path, version, e.db.Hash(path, version)); err != nil {
		t.Errorf("zip hash: %v", err)
	}
	if err := e.v.Check(ctx, path, version+"/go.mod", e.db.Hash(path, version+"/go.mod")); err != nil {
		t.Errorf("go.mod hash: %v", err)
	}
	// Toolchain versions are ordinary lookups.
	const tpath, tvers = "golang.org/toolchain", "v0.0.1-go1.21.13.linux-amd64"
	if err := e.v.Check(ctx, tpath, tvers, e.db.Hash(tpath, tvers)); err != nil {
		t.Errorf("toolchain: %v", err)
	}
	// Upper case is escaped on the way to the database.
	const upath = "github.com/Azure/go"
	if err := e.v.Check(ctx, upath, version, e.db.Hash(upath, version)); err != nil {
		t.Errorf("upper-case path: %v", err)
	}
	if got := e.v.Name(); got != testName {
		t.Errorf("Name() = %q, want %q", got, testName)
	}
}

func TestCheckMismatch(t *testing.T) {
	e := newTestEnv(t)
	const path, version = "example.com/m", "v1.0.0"
	for _, vers := range []string{version, version + "/go.mod"} {
		bad := e.db.Hash(path, "other")
		err := e.v.Check(context.Background(), path, vers, bad)
		if !errors.Is(err, modmirror.ErrSecurity) {
			t.Fatalf("Check(%s) = %v, want ErrSecurity", vers, err)
		}
		msg := err.Error()
		for _, want := range []string{
			"checksum: example.com/m@v1.0.0: verifying ",
			"checksum mismatch",
			"downloaded: " + bad,
			testName + ": " + e.db.Hash(path, vers),
			"SECURITY ERROR",
		} {
			if !strings.Contains(msg, want) {
				t.Errorf("error does not contain %q:\n%s", want, msg)
			}
		}
	}
}

func TestCheckUnknown(t *testing.T) {
	e := newTestEnv(t)
	err := e.v.Check(context.Background(), "example.com/m", "v1.0.0-unknown", e.db.Hash("example.com/m", "v1.0.0-unknown"))
	if err == nil {
		t.Fatal("Check of a version the database does not know succeeded")
	}
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, modmirror.ErrSecurity) {
		t.Errorf("error %v matches fs.ErrNotExist or ErrSecurity; want neither", err)
	}
	for _, want := range []string{"example.com/m@v1.0.0-unknown", "does not know", "not served"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not contain %q: %v", want, err)
		}
	}
}

func TestCheckInvalid(t *testing.T) {
	e := newTestEnv(t)
	for _, c := range []struct{ path, version, hash string }{
		{"example.com/m", "v1.0.0", "nocolon"},
		{"Example..com/m", "v1.0.0", "h1:x"},
		{"example.com/m", "v1.0.0!", "h1:x"},
	} {
		err := e.v.Check(context.Background(), c.path, c.version, c.hash)
		if !errors.Is(err, modmirror.ErrInvalid) {
			t.Errorf("Check(%q, %q, %q) = %v, want ErrInvalid", c.path, c.version, c.hash, err)
		}
	}
}

// TestCheckTransient checks that a failed remote read does not make the
// sumdb client remember the failure.
func TestCheckTransient(t *testing.T) {
	for _, prefix := range []string{"/lookup/", "/tile/"} {
		t.Run(strings.Trim(prefix, "/"), func(t *testing.T) {
			e := newTestEnv(t)
			const path, version = "example.com/m", "v1.0.0"
			e.remote.failNext(prefix, 1)
			err := e.v.Check(context.Background(), path, version, e.db.Hash(path, version))
			if err == nil {
				t.Fatal("Check succeeded despite a failed remote read")
			}
			if errors.Is(err, fs.ErrNotExist) || errors.Is(err, modmirror.ErrSecurity) {
				t.Errorf("network error %v matches fs.ErrNotExist or ErrSecurity", err)
			}
			for _, want := range []string{path + "@" + version, testName, errInjected.Error()} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error does not contain %q: %v", want, err)
				}
			}
			if err := e.v.Check(context.Background(), path, version, e.db.Hash(path, version)); err != nil {
				t.Errorf("Check after a transient failure: %v", err)
			}
		})
	}
}

// TestCheckContext checks that Check returns when its context is done,
// even while the remote hangs.
func TestCheckContext(t *testing.T) {
	e := newTestEnv(t)
	const path, version = "example.com/m", "v1.0.0"
	gate := make(chan struct{})
	e.remote.block["/lookup/example.com/m@v1.0.0"] = gate
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	err := e.v.Check(ctx, path, version, e.db.Hash(path, version))
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), path) {
		t.Errorf("Check = %v, want deadline exceeded naming the module", err)
	}
	close(gate)
	// The lookup finished in the background; a new Check uses it.
	if err := e.v.Check(context.Background(), path, version, e.db.Hash(path, version)); err != nil {
		t.Errorf("Check after the remote recovered: %v", err)
	}
}

// TestCheckSharedFailure: a Check that joins a lookup already running (a
// Prefetch's) is not failed by that lookup's failed read when its own
// context leaves time to look up again; it is when it does not, and a
// Check whose own read fails still fails (TestCheckTransient).
func TestCheckSharedFailure(t *testing.T) {
	for _, c := range []struct {
		name    string
		timeout time.Duration // of the Check's context; 0 for none
		reads   int
	}{
		{"time left", 0, 2},
		{"little time left", 10 * time.Second, 1}, // less than half the Verifier's 30 s
	} {
		t.Run(c.name, func(t *testing.T) {
			e := newTestEnv(t)
			const path, version = "example.com/m", "v1.0.0"
			lookup := "/lookup/" + path + "@" + version
			gate := make(chan struct{})
			e.remote.mu.Lock()
			e.remote.block[lookup] = gate
			e.remote.failOpen[lookup] = errInjected
			e.remote.started = make(chan string, 1)
			e.remote.mu.Unlock()
			e.v.Prefetch(path, version)
			<-e.remote.started
			ctx := context.Background()
			if c.timeout > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, c.timeout)
				defer cancel()
			}
			done := make(chan error, 1)
			go func() { done <- e.v.Check(ctx, path, version, e.db.Hash(path, version)) }()
			// The Check has joined the Prefetch's lookup once its
			// session counts both.
			for {
				s := e.v.session()
				s.mu.Lock()
				n := s.running
				s.mu.Unlock()
				if n == 2 {
					break
				}
				time.Sleep(time.Millisecond)
			}
			close(gate)
			err := <-done
			if c.reads == 2 && err != nil {
				t.Errorf("Check that joined a lookup whose read then failed: %v", err)
			}
			if c.reads == 1 && (err == nil || !strings.Contains(err.Error(), errInjected.Error())) {
				t.Errorf("Check with little time left = %v, want the shared read's failure", err)
			}
			if n := e.remote.count(lookup); n != c.reads {
				t.Errorf("%d reads of %s, want %d", n, lookup, c.reads)
			}
		})
	}
}

func TestCheckStoresVerified(t *testing.T) {
	e := newTestEnv(t)
	e.db.Grow(t, 300)
	// Record 5 is in tile 0/000; the tree of 300 records is covered by
	// 1/000.p/1 and 0/001.p/44.
	const path, version = "example.com/grow/m5", "v1.0.0"
	if err := e.v.Check(context.Background(), path, version, e.db.Hash(path, version)); err != nil {
		t.Fatal(err)
	}
	e.v.Close() // the writes to the store are done in the background
	names, err := e.store.List(context.Background(), "sumdb/"+testName+"/tile/8/0")
	if err != nil {
		t.Fatal(err)
	}
	if len(names) != 1 || names[0] != "000" {
		t.Errorf("stored full level-0 tiles %q, want [000]", names)
	}
	for _, name := range []string{"tile/8/0/000", "tile/8/0/001.p/44", "tile/8/1/000.p/1", "lookup/example.com/grow/m5@v1.0.0"} {
		data, err := e.v.readStore(context.Background(), name)
		if err != nil {
			t.Errorf("%s not stored: %v", name, err)
			continue
		}
		want, err := e.remote.ReadSumDB(context.Background(), testName, "/"+name)
		if err != nil {
			t.Fatal(err)
		}
		if strings.HasPrefix(name, "tile/") && !bytes.Equal(data, want) {
			t.Errorf("stored %s differs from the database's", name)
		}
	}
}

// TestCheckFork checks that the verified tree head outlives the Verifier,
// so a log that forks is caught by the next one.
func TestCheckFork(t *testing.T) {
	e := newTestEnv(t)
	ctx := context.Background()
	e.db.Grow(t, 10)
	const path, version = "example.com/m", "v1.0.0"
	if err := e.v.Check(ctx, path, version, e.db.Hash(path, version)); err != nil {
		t.Fatal(err)
	}
	state, err := os.ReadFile(filepath.Join(e.stateDir, testName, "latest"))
	if err != nil {
		t.Fatalf("tree head not persisted: %v", err)
	}
	if !strings.Contains(string(state), "\n11\n") {
		t.Errorf("persisted tree head is not for 11 records:\n%s", state)
	}

	// The same key, different records: a fork of the log. (The first
	// verifier's files are in the store once its background writes end.)
	e.v.Close()
	fork := testsumdb.New(t, e.key, "b", nil)
	fork.Grow(t, 12)
	var logs syncbuf.Buffer
	v, err := NewVerifier(Config{
		Key:      e.key.Verifier,
		Remote:   newTestRemote(fork),
		Store:    e.store,
		StateDir: e.stateDir,
		Logger:   slog.New(slog.NewTextHandler(&logs, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { v.Close() })
	// A version not looked up before: the verified lookup of path@version
	// is in the store, and would be answered from there.
	const other = "v1.1.0"
	err = v.Check(ctx, path, other, fork.Hash(path, other))
	if !errors.Is(err, modmirror.ErrSecurity) {
		t.Fatalf("Check against a fork = %v, want ErrSecurity", err)
	}
	for _, want := range []string{path + "@" + other, "SECURITY ERROR", "misbehavior"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not contain %q:\n%v", want, err)
		}
	}
	if !strings.Contains(logs.String(), "level=ERROR") {
		t.Errorf("security error not logged at error level; log:\n%s", logs.String())
	}
	after, err := os.ReadFile(filepath.Join(e.stateDir, testName, "latest"))
	if err != nil || !bytes.Equal(after, state) {
		t.Errorf("persisted tree head changed after the fork was detected (err %v)", err)
	}
	// The fork is caught again, not forgotten with the failed client.
	if err := v.Check(ctx, path, other, fork.Hash(path, other)); !errors.Is(err, modmirror.ErrSecurity) {
		t.Errorf("second Check against a fork = %v, want ErrSecurity", err)
	}
}

func TestNewVerifierErrors(t *testing.T) {
	e := newTestEnv(t)
	good := Config{Key: e.key.Verifier, Remote: e.remote, Store: e.store, StateDir: t.TempDir()}
	for _, c := range []struct {
		name string
		edit func(*Config)
	}{
		{"bad key", func(c *Config) { c.Key = "junk" }},
		{"name mismatch", func(c *Config) { c.Name = "sum.golang.org" }},
		{"no remote", func(c *Config) { c.Remote = nil }},
		{"no store", func(c *Config) { c.Store = nil }},
		{"no state", func(c *Config) { c.StateDir = "" }},
	} {
		cfg := good
		c.edit(&cfg)
		if _, err := NewVerifier(cfg); err == nil {
			t.Errorf("%s: NewVerifier succeeded", c.name)
		}
	}
	v, err := NewVerifier(good)
	if err != nil || v.Name() != testName {
		t.Errorf("NewVerifier(name from key) = %v, %v", v, err)
	}
}

func TestSwapState(t *testing.T) {
	file := filepath.Join(t.TempDir(), "db", "latest")
	if err := swapState(file, []byte("x"), []byte("a")); err == nil {
		t.Error("swap from a wrong old value succeeded")
	}
	if err := swapState(file, nil, []byte("a")); err != nil {
		t.Fatal(err)
	}
	if err := swapState(file, nil, []byte("b")); err == nil {
		t.Error("swap from a stale old value succeeded")
	}
	if err := swapState(file, []byte("a"), []byte("b")); err != nil {
		t.Fatal(err)
	}
	if got, _ := readState(file); string(got) != "b" {
		t.Errorf("state = %q, want %q", got, "b")
	}
	if entries, _ := os.ReadDir(filepath.Dir(file)); len(entries) != 1 {
		t.Errorf("state directory holds %d files, want 1 (no temporaries left)", len(entries))
	}
}

// TestLines returns the database's record for a version verbatim: the
// module's line, then its go.mod's.
func TestLines(t *testing.T) {
	e := newTestEnv(t)
	const path, version = "example.com/m", "v1.2.0"
	lines, err := e.v.Lines(context.Background(), path, version)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := e.db.GoSum(path, version)
	if got := strings.Join(lines, "\n") + "\n"; got != string(want) {
		t.Errorf("Lines = %q, want %q", got, want)
	}
	_, err = e.v.Lines(context.Background(), path, "v1.0.0-unknown")
	if err == nil || errors.Is(err, fs.ErrNotExist) || errors.Is(err, modmirror.ErrSecurity) {
		t.Errorf("Lines of an unknown version = %v, want an error that is neither not-found nor a security error", err)
	}
}

// blockedStore is a store whose Create waits for release.
type blockedStore struct {
	modmirror.Store
	release chan struct{}
}

func (s *blockedStore) Create(ctx context.Context, name string, r io.Reader) error {
	<-s.release
	return s.Store.Create(ctx, name, r)
}

// TestCheckDoesNotWaitForStore: a Check returns while the store still
// writes what it verified, and until the write is done the verified files
// are read from memory, not fetched again. More Checks than there are
// writers (each writing a record, and tiles) all return while the store
// writes nothing: lookups used to wait once maxWriters writes were running.
func TestCheckDoesNotWaitForStore(t *testing.T) {
	e := newTestEnv(t)
	blocked := &blockedStore{Store: e.store, release: make(chan struct{})}
	e.store = blocked
	v := e.newVerifier(t, e.remote)
	t.Cleanup(func() { close(blocked.release) }) // before v's Close
	e.db.Grow(t, 300)
	for i := range maxWriters + 4 {
		path, version := fmt.Sprintf("example.com/grow/m%d", i*13), "v1.0.0"
		done := make(chan error, 1)
		go func() { done <- v.Check(context.Background(), path, version, e.db.Hash(path, version)) }()
		select {
		case err := <-done:
			if err != nil {
				t.Fatal(err)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("Check %d of %s waits for the store's writes", i+1, path)
		}
		data, err := v.readStore(context.Background(), "lookup/"+path+"@"+version)
		if err != nil || !strings.Contains(string(data), path+" "+version+" ") {
			t.Errorf("reading the lookup of %s being written: %q, %v", path, data, err)
		}
	}
}
