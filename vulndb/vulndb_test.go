package vulndb_test

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/modmirror/modmirror/vulndb"
	"github.com/modmirror/modmirror/vulndb/vulndbtest"
)

const mod, version = "golang.org/x/vulndb", "v0.0.0-20261105234957-e22db6528018"

var when = time.Date(2026, 11, 5, 23, 49, 57, 0, time.UTC)

var entries = []vulndbtest.Entry{
	{ID: "GO-2026-0001", Module: "example.com/lib", Aliases: []string{"CVE-2026-1111", "GHSA-aaaa-bbbb-cccc"},
		Ranges: [][]string{{"introduced:0", "fixed:1.0.1"}, {"introduced:1.1.0"}}}, // reopened in 1.1.0, no fix
	{ID: "GO-2026-0002", Module: "example.com/lib", Ranges: [][]string{{"introduced:1.0.0", "fixed:1.0.2"}}, Unreviewed: true,
		Severity: "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"},
	{ID: "GO-2026-0003", Module: "example.com/other", Ranges: [][]string{{"introduced:2.0.0+incompatible", "last_affected:2.1.0+incompatible"}}},
	{ID: "GO-2026-0004", Module: "example.com/lib", Ranges: [][]string{{"introduced:0"}}, Withdrawn: true},
	{ID: "GO-2026-0005", Module: "stdlib", Ranges: [][]string{{"introduced:1.20.0", "fixed:1.21.5"}}},
}

func load(t *testing.T, es ...vulndbtest.Entry) *vulndb.DB {
	t.Helper()
	db, err := vulndb.Load(vulndbtest.Zip(mod, version, es...), mod, version, when)
	if err != nil {
		t.Fatal(err)
	}
	return db
}

func TestAffecting(t *testing.T) {
	db := load(t, entries...)
	if db.Len() != len(entries) {
		t.Errorf("Len = %d, want %d", db.Len(), len(entries))
	}
	for _, tt := range []struct {
		path, version string
		want          string
	}{
		{"example.com/lib", "v0.9.0", "GO-2026-0001"},
		{"example.com/lib", "v1.0.0", "GO-2026-0001 GO-2026-0002"},
		{"example.com/lib", "v1.0.1", "GO-2026-0002"},
		{"example.com/lib", "v1.0.2", ""},
		{"example.com/lib", "v1.0.2-0.20260101000000-abcdefabcdef", "GO-2026-0002"},
		{"example.com/lib", "v1.1.0-rc.1", ""},
		{"example.com/lib", "v1.1.0", "GO-2026-0001"},
		{"example.com/lib", "v9.0.0", "GO-2026-0001"},
		{"example.com/other", "v1.9.9", ""},
		{"example.com/other", "v2.0.0+incompatible", "GO-2026-0003"},
		{"example.com/other", "v2.1.0+incompatible", "GO-2026-0003"},
		{"example.com/other", "v2.1.1+incompatible", ""},
		{"example.com/nothing", "v1.0.0", ""},
	} {
		var ids []string
		for _, e := range db.Affecting(tt.path, tt.version) {
			ids = append(ids, e.ID)
		}
		if got := strings.Join(ids, " "); got != tt.want {
			t.Errorf("Affecting(%s, %s) = %q, want %q", tt.path, tt.version, got, tt.want)
		}
	}
	e := db.Entry("GO-2026-0001")
	if got := e.Fixed("example.com/lib", "v0.9.0"); got != "v1.0.1" {
		t.Errorf("Fixed at v0.9.0 = %q, want v1.0.1", got)
	}
	if got := e.Fixed("example.com/lib", "v1.1.0"); got != "" {
		t.Errorf("Fixed at v1.1.0 = %q, want none", got)
	}
	if !e.Reviewed || db.Entry("GO-2026-0002").Reviewed {
		t.Errorf("review status not read")
	}
	if got := db.Entry("GO-2026-0002").Severity; got != 9.8 {
		t.Errorf("severity = %v, want 9.8", got)
	}
	if got := e.Severity; got != -1 {
		t.Errorf("severity of an unrated entry = %v, want -1", got)
	}
}

func TestLoadErrors(t *testing.T) {
	bad := entries[0]
	bad.Ranges = [][]string{{"introduced:one"}}
	if _, err := vulndb.Load(vulndbtest.Zip(mod, version, bad), mod, version, when); err == nil || !strings.Contains(err.Error(), "not a semantic version") {
		t.Errorf("an unreadable range: %v", err)
	}
	if _, err := vulndb.Load(vulndbtest.Zip(mod, version), mod, version, when); err == nil || !strings.Contains(err.Error(), "no entries") {
		t.Errorf("no entries: %v", err)
	}
	odd := entries[0]
	odd.ID = "GO-2026-0001/../../x"
	if _, err := vulndb.Load(vulndbtest.Zip(mod, version, odd), mod, version, when); err == nil {
		t.Errorf("an entry with an ID that is a path was loaded")
	}
}

