package mirror

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/modmirror/modmirror"
	"github.com/modmirror/modmirror/fsstore"
)

// fakeUpstream serves one go.mod and counts requests; it can be made to fail.
type fakeUpstream struct {
	mod   []byte
	fail  atomic.Bool
	calls atomic.Int32
}

func (u *fakeUpstream) err() error {
	u.calls.Add(1)
	if u.fail.Load() {
		return errors.New("fake upstream: 503 Service Unavailable")
	}
	return nil
}

func (u *fakeUpstream) List(ctx context.Context, path string) ([]string, error) {
	if err := u.err(); err != nil {
		return nil, err
	}
	return []string{"v1.0.0", "v1.1.0"}, nil
}
func (u *fakeUpstream) Latest(ctx context.Context, path string) ([]byte, error) {
	if err := u.err(); err != nil {
		return nil, err
	}
	return []byte(`{"Version":"v1.1.0"}`), nil
}
func (u *fakeUpstream) Info(ctx context.Context, path, query string) ([]byte, error) {
	return nil, modmirror.NotFound("no info")
}
func (u *fakeUpstream) Mod(ctx context.Context, path, version string) ([]byte, error) {
	if err := u.err(); err != nil {
		return nil, err
	}
	return u.mod, nil
}
func (u *fakeUpstream) Zip(ctx context.Context, path, version string) (io.ReadCloser, error) {
	return nil, modmirror.NotFound("no zip")
}
func (u *fakeUpstream) String() string { return "fake" }

func newTestMirror(t *testing.T, up modmirror.Upstream, cfg Config) (*Mirror, *fsstore.Store, *bytes.Buffer) {
	t.Helper()
	store, err := fsstore.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	logs := new(bytes.Buffer)
	cfg.Store = store
	cfg.Upstream = up
	cfg.Logger = slog.New(slog.NewTextHandler(logs, nil))
	m, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return m, store, logs
}

// TestStoredCopyWins: when the upstream serves a different go.mod for a
// version already stored (a moved tag upstream, or a racing fill), the
// stored bytes stay and the event is logged as a security error.
func TestStoredCopyWins(t *testing.T) {
	ctx := context.Background()
	up := &fakeUpstream{mod: []byte("module example.com/m // changed upstream\n")}
	m, store, logs := newTestMirror(t, up, Config{})
	key := "example.com/m/@v/v1.0.0.mod"
	original := []byte("module example.com/m\n")
	if err := store.Create(ctx, key, bytes.NewReader(original)); err != nil {
		t.Fatal(err)
	}
	if err := m.fillMod(ctx, "example.com/m", "v1.0.0", key, nil); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(filepath.Join(store.Root(), key))
	if err != nil || !bytes.Equal(got, original) {
		t.Fatalf("stored .mod = %q, %v; want the original %q", got, err, original)
	}
	if !strings.Contains(logs.String(), "SECURITY ERROR") || !strings.Contains(logs.String(), "example.com/m") {
		t.Errorf("no security error logged; log:\n%s", logs)
	}

	// The same bytes again are no event at all.
	logs.Reset()
	up.mod = original
	if err := m.fillMod(ctx, "example.com/m", "v1.0.0", key, nil); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(logs.String(), "SECURITY ERROR") {
		t.Errorf("identical bytes logged as a security error:\n%s", logs)
	}
}

// TestFailingUpstreamIsNotAskedEveryTime: once the upstream failed and the
// stored list was served instead, the next requests are answered from the
// store without waiting for the upstream again, for a short while.
func TestFailingUpstreamIsNotAskedEveryTime(t *testing.T) {
	ctx := context.Background()
	up := &fakeUpstream{mod: []byte("module example.com/m\n")}
	m, _, _ := newTestMirror(t, up, Config{ListTTL: time.Hour})
	if _, err := m.Mod(ctx, "example.com/m", "v1.0.0"); err != nil {
		t.Fatal(err)
	}
	up.fail.Store(true)
	up.calls.Store(0)
	for range 5 {
		list, err := m.List(ctx, "example.com/m")
		if err != nil || len(list) != 1 || list[0] != "v1.0.0" {
			t.Fatalf("List = %q, %v; want the stored [v1.0.0]", list, err)
		}
		latest, err := m.Latest(ctx, "example.com/m")
		if err != nil || !strings.Contains(string(latest), "v1.0.0") {
			t.Fatalf("Latest = %q, %v; want the stored v1.0.0", latest, err)
		}
	}
	if n := up.calls.Load(); n != 2 {
		t.Errorf("the failing upstream was asked %d times, want 2 (one list, one latest)", n)
	}
}

