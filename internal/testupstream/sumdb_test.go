package testupstream

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"strings"
	"sync"
	"testing"

	"golang.org/x/mod/sumdb"
)

// memClientOps is a sumdb.ClientOps that keeps configuration and cache in
// memory and reads the database over HTTP from base.
type memClientOps struct {
	t    *testing.T
	base string // URL of the database: <Server.URL>/sumdb/<name>
	key  string

	mu     sync.Mutex
	config map[string][]byte
	cache  map[string][]byte
}

func newClient(t *testing.T, s *Server) *sumdb.Client {
	return sumdb.NewClient(&memClientOps{
		t:      t,
		base:   s.URL + "/sumdb/" + s.SumDBName(),
		key:    s.VerifierKey(),
		config: make(map[string][]byte),
		cache:  make(map[string][]byte),
	})
}

func (c *memClientOps) ReadRemote(path string) ([]byte, error) {
	resp, err := http.Get(c.base + path)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s: %s", path, resp.Status, body)
	}
	return body, nil
}

func (c *memClientOps) ReadConfig(file string) ([]byte, error) {
	if file == "key" {
		return []byte(c.key), nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.config[file], nil // nil: start from an empty tree
}

func (c *memClientOps) WriteConfig(file string, old, new []byte) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !bytes.Equal(c.config[file], old) {
		return sumdb.ErrWriteConflict
	}
	c.config[file] = new
	return nil
}

func (c *memClientOps) ReadCache(file string) ([]byte, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if data, ok := c.cache[file]; ok {
		return data, nil
	}
	return nil, fmt.Errorf("%s: not cached", file)
}

func (c *memClientOps) WriteCache(file string, data []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.cache[file] = data
}

func (c *memClientOps) Log(msg string)           { c.t.Log(msg) }
func (c *memClientOps) SecurityError(msg string) { c.t.Log("security error: " + msg) }

func TestSumDB(t *testing.T) {
	t.Parallel()
	s := New(t, fixtures(t)...)
	if code, _ := get(t, s.URL+"/sumdb/"+s.SumDBName()+"/supported"); code != http.StatusOK {
		t.Errorf("supported: status %d, want 200", code)
	}

	client := newClient(t, s)
	// Several lookups grow the tree; the client checks each signed tree
	// head against the key and proves it consistent with the one before.
	for _, m := range [][2]string{
		{"example.com/fixture", "v1.0.0"},
		{"example.com/Upper", "v1.0.0-RC1"},
		{"example.com/incompat", "v2.0.0+incompatible"},
		{"example.com/fixture", "v1.1.0-pre"},
		{"example.com/fixture", "v1.0.0"},
	} {
		// Lookup returns the zip's line, or with "/go.mod" the go.mod's.
		var lines []string
		for _, vers := range []string{m[1], m[1] + "/go.mod"} {
			l, err := client.Lookup(m[0], vers)
			if err != nil {
				t.Fatalf("Lookup(%s, %s): %v", m[0], vers, err)
			}
			lines = append(lines, l...)
		}
		if want := s.GoSumLines(m[0], m[1]); !reflect.DeepEqual(lines, want) {
			t.Errorf("Lookup(%s, %s):\ngot  %q\nwant %q", m[0], m[1], lines, want)
		}
	}

	// A fresh client checks the whole tree again from scratch.
	if _, err := newClient(t, s).Lookup("example.com/incompat", "v2.0.0+incompatible"); err != nil {
		t.Errorf("fresh client: %v", err)
	}

	_, err := client.Lookup("example.com/missing", "v1.0.0")
	if err == nil || !strings.Contains(err.Error(), "404 Not Found") {
		t.Errorf("Lookup of a missing module: error %v, want a 404", err)
	}
}

func TestSumDBRejectsOtherKey(t *testing.T) {
	t.Parallel()
	s := New(t, fixtures(t)...)
	other := New(t)
	ops := &memClientOps{
		t:      t,
		base:   s.URL + "/sumdb/" + s.SumDBName(),
		key:    other.VerifierKey(), // a different database's key
		config: make(map[string][]byte),
		cache:  make(map[string][]byte),
	}
	if _, err := sumdb.NewClient(ops).Lookup("example.com/fixture", "v1.0.0"); err == nil {
		t.Error("Lookup verified a tree signed with another key")
	}
}
