package sqlitedb

import (
	"fmt"
	"path/filepath"
	"sync"
	"testing"
)

const testSchema = `CREATE TABLE IF NOT EXISTS t (k TEXT PRIMARY KEY, v TEXT NOT NULL)`

// TestOpenTogether opens one new database from several handles at once,
// as replicas or two stores starting together do: every Open succeeds
// (SQLite refuses a second switch to WAL mode at the same moment, without
// waiting, and Open tries again), and the database ends in WAL mode with
// its schema.
func TestOpenTogether(t *testing.T) {
	const rounds, handles = 40, 4
	for round := range rounds {
		file := filepath.Join(t.TempDir(), fmt.Sprintf("db%d", round), "x.db")
		var wg sync.WaitGroup
		errs := make([]error, handles)
		for i := range handles {
			wg.Go(func() {
				db, err := Open(file, 0o600, testSchema, 1)
				if err != nil {
					errs[i] = err
					return
				}
				defer db.Close()
				_, errs[i] = db.Exec("INSERT INTO t (k, v) VALUES (?, ?)", fmt.Sprint(i), "v")
			})
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Fatalf("round %d, handle %d: %v", round, i, err)
			}
		}
		db, err := Open(file, 0o600, testSchema, 1)
		if err != nil {
			t.Fatal(err)
		}
		var mode string
		var rows, version int
		if err := db.QueryRow("PRAGMA journal_mode").Scan(&mode); err != nil {
			t.Fatal(err)
		}
		if err := db.QueryRow("SELECT COUNT(*) FROM t").Scan(&rows); err != nil {
			t.Fatal(err)
		}
		if err := db.QueryRow("PRAGMA user_version").Scan(&version); err != nil {
			t.Fatal(err)
		}
		db.Close()
		if mode != "wal" || rows != handles || version != 1 {
			t.Fatalf("round %d: journal mode %q, %d rows, schema version %d; want wal, %d, 1", round, mode, rows, version, handles)
		}
	}
}

// TestOpenNewerSchema: a database whose schema is newer than the caller
// knows is refused, and left as it is.
func TestOpenNewerSchema(t *testing.T) {
	file := filepath.Join(t.TempDir(), "x.db")
	db, err := Open(file, 0o600, testSchema, 3)
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	if db, err := Open(file, 0o600, testSchema, 2); err == nil {
		db.Close()
		t.Fatal("Open of a schema version 3 database by version 2 succeeded")
	}
	db, err = Open(file, 0o600, testSchema, 3)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var version int
	if err := db.QueryRow("PRAGMA user_version").Scan(&version); err != nil || version != 3 {
		t.Errorf("schema version after the refusal: %d, %v; want 3", version, err)
	}
}
