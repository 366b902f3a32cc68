package vulndb

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
)

// A Current holds the database loaded last. It is safe for concurrent
// use; the zero value holds none.
type Current struct {
	p atomic.Pointer[DB]
}

// Load returns the database, or nil if none is loaded yet.
func (c *Current) Load() *DB { return c.p.Load() }

// Store makes db the current database.
func (c *Current) Store(db *DB) { c.p.Store(db) }

// Handler serves the database protocol from the current database, with
// paths relative to the database's root: /index/db.json, /ID/GO-...json,
// each also with ".gz". Before a database is loaded it answers 503.
func Handler(c *Current) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		db := c.Load()
		if db == nil {
			w.Header().Set("Cache-Control", "no-store")
			w.Header().Set("Retry-After", "30")
			http.Error(w, "vulnerability database unavailable: not loaded yet (the mirror fills it from its module at start)", http.StatusServiceUnavailable)
			return
		}
		name := strings.TrimPrefix(r.URL.Path, "/")
		gz := strings.HasSuffix(name, ".json.gz")
		data, ok := db.file(strings.TrimSuffix(name, ".gz"))
		if !ok {
			w.Header().Set("Cache-Control", "no-store")
			http.Error(w, "not found: no such file in the vulnerability database (index/db.json, index/modules.json, index/vulns.json, ID/<id>.json, each also .json.gz)", http.StatusNotFound)
			return
		}
		hdr := w.Header()
		// The gzipped forms are files of their own, not an encoding of
		// the JSON: a client gunzips them itself.
		if gz {
			hdr.Set("Content-Type", "application/gzip")
		} else {
			hdr.Set("Content-Type", "application/json")
			plain, err := gunzip(data)
			if err != nil {
				http.Error(w, "vulnerability database: "+err.Error(), http.StatusInternalServerError)
				return
			}
			data = plain
		}
		hdr.Set("Cache-Control", "public, max-age=300")
		etag := db.Version
		if gz {
			etag += "-gz"
		}
		hdr.Set("ETag", fmt.Sprintf("%q", etag))
		http.ServeContent(w, r, "", db.Modified, bytes.NewReader(data))
	})
}

func gunzip(data []byte) ([]byte, error) {
	zr, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		return nil, err
	}
	return io.ReadAll(zr)
}
