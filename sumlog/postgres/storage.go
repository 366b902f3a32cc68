// Package postgres keeps modmirror's checksum database log in a
// PostgreSQL database, so that several mirror replicas can share one log.
//
// # Schema
//
// The tables are those of the SQLite storage: records(id, path, version,
// data) with a unique index on (path, version), hashes(idx, hash) keyed by
// tlog.StoredHashIndex, and a one-row head(size, signed), whose signed note
// is NULL until the first append. A one-row schema_version table holds
// the version of the schema; Open creates what is missing (IF NOT EXISTS,
// under an advisory lock so that replicas starting together do not race)
// and refuses a database of a later version.
//
// # Appends from several replicas
//
// An append is one READ COMMITTED transaction that first locks the head
// row (SELECT ... FOR UPDATE). Two replicas' appends therefore run one
// after the other; the second sees the head the first committed, finds
// that its size is not the one it read, and returns sumlog.ErrConflict
// with nothing written. A module version recorded already violates the
// unique index (SQLSTATE 23505), which is an ErrConflict too. Records and
// hashes go in with one INSERT each, from arrays (unnest), whatever the
// size of the batch.
//
// # Durability
//
// A committed append is durable when the server runs with fsync=on and
// synchronous_commit=on (or remote_write, remote_apply), PostgreSQL's
// defaults: the commit returns after its WAL is flushed to disk. With
// synchronous_commit=off a crash of the server may lose the last appends
// that the log already answered with; do not set it for this database.
package postgres

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/modmirror/modmirror"
	"github.com/modmirror/modmirror/internal/pgerr"
	"github.com/modmirror/modmirror/sumlog"
)

// Storage is a sumlog.Storage in a PostgreSQL database. It is safe for
// concurrent use, also by several processes on several machines.
type Storage struct {
	pool *pgxpool.Pool
}

var _ sumlog.Storage = (*Storage)(nil)

// schemaVersion is stored in the schema_version table.
const schemaVersion = 1

// schemaLock is the key of the advisory lock held while creating the
// schema: concurrent CREATE TABLE IF NOT EXISTS can fail in PostgreSQL.
const schemaLock = 0x6d6f646d6972726f // "modmirro"

const schema = `
CREATE TABLE IF NOT EXISTS records (
	id      bigint PRIMARY KEY,
	path    text NOT NULL,
	version text NOT NULL,
	data    bytea NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS records_module_version ON records (path, version);
CREATE TABLE IF NOT EXISTS hashes (
	idx  bigint PRIMARY KEY,
	hash bytea NOT NULL
);
CREATE TABLE IF NOT EXISTS head (
	one    integer PRIMARY KEY CHECK (one = 1),
	size   bigint NOT NULL,
	signed bytea
);
INSERT INTO head (one, size, signed) VALUES (1, 0, NULL) ON CONFLICT (one) DO NOTHING;
CREATE TABLE IF NOT EXISTS schema_version (
	one     integer PRIMARY KEY CHECK (one = 1),
	version integer NOT NULL
);
`

// Open connects to the PostgreSQL database at url (postgres://... or
// postgresql://..., as pgx parses it) and creates the log's tables if they
// do not exist.
func Open(ctx context.Context, url string) (*Storage, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		// pgx's parse errors redact the password.
		return nil, fail(err)
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fail(err)
	}
	if err := createSchema(ctx, pool); err != nil {
		pool.Close()
		return nil, err
	}
	return &Storage{pool: pool}, nil
}

// createSchema creates the tables and checks the schema version.
func createSchema(ctx context.Context, pool *pgxpool.Pool) error {
	return pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", int64(schemaLock)); err != nil {
			return fail(err)
		}
		if _, err := tx.Exec(ctx, schema); err != nil {
			return pgerr.Wrap(what, "postgres: creating the schema", err)
		}
		var v int
		err := tx.QueryRow(ctx, `INSERT INTO schema_version (one, version) VALUES (1, $1)
			ON CONFLICT (one) DO UPDATE SET version = schema_version.version RETURNING version`, schemaVersion).Scan(&v)
		if err != nil {
			return fail(err)
		}
		if v != schemaVersion {
			return fmt.Errorf("postgres: database has schema version %d; this modmirror knows version %d", v, schemaVersion)
		}
		return nil
	})
}

// Close implements sumlog.Storage.
func (s *Storage) Close() error {
	s.pool.Close()
	return nil
}

// Head implements sumlog.Storage.
func (s *Storage) Head(ctx context.Context) (sumlog.Head, error) {
	var h sumlog.Head
	err := s.pool.QueryRow(ctx, "SELECT size, signed FROM head WHERE one = 1").Scan(&h.Size, &h.Signed)
	if errors.Is(err, pgx.ErrNoRows) {
		return sumlog.Head{}, nil
	}
	if err != nil {
		return sumlog.Head{}, fail(err)
	}
	return h, nil
}

// ReadRecords implements sumlog.Storage.
func (s *Storage) ReadRecords(ctx context.Context, id, n int64) ([][]byte, error) {
	rows, err := s.pool.Query(ctx, "SELECT id, data FROM records WHERE id >= $1 AND id < $2 ORDER BY id", id, id+n)
	if err != nil {
		return nil, fail(err)
	}
	defer rows.Close()
	out := make([][]byte, 0, max(n, 0))
	for rows.Next() {
		var rid int64
		var data []byte
		if err := rows.Scan(&rid, &data); err != nil {
			return nil, fail(err)
		}
		if rid != id+int64(len(out)) {
			break
		}
		out = append(out, data)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fail(err)
	}
	if int64(len(out)) != n {
		return nil, sumlog.RecordsNotExist(id, n)
	}
	return out, nil
}

