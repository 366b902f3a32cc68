// Package testsumdb serves test checksum databases on 127.0.0.1: a
// [golang.org/x/mod/sumdb.TestServer] behind [golang.org/x/mod/sumdb.NewServer],
// signed with a key made by [NewKey], whose records are invented from a salt
// so that tests can fork a log at will.
package testsumdb

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"golang.org/x/mod/module"
	"golang.org/x/mod/sumdb"
	"golang.org/x/mod/sumdb/note"
)

// A Key is the key pair of a test checksum database.
type Key struct{ Signer, Verifier string }

// NewKey generates a key pair for the database name.
func NewKey(t testing.TB, name string) Key {
	t.Helper()
	skey, vkey, err := note.GenerateKey(rand.Reader, name)
	if err != nil {
		t.Fatal(err)
	}
	return Key{skey, vkey}
}

// A DB is a checksum database ([sumdb.TestServer]) served on 127.0.0.1 at
// URL. It knows every module version whose version does not contain
// "unknown"; the hashes it logs depend on Salt, so two DBs with one key and
// different salts are two forks of one log.
type DB struct {
	Ops  *sumdb.TestServer
	URL  string
	Salt string

	grown int // module versions added by Grow
}

// New starts a DB signing with key, closed when the test ends. wrap, if not
// nil, wraps its HTTP handler (to count requests or inject faults). The
// handler answers 404 where [sumdb.TestServer] panics: when asked for a tile
// beyond the end of its log, which a real database answers with 404, and
// which a client asks for when a partial tile is missing.
func New(t testing.TB, key Key, salt string, wrap func(http.Handler) http.Handler) *DB {
	t.Helper()
	db := &DB{Salt: salt}
	db.Ops = sumdb.NewTestServer(key.Signer, db.GoSum)
	h := notFoundOnPanic(sumdb.NewServer(db.Ops))
	if wrap != nil {
		h = wrap(h)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	db.URL = srv.URL
	return db
}

// notFoundOnPanic answers 404 where h panics.
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

// GoSum returns the record the database logs for path@version: its go.sum
// line, then its go.mod's. For a version containing "unknown" it returns a
// *[fs.PathError] wrapping [fs.ErrNotExist].
func (db *DB) GoSum(path, version string) ([]byte, error) {
	if strings.Contains(version, "unknown") {
		// sumdb.Server answers 404 only for errors os.IsNotExist
		// recognises, which does not unwrap.
		return nil, &fs.PathError{Op: "lookup", Path: path + "@" + version, Err: fs.ErrNotExist}
	}
	return []byte(fmt.Sprintf("%s %s %s\n%s %s/go.mod %s\n",
		path, version, db.Hash(path, version),
		path, version, db.Hash(path, version+"/go.mod"))), nil
}

// Hash returns the h1: hash the database logs for a go.sum line of
// path@version (version ending in "/go.mod" for a go.mod's line).
func (db *DB) Hash(path, version string) string {
	sum := sha256.Sum256([]byte(db.Salt + path + "@" + version))
	return "h1:" + base64.StdEncoding.EncodeToString(sum[:])
}

// Grow adds records for n new module versions directly, without HTTP.
func (db *DB) Grow(t testing.TB, n int) {
	t.Helper()
	for range n {
		m := module.Version{Path: fmt.Sprintf("example.com/grow/m%d", db.grown), Version: "v1.0.0"}
		db.grown++
		if _, err := db.Ops.Lookup(context.Background(), m); err != nil {
			t.Fatal(err)
		}
	}
}
