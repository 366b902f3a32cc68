package e2e

import (
	"strings"
	"testing"

	"github.com/modmirror/modmirror/internal/testpostgres"
)

// TestReplicasShareOneLog runs two mirrors, each with a store of its own,
// over one checksum database log in PostgreSQL, as replicas behind a load
// balancer. A go command that goes to one, then the other, sees one log:
// every head either serves is consistent with every head it saw before,
// and both serve each record at the same id.
func TestReplicasShareOneLog(t *testing.T) {
	t.Parallel()
	db := testpostgres.Database(t)
	up := newFixture(t)
	keyFile, vkey := keygen(t)
	a := startMirror(t, up, "", "--sumdb-key", keyFile, "--sumdb-db", db)
	b := startMirror(t, up, "", "--sumdb-key", keyFile, "--sumdb-db", db)

	g := newGo(t, a.URL, vkey)
	queries := []struct {
		m *mirror
		q string
	}{
		{a, libPath + "@v1.0.0"},
		{b, libPath + "@v1.1.0"},
		{a, azurePath + "@v1.0.0"},
		{b, legacyPath + "@" + legacyV2},
		{a, libPath + "@v1.3.0-RC1"},
		{b, libPath + "@v1.0.0"}, // recorded through a, looked up at b
	}
	for _, q := range queries {
		g.env["GOPROXY"] = q.m.URL
		// A fresh module cache each time, so that every download asks the
		// log again; GOPATH keeps the last head the client saw.
		g.env["GOMODCACHE"] = t.TempDir()
		g.OK(t.TempDir(), "mod", "download", q.q)
	}
	for _, mv := range []string{libPath + "@v1.0.0", libPath + "@v1.1.0", azurePath + "@v1.0.0", libPath + "@v1.3.0-RC1"} {
		path, version, _ := strings.Cut(mv, "@")
		epath := strings.ReplaceAll(path, "Azure", "!azure")
		evers := strings.ReplaceAll(version, "RC", "!r!c")
		var records []string
		for _, m := range []*mirror{a, b} {
			code, body, err := httpGet(m.URL + "/sumdb/" + sumdbName + "/lookup/" + epath + "@" + evers)
			if err != nil || code != 200 {
				t.Fatalf("lookup of %s: %d %v\n%s", mv, code, err, body)
			}
			// "<id>\n<record lines>\n\n<signed head>"
			records = append(records, strings.SplitN(body, "\n\n", 2)[0])
		}
		want := strings.Join(up.GoSumLines(path, version), "\n")
		if records[0] != records[1] || !strings.HasSuffix(records[0], "\n"+want) {
			t.Errorf("%s: replica a serves %q, replica b %q; want the same id and record %q", mv, records[0], records[1], want)
		}
	}
}
