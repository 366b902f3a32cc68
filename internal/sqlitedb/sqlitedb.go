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
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"

	_ "modernc.org/sqlite" // the "sqlite" driver
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
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "synchronous(FULL)")
	q.Add("_pragma", "busy_timeout(10000)")
	q.Set("_txlock", "immediate")
	db, err := sql.Open("sqlite", "file:"+(&url.URL{Path: file}).EscapedPath()+"?"+q.Encode())
	if err != nil {
		return nil, err
	}
	if err := initSchema(db, file, schema, version, upgrades); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
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