// Lookup implements sumlog.Storage.
func (s *Storage) Lookup(ctx context.Context, path, version string) (int64, error) {
	var id int64
	err := s.pool.QueryRow(ctx, "SELECT id FROM records WHERE path = $1 AND version = $2", path, version).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, sumlog.VersionNotExist(path, version)
	}
	if err != nil {
		return 0, fail(err)
	}
	return id, nil
}

// ReadHashes implements sumlog.Storage. One query, with the indexes as
// one array parameter, however many there are.
func (s *Storage) ReadHashes(ctx context.Context, indexes []int64) ([]tlog.Hash, error) {
	if len(indexes) == 0 {
		return []tlog.Hash{}, nil
	}
	sorted := slices.Clone(indexes)
	slices.Sort(sorted)
	sorted = slices.Compact(sorted)
	rows, err := s.pool.Query(ctx, "SELECT idx, hash FROM hashes WHERE idx = ANY($1::bigint[])", sorted)
	if err != nil {
		return nil, fail(err)
	}
	defer rows.Close()
	found := make(map[int64]tlog.Hash, len(sorted))
	for rows.Next() {
		var idx int64
		var raw []byte
		if err := rows.Scan(&idx, &raw); err != nil {
			return nil, fail(err)
		}
		var h tlog.Hash
		if len(raw) != len(h) {
			return nil, fmt.Errorf("postgres: stored hash %d has %d bytes", idx, len(raw))
		}
		copy(h[:], raw)
		found[idx] = h
	}
	if err := rows.Err(); err != nil {
		return nil, fail(err)
	}
	return sumlog.HashesInOrder(indexes, found)
}

// Append implements sumlog.Storage: one transaction that holds the lock
// of the head row from its first statement to its commit.
func (s *Storage) Append(ctx context.Context, oldSize int64, recs []sumlog.Record, hashes []tlog.Hash, head sumlog.Head) (err error) {
	if head.Size != oldSize+int64(len(recs)) {
		return fmt.Errorf("postgres: head of %d records after appending %d to %d", head.Size, len(recs), oldSize)
	}
	if want := tlog.StoredHashCount(head.Size) - tlog.StoredHashCount(oldSize); int64(len(hashes)) != want {
		return fmt.Errorf("postgres: %d hashes for %d records after %d, want %d", len(hashes), len(recs), oldSize, want)
	}
	tx, err := s.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.ReadCommitted})
	if err != nil {
		return fail(err)
	}
	defer func() {
		if err != nil {
			// A new context: the rollback must run also when ctx is
			// what ended the transaction. (pgx closes the connection
			// if it cannot roll back.)
			tx.Rollback(context.WithoutCancel(ctx))
		}
	}()
	var size int64
	if err := tx.QueryRow(ctx, "SELECT size FROM head WHERE one = 1 FOR UPDATE").Scan(&size); err != nil {
		return fail(err)
	}
	if size != oldSize {
		return fmt.Errorf("%w: the log has %d records, not %d", sumlog.ErrConflict, size, oldSize)
	}
	if len(recs) > 0 {
		ids := make([]int64, len(recs))
		paths := make([]string, len(recs))
		versions := make([]string, len(recs))
		data := make([][]byte, len(recs))
		for i, r := range recs {
			ids[i], paths[i], versions[i], data[i] = oldSize+int64(i), r.Path, r.Version, r.Data
		}
		if _, err := tx.Exec(ctx, `INSERT INTO records (id, path, version, data)
			SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::bytea[])`, ids, paths, versions, data); err != nil {
			return insertError(err)
		}
	}
	if len(hashes) > 0 {
		raw := make([][]byte, len(hashes))
		for i := range hashes {
			raw[i] = hashes[i][:]
		}
		if _, err := tx.Exec(ctx, `INSERT INTO hashes (idx, hash)
			SELECT $1::bigint + n - 1, h FROM unnest($2::bytea[]) WITH ORDINALITY AS t(h, n)`, tlog.StoredHashCount(oldSize), raw); err != nil {
			return insertError(err)
		}
	}
	if _, err := tx.Exec(ctx, "UPDATE head SET size = $1, signed = $2 WHERE one = 1", head.Size, head.Signed); err != nil {
		return fail(err)
	}
	if err := tx.Commit(ctx); err != nil {
		return pgerr.Wrap(what, "postgres: commit", err)
	}
	return nil
}

// insertError returns the error of an INSERT of an append: a unique
// violation is an ErrConflict.
func insertError(err error) error {
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.Code == "23505" {
		return fmt.Errorf("%w: %v", sumlog.ErrConflict, err)
	}
	return fail(err)
}

// Ping implements modmirror.Pinger.
func (s *Storage) Ping(ctx context.Context) error {
	if err := s.pool.Ping(ctx); err != nil {
		return modmirror.Unavailable(what, err)
	}
	return nil
}

// what names the storage in an ErrUnavailable.
const what = "checksum database storage"

// fail returns an error of the database: as one matching
// modmirror.ErrUnavailable when the server cannot be reached, so that
// clients are told to try again.
func fail(err error) error { return pgerr.Wrap(what, "postgres", err) }
