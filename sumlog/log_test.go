package sumlog_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"golang.org/x/mod/sumdb"

	"github.com/modmirror/modmirror/sumlog"
	"github.com/modmirror/modmirror/sumlog/sqlite"
)

// newLog opens a log over a new SQLite file in dir with a new key.
func newLog(t *testing.T, dir, skey string, fill func(ctx context.Context, path, version string) ([]byte, error)) (*sumlog.Log, *sqlite.Storage) {
	t.Helper()
	st, err := sqlite.Open(filepath.Join(dir, "log.db"))
	if err != nil {
		t.Fatal(err)
	}
	l, err := sumlog.Open(context.Background(), sumlog.Config{Storage: st, SignerKey: skey, Fill: fill})
	if err != nil {
		st.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close(); st.Close() })
	return l, st
}

func newKey(t *testing.T) (skey, vkey string) {
	t.Helper()
	skey, vkey, err := sumlog.GenerateKey("sum.example.com")
	if err != nil {
		t.Fatal(err)
	}
	return skey, vkey
}

// fakeHash returns a well-formed hash that depends on s.
func fakeHash(s string) string {
	return fmt.Sprintf("h1:%043sx=", strings.ReplaceAll(s, ".", "0"))[:48]
}

func record(path, version string) []byte {
	return []byte(path + " " + version + " " + fakeHash(path+version) + "\n" +
		path + " " + version + "/go.mod " + fakeHash(path+version+"mod") + "\n")
}

// clientOps is an in-memory sumdb.ClientOps: the go command's client, with
// its state in memory.
type clientOps struct {
	url     string
	key     string
	mu      sync.Mutex
	config  map[string][]byte
	cache   map[string][]byte
	reports []string
}

func newClient(url, vkey string) (*sumdb.Client, *clientOps) {
	ops := &clientOps{url: url, key: vkey, config: map[string][]byte{}, cache: map[string][]byte{}}
	return sumdb.NewClient(ops), ops
}

func (c *clientOps) ReadRemote(path string) ([]byte, error) {
	resp, err := http.Get(c.url + path)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != 200 {
		return nil, fmt.Errorf("GET %s: %s: %s", path, resp.Status, data)
	}
	return data, nil
}

func (c *clientOps) ReadConfig(file string) ([]byte, error) {
	if file == "key" {
		return []byte(c.key), nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.config[file], nil
}

func (c *clientOps) WriteConfig(file string, old, new []byte) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if string(c.config[file]) != string(old) {
		return sumdb.ErrWriteConflict
	}
	c.config[file] = new
	return nil
}

func (c *clientOps) ReadCache(file string) ([]byte, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if d, ok := c.cache[file]; ok {
		return d, nil
	}
	return nil, fmt.Errorf("not cached")
}

func (c *clientOps) WriteCache(file string, data []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.cache[file] = data
}

func (c *clientOps) Log(msg string) {}

func (c *clientOps) SecurityError(msg string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.reports = append(c.reports, msg)
}

func TestSmoke(t *testing.T) {
	skey, vkey := newKey(t)
	l, _ := newLog(t, t.TempDir(), skey, func(ctx context.Context, path, version string) ([]byte, error) {
		return record(path, version), nil
	})
	srv := httptest.NewServer(l)
	defer srv.Close()
	client, _ := newClient(srv.URL, vkey)
	for i := range 300 {
		path, version := fmt.Sprintf("example.com/m%d", i), "v1.0.0"
		lines, err := client.Lookup(path, version)
		if err != nil {
			t.Fatal(err)
		}
		modLines, err := client.Lookup(path, version+"/go.mod")
		if err != nil {
			t.Fatal(err)
		}
		if got, want := strings.Join(append(lines, modLines...), "\n")+"\n", string(record(path, version)); got != want {
			t.Fatalf("lines %q, want %q", got, want)
		}
	}
	t.Logf("%+v", l.Stats())
}
