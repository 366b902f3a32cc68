// Package sqlite keeps modmirror's checksum database log in an SQLite
// database file, the embedded default.
//
// # Why SQLite
//
// The log needs transactions (records, hashes and head of one append
// become durable together, or not at all), a unique index (one record per
// module version, enforced by the database, not by hope), and a single file
// that an operator can back up, copy and inspect with the sqlite3 shell.
// SQLite in WAL mode with synchronous=FULL gives all three, with one fsync
// per committed batch; readers never block the writer. The driver is
// modernc.org/sqlite, a translation of SQLite's C source to Go, so the
// binary needs no cgo. The schema is plain SQL that PostgreSQL runs too.
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strings"

	"golang.org/x/mod/sumdb/tlog"
	msqlite "modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/modmirror/modmirror"
	"github.com/modmirror/modmirror/internal/sqlitedb"
	"github.com/modmirror/modmirror/sumlog"
)

// Storage is a sumlog.Storage in one SQLite database file. It is safe for
// concurrent use, also by several processes on one machine.
type Storage struct {
	db   *sql.DB
	file string

	// The statements of the read paths, prepared once: database/sql then
	// prepares each once per connection instead of once per call.
	lookup, records, hashRange *sql.Stmt
}

var _ sumlog.Storage = (*Storage)(nil)

// schemaVersion is stored in PRAGMA user_version.
const schemaVersion = 1

const schema = `
CREATE TABLE IF NOT EXISTS records (
	id      INTEGER PRIMARY KEY,
	path    TEXT NOT NULL,
	version TEXT NOT NULL,
	data    BLOB NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS records_module_version ON records (path, version);
CREATE TABLE IF NOT EXISTS hashes (
	idx  INTEGER PRIMARY KEY,
	hash BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS head (
	one    INTEGER PRIMARY KEY CHECK (one = 1),
	size   INTEGER NOT NULL,
	signed BLOB NOT NULL
);
`

// Open opens the log database in file, creating it (and its directory)
// if it does not exist.
func Open(file string) (*Storage, error) {
	db, err := sqlitedb.Open(file, 0o644, schema, schemaVersion)
	if err != nil {
		return nil, fmt.Errorf("sqlite: %w", err)
	}
	// A fixed pool: by default database/sql opens a connection for every
	// concurrent query and keeps only 2 idle, so under load connections
	// are opened and closed all the time, and each one opens two files,
	// runs the pragmas, parses the schema and has a page cache of its own
	// (up to 2 MB). No method holds a connection while it asks for
	// another, so a bounded pool cannot deadlock.
	conns := max(4, 4*runtime.GOMAXPROCS(0))
	db.SetMaxOpenConns(conns)
	db.SetMaxIdleConns(conns)
	s := &Storage{db: db, file: file}
	for _, p := range []struct {
		stmt  **sql.Stmt
		query string
	}{
		{&s.lookup, "SELECT id FROM records WHERE path = ? AND version = ?"},
		{&s.records, "SELECT id, data FROM records WHERE id >= ? AND id < ? ORDER BY id"},
		{&s.hashRange, "SELECT idx, hash FROM hashes WHERE idx BETWEEN ? AND ?"},
	} {
		if *p.stmt, err = db.Prepare(p.query); err != nil {
			db.Close()
			return nil, fmt.Errorf("sqlite: %s: %w", file, err)
		}
	}
	return s, nil
}

// Close implements sumlog.Storage.
func (s *Storage) Close() error { return s.db.Close() }

// Head implements sumlog.Storage.
func (s *Storage) Head(ctx context.Context) (sumlog.Head, error) {
	var h sumlog.Head
	err := s.db.QueryRowContext(ctx, "SELECT size, signed FROM head WHERE one = 1").Scan(&h.Size, &h.Signed)
	if errors.Is(err, sql.ErrNoRows) {
		return sumlog.Head{}, nil
	}
	if err != nil {
		return sumlog.Head{}, fmt.Errorf("sqlite: %w", err)
	}
	return h, nil
}

// ReadRecords implements sumlog.Storage.
func (s *Storage) ReadRecords(ctx context.Context, id, n int64) ([][]byte, error) {
	rows, err := s.records.QueryContext(ctx, id, id+n)
	if err != nil {
		return nil, fmt.Errorf("sqlite: %w", err)
	}
	defer rows.Close()
	out := make([][]byte, 0, n)
	for rows.Next() {
		var rid int64
		var data []byte
		if err := rows.Scan(&rid, &data); err != nil {
			return nil, fmt.Errorf("sqlite: %w", err)
		}
		if rid != id+int64(len(out)) {
			break
		}
		out = append(out, data)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: %w", err)
	}
	if int64(len(out)) != n {
		return nil, sumlog.RecordsNotExist(id, n)
	}
	return out, nil
}

// Lookup implements sumlog.Storage.
func (s *Storage) Lookup(ctx context.Context, path, version string) (int64, error) {
	var id int64
	err := s.lookup.QueryRowContext(ctx, path, version).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, sumlog.VersionNotExist(path, version)
	}
	if err != nil {
		return 0, fmt.Errorf("sqlite: %w", err)
	}
	return id, nil
}

// maxVars bounds the parameters of one query; SQLite allows 32766.
const maxVars = 1000