func TestSameContent(t *testing.T) {
	big := bytes.Repeat([]byte("x"), 100<<10)
	for _, tc := range []struct {
		a, b []byte
		want bool
	}{
		{nil, nil, true},
		{[]byte("a"), []byte("a"), true},
		{[]byte("a"), []byte("b"), false},
		{[]byte("a"), []byte("ab"), false},
		{big, big, true},
		{big, append(bytes.Clone(big), 'y'), false},
		{big, big[:len(big)-1], false},
	} {
		got, err := sameContent(bytes.NewReader(tc.a), bytes.NewReader(tc.b))
		if err != nil || got != tc.want {
			t.Errorf("sameContent(%d bytes, %d bytes) = %v, %v; want %v", len(tc.a), len(tc.b), got, err, tc.want)
		}
	}
}

// newestSeen.raise orders versions as the go command does (pseudo-versions
// and +incompatible ones included), forgets what it saw newestTTL ago, and
// starts afresh past maxNewest paths.
func TestNewestSeen(t *testing.T) {
	var n newestSeen
	for _, step := range []struct {
		path, version string
		higher        bool
	}{
		{"example.com/a", "v1.1.0", true},
		{"example.com/a", "v1.0.0", false},
		{"example.com/a", "v1.1.0", false}, // seen: asked for or looked up already
		{"example.com/a", "v1.1.1-0.20240102030405-abcdefabcdef", true},
		{"example.com/a", "v1.1.0", false},
		{"example.com/a", "v2.0.0+incompatible", true},
		{"example.com/b", "v0.1.0", true},
	} {
		if got := n.raise(step.path, step.version); got != step.higher {
			t.Errorf("raise(%s, %s) = %v; want %v", step.path, step.version, got, step.higher)
		}
	}
	n.paths["example.com/old"] = seenVersion{"v9.0.0", time.Now().Add(-newestTTL)}
	if !n.raise("example.com/old", "v1.0.0") {
		t.Errorf("a version seen %v ago still hides an older one", newestTTL)
	}
	for i := len(n.paths); i < maxNewest; i++ {
		n.raise(fmt.Sprintf("example.com/m%d", i), "v1.0.0")
	}
	if len(n.paths) != maxNewest {
		t.Fatalf("%d paths remembered; want %d", len(n.paths), maxNewest)
	}
	if !n.raise("example.com/a", "v3.0.0+incompatible") || len(n.paths) != maxNewest {
		t.Errorf("a higher version of a path remembered, at the bound: %d paths remembered; want %d", len(n.paths), maxNewest)
	}
	n.raise("example.com/one-more", "v1.0.0")
	if len(n.paths) != 1 || !n.raise("example.com/a", "v1.0.0") {
		t.Errorf("past %d paths, %d remembered and example.com/a's v2.0.0+incompatible still hides v1.0.0; want a fresh start", maxNewest, len(n.paths))
	}
}

// The zips filled ahead are remembered until asked for, up to maxUnasked;
// one remembered already, filled ahead again at the bound, forgets none, and
// a new one past it starts afresh.
func TestNotYetAskedBound(t *testing.T) {
	store, err := fsstore.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	m, err := New(Config{Store: store})
	if err != nil {
		t.Fatal(err)
	}
	key := func(i int) string { return fmt.Sprintf("cache/download/example.com/m%d/@v/v1.0.0.zip", i) }
	for i := range maxUnasked {
		m.notYetAsked(key(i))
	}
	m.notYetAsked(key(0)) // two clients missed its .info at once
	if !m.asked(key(1)) || !m.asked(key(maxUnasked-1)) {
		t.Fatalf("a key filled ahead again at the bound of %d forgot the others", maxUnasked)
	}
	if m.asked(key(1)) {
		t.Errorf("a key asked for twice was reported as filled ahead both times")
	}
	m.notYetAsked(key(1))
	m.notYetAsked(key(maxUnasked - 1)) // at the bound again
	m.notYetAsked(key(maxUnasked))     // one more than the bound
	if m.asked(key(2)) || !m.asked(key(maxUnasked)) {
		t.Errorf("past %d keys: old ones still remembered, or the new one not", maxUnasked)
	}
}

// A missed .info is remembered for its go.mod's fill for infoAskedTTL, once.
func TestInfoAskedExpires(t *testing.T) {
	store, err := fsstore.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	m, err := New(Config{Store: store, FillAhead: true})
	if err != nil {
		t.Fatal(err)
	}
	modKey, err := modmirror.VersionKey("example.com/a", "v1.0.0", modmirror.ExtMod)
	if err != nil {
		t.Fatal(err)
	}
	m.infoMissed(context.Background(), "example.com/a", "v1.0.0")
	if !m.takeInfoAsked(modKey) {
		t.Fatalf("a .info missed while its go.mod is not stored was not remembered")
	}
	if m.takeInfoAsked(modKey) {
		t.Errorf("a missed .info started two fills ahead")
	}
	m.infoMissed(context.Background(), "example.com/a", "v1.0.0")
	m.infoAsked[modKey] = time.Now().Add(-infoAskedTTL)
	if m.takeInfoAsked(modKey) {
		t.Errorf("a .info missed %v before its go.mod was stored started a fill ahead", infoAskedTTL)
	}
}
