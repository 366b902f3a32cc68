// Package sqlitedb opens the SQLite databases modmirror keeps (the own
// checksum database's log, client tokens) in one way: WAL mode, so readers
// never block the writer; synchronous=FULL, so a committed transaction
// survives power loss; a busy timeout and immediate transactions, so
// writers queue instead of failing; and a schema version in
// PRAGMA user_version. The driver is modernc.org/sqlite: no cgo.
package sqlitedb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"time"

	msqlite "modernc.org/sqlite" // and the "sqlite" driver
	sqlite3 "modernc.org/sqlite/lib"
)

// An Upgrade changes a database of schema version From to From+1.
type Upgrade struct {
	From int
	SQL  string
}

// Open opens (creating it if needed, with mode perm and its directory)
// the database in file, refuses one whose schema is newer than version,
// runs the upgrades from the database's version on (none for a new
// database), and runs schema, which must be idempotent (CREATE ... IF NOT
// EXISTS) and create the tables of the latest version.
func Open(file string, perm fs.FileMode, schema string, version int, upgrades ...Upgrade) (*sql.DB, error) {
	if err := os.MkdirAll(filepath.Dir(file), 0o777); err != nil {
		return nil, err
	}
	// SQLite gives the -wal and -shm files the database file's mode.
	f, err := os.OpenFile(file, os.O_RDWR|os.O_CREATE, perm)
	if err != nil {
		return nil, err
	}
	f.Close()
	q := url.Values{}
	q.Add("_pragma", "synchronous(FULL)")
	q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", busyTimeout.Milliseconds()))
	q.Set("_txlock", "immediate")
	db, err := sql.Open("sqlite", "file:"+(&url.URL{Path: file}).EscapedPath()+"?"+q.Encode())
	if err != nil {
		return nil, err
	}
	if err := walMode(db, file); err != nil {
		db.Close()
		return nil, err
	}
	if err := initSchema(db, file, schema, version, upgrades); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

// busyTimeout is how long a statement waits for a lock another connection
// holds (the busy_timeout pragma), and walMode for WAL mode.
const busyTimeout = 10 * time.Second

// walMode puts the database in WAL mode, which the file keeps from then
// on. SQLite answers SQLITE_BUSY at once, without waiting as busy_timeout
// asks, when another connection is switching the same new database to WAL
// at the same moment (two replicas, or two stores of one process, starting
// together), so the switch is tried again until busyTimeout has passed.
func walMode(db *sql.DB, file string) error {
	deadline := time.Now().Add(busyTimeout)
	for {
		var mode string
		err := db.QueryRow("PRAGMA journal_mode(WAL)").Scan(&mode)
		var se *msqlite.Error
		switch {
		case err == nil && mode != "wal":
			return fmt.Errorf("%s: cannot use WAL mode (journal mode %q)", file, mode)
		case err == nil:
			return nil
		case !errors.As(err, &se) || se.Code()&0xff != sqlite3.SQLITE_BUSY || time.Now().After(deadline):
			return fmt.Errorf("%s: switching to WAL mode: %w", file, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func initSchema(db *sql.DB, file, schema string, version int, upgrades []Upgrade) error {
	ctx := context.Background()
	var have int
	if err := db.QueryRowContext(ctx, "PRAGMA user_version").Scan(&have); err != nil {
		return fmt.Errorf("%s: %w", file, err)
	}
	if have > version {
		return fmt.Errorf("%s has schema version %d; this modmirror knows up to %d", file, have, version)
	}
	for _, u := range upgrades {
		if have == 0 || u.From < have {
			continue // a new database gets the latest tables from schema
		}
		if _, err := db.ExecContext(ctx, u.SQL); err != nil {
			return fmt.Errorf("%s: upgrading the schema from version %d: %w", file, u.From, err)
		}
	}
	if _, err := db.ExecContext(ctx, schema); err != nil {
		return fmt.Errorf("%s: creating tables: %w", file, err)
	}
	if _, err := db.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", version)); err != nil {
		return fmt.Errorf("%s: %w", file, err)
	}
	return nil
}
