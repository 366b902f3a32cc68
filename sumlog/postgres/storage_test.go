package postgres_test

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/modmirror/modmirror/internal/testpostgres"
	"github.com/modmirror/modmirror/sumlog"
	"github.com/modmirror/modmirror/sumlog/postgres"
	"github.com/modmirror/modmirror/sumlog/storagetest"
)

func open(t *testing.T, dbURL string) *postgres.Storage {
	t.Helper()
	st, err := postgres.Open(t.Context(), dbURL)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func TestStorage(t *testing.T) {
	t.Parallel()
	storagetest.TestStorage(t, func(t *testing.T) sumlog.Storage {
		return open(t, testpostgres.Database(t))
	})
}

// TestReopen checks that a second Open of a database, as a second replica
// or a restart does, keeps what is in it.
func TestReopen(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	db := testpostgres.Database(t)
	skey, _, err := sumlog.GenerateKey("sum.example.com")
	if err != nil {
		t.Fatal(err)
	}
	st := open(t, db)
	l, err := sumlog.Open(ctx, sumlog.Config{Storage: st, SignerKey: skey})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 10 {
		path := fmt.Sprintf("example.com/reopen/m%d", i)
		if _, err := l.Record(ctx, path, "v1.0.0", goSum(path, "v1.0.0")); err != nil {
			t.Fatal(err)
		}
	}
	before := l.Head()
	l.Close()
	st.Close()

	st = open(t, db)
	defer st.Close()
	h, err := st.Head(ctx)
	if err != nil || h.Size != 10 || string(h.Signed) != string(before.Signed) {
		t.Fatalf("Head after reopening = %+v, %v; want %+v", h, err, before)
	}
	if id, err := st.Lookup(ctx, "example.com/reopen/m9", "v1.0.0"); err != nil || id != 9 {
		t.Fatalf("Lookup after reopening = %d, %v; want 9, nil", id, err)
	}
}

// TestNewerSchema checks that a database written by a later modmirror is
// refused rather than changed.
func TestNewerSchema(t *testing.T) {
	t.Parallel()
	db := testpostgres.Database(t)
	open(t, db).Close()
	conn, err := pgx.Connect(t.Context(), db)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(t.Context(), "UPDATE schema_version SET version = 2"); err != nil {
		t.Fatal(err)
	}
	conn.Close(t.Context())
	st, err := postgres.Open(t.Context(), db)
	if err == nil {
		st.Close()
		t.Fatal("Open of a database with schema version 2 succeeded")
	}
	if !strings.Contains(err.Error(), "schema version 2") {
		t.Fatalf("Open of a database with schema version 2: %v; want an error naming the version", err)
	}
}

// TestTwoWriters runs two logs, as two replicas would, over one database:
// both append at once, no record is lost, ids are dense, and a version
// that both record gets one id.
func TestTwoWriters(t *testing.T) {
	t.Parallel()
	db := testpostgres.Database(t)
	want := storagetest.TestTwoLogs(t, func() (sumlog.Storage, error) { return postgres.Open(t.Context(), db) })
	conn, err := pgx.Connect(t.Context(), db)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	for _, c := range []struct {
		query string
		want  int64
	}{
		{"SELECT COUNT(*) FROM records", want},
		{"SELECT COUNT(DISTINCT id) FROM records", want},
		{"SELECT MIN(id) FROM records", 0},
		{"SELECT MAX(id) FROM records", want - 1},
		{"SELECT size FROM head", want},
	} {
		var got int64
		if err := conn.QueryRow(t.Context(), c.query).Scan(&got); err != nil {
			t.Fatalf("%s: %v", c.query, err)
		}
		if got != c.want {
			t.Errorf("%s = %d, want %d", c.query, got, c.want)
		}
	}
}

// goSum returns the go.sum lines of a module version, with hashes that
// look like real ones.
func goSum(path, version string) []byte {
	h := func(s string) string {
		sum := sha256.Sum256([]byte(s))
		return "h1:" + base64.StdEncoding.EncodeToString(sum[:])
	}
	return fmt.Appendf(nil, "%s %s %s\n%s %s/go.mod %s\n", path, version, h(path+version), path, version, h(path+version+"/go.mod"))
}