// ReadHashes implements sumlog.Storage.
func (s *Storage) ReadHashes(ctx context.Context, indexes []int64) ([]tlog.Hash, error) {
	found := make(map[int64]tlog.Hash, len(indexes))
	sorted := slices.Clone(indexes)
	slices.Sort(sorted)
	sorted = slices.Compact(sorted)
	for len(sorted) > 0 {
		chunk := sorted[:min(len(sorted), maxVars)]
		sorted = sorted[len(chunk):]
		var rows *sql.Rows
		var err error
		if chunk[len(chunk)-1]-chunk[0] == int64(len(chunk)-1) {
			rows, err = s.hashRange.QueryContext(ctx, chunk[0], chunk[len(chunk)-1])
		} else {
			args := make([]any, 0, len(chunk))
			for _, x := range chunk {
				args = append(args, x)
			}
			rows, err = s.db.QueryContext(ctx, "SELECT idx, hash FROM hashes WHERE idx IN (?"+strings.Repeat(",?", len(chunk)-1)+")", args...)
		}
		if err != nil {
			return nil, fmt.Errorf("sqlite: %w", err)
		}
		if err := scanHashes(rows, found); err != nil {
			return nil, err
		}
	}
	return sumlog.HashesInOrder(indexes, found)
}

// scanHashes reads rows of (idx, hash) into found, and closes rows.
func scanHashes(rows *sql.Rows, found map[int64]tlog.Hash) error {
	defer rows.Close()
	for rows.Next() {
		var idx int64
		var raw []byte
		if err := rows.Scan(&idx, &raw); err != nil {
			return fmt.Errorf("sqlite: %w", err)
		}
		var h tlog.Hash
		if len(raw) != len(h) {
			return fmt.Errorf("sqlite: stored hash %d has %d bytes", idx, len(raw))
		}
		copy(h[:], raw)
		found[idx] = h
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("sqlite: %w", err)
	}
	return nil
}

// Append implements sumlog.Storage: one transaction, one sync at commit.
func (s *Storage) Append(ctx context.Context, oldSize int64, recs []sumlog.Record, hashes []tlog.Hash, head sumlog.Head) (err error) {
	if head.Size != oldSize+int64(len(recs)) {
		return fmt.Errorf("sqlite: head of %d records after appending %d to %d", head.Size, len(recs), oldSize)
	}
	if want := tlog.StoredHashCount(head.Size) - tlog.StoredHashCount(oldSize); int64(len(hashes)) != want {
		return fmt.Errorf("sqlite: %d hashes for %d records after %d, want %d", len(hashes), len(recs), oldSize, want)
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sqlite: %w", err)
	}
	defer func() {
		if err != nil {
			tx.Rollback()
		}
	}()
	var size int64
	err = tx.QueryRowContext(ctx, "SELECT size FROM head WHERE one = 1").Scan(&size)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("sqlite: %w", err)
	}
	if size != oldSize || (errors.Is(err, sql.ErrNoRows) && oldSize != 0) {
		return fmt.Errorf("%w: the log has %d records, not %d", sumlog.ErrConflict, size, oldSize)
	}
	if err := insertMany(ctx, tx, "records (id, path, version, data)", 4, len(recs), func(i int, args []any) []any {
		r := recs[i]
		return append(args, oldSize+int64(i), r.Path, r.Version, r.Data)
	}); err != nil {
		return err
	}
	first := tlog.StoredHashCount(oldSize)
	if err := insertMany(ctx, tx, "hashes (idx, hash)", 2, len(hashes), func(i int, args []any) []any {
		return append(args, first+int64(i), hashes[i][:])
	}); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO head (one, size, signed) VALUES (1, ?, ?)
		ON CONFLICT (one) DO UPDATE SET size = excluded.size, signed = excluded.signed`, head.Size, head.Signed); err != nil {
		return fmt.Errorf("sqlite: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("sqlite: commit: %w", err)
	}
	return nil
}

// insertMany inserts n rows of cols columns into table, many rows per
// statement. A unique constraint violation is an ErrConflict.
func insertMany(ctx context.Context, tx *sql.Tx, table string, cols, n int, row func(i int, args []any) []any) error {
	perStmt := maxVars / cols
	one := "(?" + strings.Repeat(",?", cols-1) + ")"
	for start := 0; start < n; start += perStmt {
		end := min(n, start+perStmt)
		args := make([]any, 0, (end-start)*cols)
		for i := start; i < end; i++ {
			args = row(i, args)
		}
		query := "INSERT INTO " + table + " VALUES " + one + strings.Repeat(","+one, end-start-1)
		if _, err := tx.ExecContext(ctx, query, args...); err != nil {
			var se *msqlite.Error
			if errors.As(err, &se) && (se.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE || se.Code() == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY) {
				return fmt.Errorf("%w: %v", sumlog.ErrConflict, err)
			}
			return fmt.Errorf("sqlite: %w", err)
		}
	}
	return nil
}

// Ping implements modmirror.Pinger.
func (s *Storage) Ping(ctx context.Context) error {
	if err := s.db.PingContext(ctx); err != nil {
		return modmirror.Unavailable("checksum database storage", err)
	}
	return nil
}
