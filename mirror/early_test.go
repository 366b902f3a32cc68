package mirror_test

import (
	"context"
	"errors"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/modmirror/modmirror"
	"github.com/modmirror/modmirror/mirror"
)

// heldStore is a store whose Create of names with a suffix in hold waits
// until release is closed, then fails with fail if it is set.
type heldStore struct {
	modmirror.Store
	hold     []string
	release  chan struct{}
	fail     error
	once     sync.Once
	released atomic.Bool
}

// letGo lets the held Creates go on.
func (s *heldStore) letGo() {
	s.once.Do(func() {
		s.released.Store(true)
		close(s.release)
	})
}

func (s *heldStore) Create(ctx context.Context, name string, r io.Reader) error {
	for _, suffix := range s.hold {
		if strings.HasSuffix(name, suffix) {
			select {
			case <-s.release:
			case <-ctx.Done():
				return ctx.Err()
			}
			if s.fail != nil {
				return s.fail
			}
		}
	}
	return s.Store.Create(ctx, name, r)
}

func holdStore(s *heldStore) envOption {
	return func(c *mirror.Config) {
		s.Store = c.Store
		c.Store = s
	}
}

// A public module's go.mod and .info are answered once checked, while
// they are still being stored; a request that comes meanwhile joins the
// fill and gets the same answer; once stored, the file is served from the
// store, and the upstream was asked once.
func TestEarlyAnswer(t *testing.T) {
	t.Parallel()
	held := &heldStore{hold: []string{".mod", ".info"}, release: make(chan struct{})}
	e := newEnv(t, holdStore(held))
	// A mirror that answers only once stored would wait for ever.
	time.AfterFunc(10*time.Second, held.letGo)
	for _, name := range []string{"/example.com/a/@v/v1.0.0.mod", "/example.com/a/@v/v1.0.0.info"} {
		want := e.upstreamBytes(t, name)
		e.up.ResetRequests()
		for i := range 2 {
			r := e.get(t, name)
			if r.code != 200 || r.body != want {
				t.Fatalf("GET %s (%d) while it is being stored: %d %q, want 200 %q", name, i, r.code, r.body, want)
			}
			if held.released.Load() {
				t.Fatalf("GET %s answered only once the store was let go", name)
			}
			if etag := r.hdr.Get("ETag"); etag != "" {
				t.Errorf("GET %s before it is stored: ETag %s; a file not stored has none", name, etag)
			}
		}
		if e.stored(strings.TrimPrefix(name, "/")) {
			t.Errorf("%s stored while its store was held", name)
		}
		if n := e.up.Requests(name); n != 1 {
			t.Errorf("upstream asked for %s %d times, want 1", name, n)
		}
	}
	held.letGo()
	for _, name := range []string{"/example.com/a/@v/v1.0.0.mod", "/example.com/a/@v/v1.0.0.info"} {
		waitFor(t, name+" stored", func() bool { return e.stored(strings.TrimPrefix(name, "/")) })
		want := e.upstreamBytes(t, name)
		e.up.ResetRequests()
		r := e.get(t, name)
		if r.code != 200 || r.body != want || r.hdr.Get("ETag") == "" {
			t.Errorf("GET %s once stored: %d %q, ETag %q; want 200, the upstream's bytes and an ETag", name, r.code, r.body, r.hdr.Get("ETag"))
		}
		if n := e.up.Requests(name); n != 0 {
			t.Errorf("upstream asked for %s once stored", name)
		}
	}
}

// What is not a public module's go.mod or .info is answered only once
// stored: a zip, and a nosumdb module's go.mod (recorded in the mirror's
// own checksum database with what was stored).
func TestNoEarlyAnswer(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"/example.com/a/@v/v1.0.0.zip", "/github.com/!azure/!foo/@v/v1.0.0.mod"} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			held := &heldStore{hold: []string{".zip", ".mod"}, release: make(chan struct{})}
			e := newEnv(t, holdStore(held), func(c *mirror.Config) {
				c.NoSumDB = func(path string) bool { return path == "github.com/Azure/Foo" }
			})
			got := make(chan response, 1)
			go func() { got <- e.get(t, name) }()
			// A mirror that answers before storing answers within
			// milliseconds here; one that waits cannot answer at all
			// until the store is let go.
			select {
			case r := <-got:
				t.Fatalf("GET %s answered while its store was held: %d %q", name, r.code, r.body)
			case <-time.After(300 * time.Millisecond):
			}
			held.letGo()
			if r := <-got; r.code != 200 || r.body != e.upstreamBytes(t, name) {
				t.Errorf("GET %s: %d %q, want 200 and the upstream's bytes", name, r.code, r.body)
			}
		})
	}
}

// A go.mod answered early that then fails to be stored was still the
// verified go.mod: the mirror says so in its log, stores nothing, and
// fills it again on the next request.
func TestEarlyAnswerNotStored(t *testing.T) {
	t.Parallel()
	held := &heldStore{hold: []string{".mod"}, release: make(chan struct{}), fail: errors.New("no space left on device")}
	held.letGo()
	e := newEnv(t, holdStore(held))
	name := "/example.com/a/@v/v1.1.0.mod"
	want := e.upstreamBytes(t, name)
	if r := e.get(t, name); r.code != 200 || r.body != want {
		t.Errorf("GET %s with the store failing: %d %q, want 200 %q", name, r.code, r.body, want)
	}
	waitFor(t, "the failure logged", func() bool {
		return strings.Contains(e.log.String(), "answered before it was stored, then not stored")
	})
	if !strings.Contains(e.log.String(), "no space left on device") {
		t.Errorf("log lacks the store's error:\n%s", e.log.String())
	}
	if e.stored(strings.TrimPrefix(name, "/")) {
		t.Errorf("%s stored though the store failed", name)
	}
	// A request that comes as the failed fill ends may still join it;
	// the next ones fill again.
	waitFor(t, "the upstream asked again", func() bool {
		if r := e.get(t, name); r.code != 200 || r.body != want {
			t.Fatalf("GET %s again with the store failing: %d %q, want 200 %q", name, r.code, r.body, want)
		}
		return e.up.Requests(name) == 3 // upstreamBytes, and the two fills
	})
}

// waitFor waits up to 10 s for cond.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}