// get fetches a path from h and returns the status and the body,
// gunzipped for .gz paths.
func get(t *testing.T, h http.Handler, path string) (int, []byte) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
	body := rec.Body.Bytes()
	if rec.Code == 200 && strings.HasSuffix(path, ".gz") {
		if ct := rec.Header().Get("Content-Type"); ct != "application/gzip" {
			t.Errorf("%s: Content-Type %q", path, ct)
		}
		zr, err := gzip.NewReader(bytes.NewReader(body))
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if body, err = io.ReadAll(zr); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
	}
	return rec.Code, body
}

func TestHandler(t *testing.T) {
	var cur vulndb.Current
	h := vulndb.Handler(&cur)
	if code, body := get(t, h, "/index/db.json.gz"); code != 503 || !strings.Contains(string(body), "not loaded") {
		t.Errorf("before loading: %d %s", code, body)
	}
	cur.Store(load(t, entries...))

	code, body := get(t, h, "/index/db.json.gz")
	var meta struct{ Modified time.Time }
	if code != 200 || json.Unmarshal(body, &meta) != nil || !meta.Modified.Equal(when) {
		t.Errorf("db.json: %d %s, want modified %v", code, body, when)
	}

	code, body = get(t, h, "/index/modules.json.gz")
	var modules []struct {
		Path  string
		Vulns []struct {
			ID       string
			Modified time.Time
			Fixed    string
		}
	}
	if code != 200 || json.Unmarshal(body, &modules) != nil {
		t.Fatalf("modules.json: %d %s", code, body)
	}
	got := map[string]string{}
	for _, m := range modules {
		for _, v := range m.Vulns {
			got[m.Path+" "+v.ID] = v.Fixed
			if !v.Modified.Equal(when) {
				t.Errorf("%s %s: modified %v, want %v", m.Path, v.ID, v.Modified, when)
			}
		}
	}
	want := map[string]string{
		"example.com/lib GO-2026-0001":   "", // still open in 1.1.0: no fixed, or govulncheck would skip it
		"example.com/lib GO-2026-0002":   "1.0.2",
		"example.com/lib GO-2026-0004":   "",
		"example.com/other GO-2026-0003": "",
		"stdlib GO-2026-0005":            "1.21.5",
	}
	if len(got) != len(want) {
		t.Errorf("modules.json lists %v, want %v", got, want)
	}
	for k, v := range want {
		if f, ok := got[k]; !ok || f != v {
			t.Errorf("modules.json: %s fixed %q (listed %v), want %q", k, f, ok, v)
		}
	}

	// An entry: its own JSON, with the zero times set, plain and gzipped.
	for _, p := range []string{"/ID/GO-2026-0001.json", "/ID/GO-2026-0001.json.gz"} {
		code, body = get(t, h, p)
		var e struct {
			ID                  string
			Modified, Published time.Time
			Aliases             []string
			Affected            []json.RawMessage
		}
		if code != 200 || json.Unmarshal(body, &e) != nil || e.ID != "GO-2026-0001" || !e.Modified.Equal(when) || !e.Published.Equal(when) || len(e.Aliases) != 2 || len(e.Affected) != 1 {
			t.Errorf("%s: %d %s", p, code, body)
		}
	}
	for _, p := range []string{"/ID/GO-2026-9999.json.gz", "/ID/../index/db.json", "/index/other.json", "/"} {
		if code, _ := get(t, h, p); code != 404 {
			t.Errorf("%s: %d, want 404", p, code)
		}
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("HEAD", "/index/modules.json.gz", nil))
	if rec.Code != 200 || rec.Body.Len() != 0 {
		t.Errorf("HEAD: %d, %d bytes", rec.Code, rec.Body.Len())
	}
}

func TestCVSS3Score(t *testing.T) {
	for vector, want := range map[string]float64{
		"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H": 9.8,
		"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:C/C:H/I:H/A:H": 10,
		"CVSS:3.1/AV:N/AC:L/PR:L/UI:N/S:U/C:L/I:N/A:N": 4.3,
		"CVSS:3.0/AV:L/AC:H/PR:H/UI:R/S:U/C:N/I:N/A:N": 0,
		"CVSS:3.1/AV:N/AC:H/PR:N/UI:R/S:C/C:L/I:L/A:N": 4.7,
		"CVSS:3.1/AV:P/AC:L/PR:N/UI:N/S:U/C:H/I:N/A:N": 4.6,
		"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:H": 7.5,
	} {
		got, err := vulndb.CVSS3Score(vector)
		if err != nil || got != want {
			t.Errorf("CVSS3Score(%s) = %v, %v, want %v", vector, got, err, want)
		}
	}
	for _, bad := range []string{"CVSS:2.0/AV:N", "CVSS:3.1/AV:X/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:Q/C:H/I:H/A:H", ""} {
		if _, err := vulndb.CVSS3Score(bad); err == nil {
			t.Errorf("CVSS3Score(%q) accepted", bad)
		}
	}
}
