// Package sqlcatalog keeps a catalog.Storage in SQL: an SQLite file (the
// default, in the data directory) or a PostgreSQL database (shared by
// replicas). Both run the same statements through database/sql; they
// differ only in how parameters are written and in the name of the
// two-argument minimum. Times are stored as Unix nanoseconds (UTC), which
// both compare and sort alike.
package sqlcatalog

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	"golang.org/x/mod/module"
	"golang.org/x/mod/semver"

	"github.com/modmirror/modmirror"
	"github.com/modmirror/modmirror/catalog"
	"github.com/modmirror/modmirror/internal/pgerr"
	"github.com/modmirror/modmirror/internal/sqlitedb"
)

const schema = `
CREATE TABLE IF NOT EXISTS catalog_versions (
	path         TEXT NOT NULL,
	version      TEXT NOT NULL,
	first_stored BIGINT NOT NULL,
	source       TEXT NOT NULL,
	info_size    BIGINT NOT NULL DEFAULT 0,
	mod_size     BIGINT NOT NULL DEFAULT 0,
	zip_size     BIGINT NOT NULL DEFAULT 0,
	last_served  BIGINT NOT NULL DEFAULT 0,
	PRIMARY KEY (path, version)
);
CREATE INDEX IF NOT EXISTS catalog_versions_stored ON catalog_versions (first_stored, path, version);
CREATE INDEX IF NOT EXISTS catalog_versions_served ON catalog_versions (last_served, first_stored);
CREATE TABLE IF NOT EXISTS catalog_seen (
	path       TEXT NOT NULL,
	version    TEXT NOT NULL,
	first_seen BIGINT NOT NULL,
	PRIMARY KEY (path, version)
);
`

// schemaVersion is SQLite's PRAGMA user_version, and PostgreSQL's row in
// catalog_schema.
const schemaVersion = 1

// Storage is a catalog.Storage in SQL.
type Storage struct {
	db    *sql.DB
	name  string // for messages: the file, or host/database
	least string // the two-argument minimum: min (SQLite), LEAST (PostgreSQL)
	dolla bool   // parameters are $1, $2... (PostgreSQL), else ?
	pg    bool

	// upsertOne (SQLite) records one version: prepared once, as parsing
	// the statement cost more than running it.
	upsertOne *sql.Stmt
}

var _ catalog.Storage = (*Storage)(nil)

// OpenSQLite opens (creating it) the catalog in an SQLite file.
func OpenSQLite(file string) (*Storage, error) {
	db, err := sqlitedb.Open(file, 0o600, schema, schemaVersion)
	if err != nil {
		return nil, fmt.Errorf("catalog: %w", err)
	}
	// One writer at a time: SQLite serialises them anyway, and a pool
	// of one connection keeps batches from waiting on each other's locks.
	s := &Storage{db: db, name: file, least: "min"}
	if s.upsertOne, err = db.Prepare(s.q(fmt.Sprintf(upsert, "VALUES (?, ?, ?, ?, ?, ?, ?)"))); err != nil {
		db.Close()
		return nil, fmt.Errorf("catalog: %s: %w", file, err)
	}
	return s, nil
}

// OpenPostgres opens the catalog in the PostgreSQL database at url,
// creating its tables if they do not exist.
func OpenPostgres(ctx context.Context, url string) (*Storage, error) {
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("catalog: %w", err) // pgx redacts the password
	}
	db := stdlib.OpenDB(*cfg)
	s := &Storage{db: db, name: cfg.Host + "/" + cfg.Database, least: "LEAST", dolla: true, pg: true}
	if err := s.createPostgres(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return s, nil
}

// schemaLock keys the advisory lock held while replicas create the tables.
const schemaLock = 0x6d6d636174616c67 // "mmcatalg"

func (s *Storage) createPostgres(ctx context.Context) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return s.fail(err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, "SELECT pg_advisory_xact_lock($1)", int64(schemaLock)); err != nil {
		return s.fail(err)
	}
	if _, err := tx.ExecContext(ctx, schema+`CREATE TABLE IF NOT EXISTS catalog_schema (one INTEGER PRIMARY KEY CHECK (one = 1), version INTEGER NOT NULL);`); err != nil {
		return s.fail(err)
	}
	var v int
	err = tx.QueryRowContext(ctx, `INSERT INTO catalog_schema (one, version) VALUES (1, $1)
		ON CONFLICT (one) DO UPDATE SET version = catalog_schema.version RETURNING version`, schemaVersion).Scan(&v)
	if err != nil {
		return s.fail(err)
	}
	if v != schemaVersion {
		return fmt.Errorf("catalog: %s has schema version %d; this modmirror knows version %d", s.name, v, schemaVersion)
	}
	return s.fail(tx.Commit())
}

// fail returns err (nil for nil) as an error of the catalog's database:
// one matching modmirror.ErrUnavailable when PostgreSQL cannot be reached.
func (s *Storage) fail(err error) error {
	if err == nil {
		return nil
	}
	if s.pg {
		return pgerr.Wrap("catalog", "catalog: "+s.name, err)
	}
	return fmt.Errorf("catalog: %s: %w", s.name, err)
}

// q rewrites the ? parameters of a statement for the database.
func (s *Storage) q(stmt string) string {
	stmt = strings.ReplaceAll(stmt, "LEAST(", s.least+"(")
	if !s.dolla {
		return stmt
	}
	var b strings.Builder
	n := 0
	for _, r := range stmt {
		if r == '?' {
			n++
			b.WriteString("$" + strconv.Itoa(n))
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

const columns = "path, version, first_stored, source, info_size, mod_size, zip_size, last_served"

// A row is what Stored writes of one version: its files of a batch
// together.
type row struct {
	path, version string
	first         int64
	source        string
	sizes         [3]int64 // info, mod, zip
}

// rows gathers files into one row per version, in the order first seen.
func rows(files []catalog.File) ([]*row, error) {
	var out []*row
	by := make(map[[2]string]*row)
	for _, f := range files {
		i := slices.Index([]string{modmirror.ExtInfo, modmirror.ExtMod, modmirror.ExtZip}, f.Ext)
		if i < 0 {
			return nil, fmt.Errorf("catalog: %s@%s: no such file kind %q", f.Path, f.Version, f.Ext)
		}
		k := [2]string{f.Path, f.Version}
		r := by[k]
		if r == nil {
			r = &row{path: f.Path, version: f.Version, first: f.At.UnixNano(), source: f.Source}
			by[k] = r
			out = append(out, r)
		}
		r.first = min(r.first, f.At.UnixNano())
		r.sizes[i] = max(r.sizes[i], f.Size)
	}
	return out, nil
}

const upsert = `INSERT INTO catalog_versions (path, version, first_stored, source, info_size, mod_size, zip_size)
	%s
	ON CONFLICT (path, version) DO UPDATE SET
		first_stored = LEAST(catalog_versions.first_stored, excluded.first_stored),
		info_size = CASE WHEN excluded.info_size > 0 THEN excluded.info_size ELSE catalog_versions.info_size END,
		mod_size = CASE WHEN excluded.mod_size > 0 THEN excluded.mod_size ELSE catalog_versions.mod_size END,
		zip_size = CASE WHEN excluded.zip_size > 0 THEN excluded.zip_size ELSE catalog_versions.zip_size END`

// Stored implements catalog.Storage, in one transaction: one statement
// for the whole batch in PostgreSQL (arrays unnested), one a version in
// SQLite, where statements cost no round trip.
func (s *Storage) Stored(ctx context.Context, files []catalog.File) error {
	rs, err := rows(files)
	if err != nil || len(rs) == 0 {
		return err
	}
	if s.pg {
		var paths, versions, sources []string
		var firsts, infos, mods, zips []int64
		for _, r := range rs {
			paths, versions, sources = append(paths, r.path), append(versions, r.version), append(sources, r.source)
			firsts, infos, mods, zips = append(firsts, r.first), append(infos, r.sizes[0]), append(mods, r.sizes[1]), append(zips, r.sizes[2])
		}
		_, err := s.db.ExecContext(ctx, s.q(fmt.Sprintf(upsert,
			"SELECT * FROM unnest(?::text[], ?::text[], ?::bigint[], ?::text[], ?::bigint[], ?::bigint[], ?::bigint[])")),
			paths, versions, firsts, sources, infos, mods, zips)
		return s.fail(err)
	}
	if len(rs) == 1 { // one statement is its own transaction
		r := rs[0]
		_, err := s.upsertOne.ExecContext(ctx, r.path, r.version, r.first, r.source, r.sizes[0], r.sizes[1], r.sizes[2])
		return s.fail(err)
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return s.fail(err)
	}
	defer tx.Rollback()
	stmt := tx.StmtContext(ctx, s.upsertOne)
	for _, r := range rs {
		if _, err := stmt.ExecContext(ctx, r.path, r.version, r.first, r.source, r.sizes[0], r.sizes[1], r.sizes[2]); err != nil {
			return s.fail(err)
		}
	}
	return s.fail(tx.Commit())
}

// Served implements catalog.Storage, in one transaction.
func (s *Storage) Served(ctx context.Context, hits []catalog.Hit) error {
	if len(hits) == 0 {
		return nil
	}
	if s.pg {
		// One statement: the latest hit of each version, unnested.
		latest := make(map[[2]string]int64)
		for _, h := range hits {
			k := [2]string{h.Path, h.Version}
			latest[k] = max(latest[k], h.At.UnixNano())
		}
		var paths, versions []string
		var ats []int64
		for k, at := range latest {
			paths, versions, ats = append(paths, k[0]), append(versions, k[1]), append(ats, at)
		}
		_, err := s.db.ExecContext(ctx, `UPDATE catalog_versions AS c SET last_served = u.at
			FROM unnest($1::text[], $2::text[], $3::bigint[]) AS u(path, version, at)
			WHERE c.path = u.path AND c.version = u.version AND c.last_served < u.at`, paths, versions, ats)
		return s.fail(err)
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return s.fail(err)
	}
	defer tx.Rollback()
	stmt, err := tx.PrepareContext(ctx, s.q(`UPDATE catalog_versions SET last_served = ? WHERE path = ? AND version = ? AND last_served < ?`))
	if err != nil {
		return s.fail(err)
	}
	defer stmt.Close()
	for _, h := range hits {
		at := h.At.UnixNano()
		if _, err := stmt.ExecContext(ctx, at, h.Path, h.Version, at); err != nil {
			return s.fail(err)
		}
	}
	return s.fail(tx.Commit())
}

func scanVersion(row interface{ Scan(...any) error }) (catalog.Version, error) {
	var v catalog.Version
	var first, last int64
	if err := row.Scan(&v.Path, &v.Version, &first, &v.Source, &v.InfoSize, &v.ModSize, &v.ZipSize, &last); err != nil {
		return v, err
	}
	v.FirstStored = time.Unix(0, first).UTC()
	if last != 0 {
		v.LastServed = time.Unix(0, last).UTC()
	}
	return v, nil
}

func (s *Storage) versions(ctx context.Context, stmt string, args ...any) ([]catalog.Version, error) {
	rows, err := s.db.QueryContext(ctx, s.q(stmt), args...)
	if err != nil {
		return nil, s.fail(err)
	}
	defer rows.Close()
	var out []catalog.Version
	for rows.Next() {
		v, err := scanVersion(rows)
		if err != nil {
			return nil, s.fail(err)
		}
		out = append(out, v)
	}
	return out, s.fail(rows.Err())
}

// Version implements catalog.Storage.
func (s *Storage) Version(ctx context.Context, path, version string) (catalog.Version, error) {
	v, err := scanVersion(s.db.QueryRowContext(ctx, s.q("SELECT "+columns+" FROM catalog_versions WHERE path = ? AND version = ?"), path, version))
	if errors.Is(err, sql.ErrNoRows) {
		return v, &fs.PathError{Op: "catalog", Path: path + "@" + version, Err: fs.ErrNotExist}
	}
	return v, s.fail(err)
}

// Versions implements catalog.Storage.
func (s *Storage) Versions(ctx context.Context, path string) ([]catalog.Version, error) {
	vs, err := s.versions(ctx, "SELECT "+columns+" FROM catalog_versions WHERE path = ?", path)
	if err != nil {
		return nil, err
	}
	sortSemver(vs)
	return vs, nil
}

func sortSemver(vs []catalog.Version) {
	// Few versions per module: insertion order by semver, then text.
	for i := 1; i < len(vs); i++ {
		for j := i; j > 0 && less(vs[j], vs[j-1]); j-- {
			vs[j], vs[j-1] = vs[j-1], vs[j]
		}
	}
}

func less(a, b catalog.Version) bool {
	if c := semver.Compare(a.Version, b.Version); c != 0 {
		return c < 0
	}
	return a.Version < b.Version
}

// Since implements catalog.Storage.
func (s *Storage) Since(ctx context.Context, since time.Time, limit int) ([]catalog.Version, error) {
	return s.versions(ctx, "SELECT "+columns+" FROM catalog_versions WHERE first_stored >= ? ORDER BY first_stored, path, version LIMIT ?", since.UnixNano(), limit)
}

// Unused implements catalog.Storage.
func (s *Storage) Unused(ctx context.Context, before time.Time, limit int) ([]catalog.Version, error) {
	t := before.UnixNano()
	return s.versions(ctx, "SELECT "+columns+` FROM catalog_versions
		WHERE last_served < ? AND (last_served > 0 OR first_stored < ?)
		ORDER BY CASE WHEN last_served > 0 THEN last_served ELSE first_stored END, path, version LIMIT ?`, t, t, limit)
}

// Modules implements catalog.Storage.
func (s *Storage) Modules(ctx context.Context, after, match string, limit int) ([]catalog.Module, error) {
	stmt := `SELECT path, COUNT(*), SUM(info_size + mod_size + zip_size), MAX(first_stored)
		FROM catalog_versions WHERE path > ?`
	args := []any{after}
	if match != "" {
		stmt += " AND " + s.contains() + " > 0"
		args = append(args, match)
	}
	stmt += " GROUP BY path ORDER BY path LIMIT ?"
	args = append(args, limit)
	rows, err := s.db.QueryContext(ctx, s.q(stmt), args...)
	if err != nil {
		return nil, s.fail(err)
	}
	defer rows.Close()
	var out []catalog.Module
	for rows.Next() {
		var m catalog.Module
		var last int64
		if err := rows.Scan(&m.Path, &m.Versions, &m.Bytes, &last); err != nil {
			return nil, s.fail(err)
		}
		m.LastStored = time.Unix(0, last).UTC()
		out = append(out, m)
	}
	return out, s.fail(rows.Err())
}

// contains is the expression for "path contains the parameter", as a
// position (0 when absent), literal in both databases.
func (s *Storage) contains() string {
	if s.pg {
		return "strpos(path, ?)"
	}
	return "instr(path, ?)"
}

// Stats implements catalog.Storage.
func (s *Storage) Stats(ctx context.Context) (catalog.Stats, error) {
	var st catalog.Stats
	err := s.db.QueryRowContext(ctx, `SELECT COUNT(DISTINCT path), COUNT(*), COALESCE(SUM(info_size + mod_size + zip_size), 0) FROM catalog_versions`).
		Scan(&st.Modules, &st.Versions, &st.Bytes)
	return st, s.fail(err)
}

// Delete implements catalog.Storage, in one transaction.
func (s *Storage) Delete(ctx context.Context, versions []module.Version) error {
	if len(versions) == 0 {
		return nil
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return s.fail(err)
	}
	defer tx.Rollback()
	for _, m := range versions {
		if _, err := tx.ExecContext(ctx, s.q("DELETE FROM catalog_versions WHERE path = ? AND version = ?"), m.Path, m.Version); err != nil {
			return s.fail(err)
		}
	}
	return s.fail(tx.Commit())
}

// Ping implements catalog.Storage and modmirror.Pinger.
func (s *Storage) Ping(ctx context.Context) error {
	if err := s.db.PingContext(ctx); err != nil {
		if s.pg {
			return s.fail(err)
		}
		return modmirror.Unavailable("catalog", err)
	}
	return nil
}

// Close implements catalog.Storage.
func (s *Storage) Close() error {
	if s.upsertOne != nil {
		s.upsertOne.Close()
	}
	return s.db.Close()
}

// String describes the storage for logs.
func (s *Storage) String() string { return s.name }

// Seen implements catalog.Storage: versions never seen get at, and a
// version's time is the earlier of that and its first stored time.
func (s *Storage) Seen(ctx context.Context, path string, versions []string, at time.Time) ([]time.Time, error) {
	out := make([]time.Time, len(versions))
	if len(versions) == 0 {
		return out, nil
	}
	now := at.UnixNano()
	if s.pg {
		if _, err := s.db.ExecContext(ctx, `INSERT INTO catalog_seen (path, version, first_seen)
			SELECT $1, v, $3 FROM unnest($2::text[]) AS v ON CONFLICT (path, version) DO NOTHING`, path, versions, now); err != nil {
			return nil, s.fail(err)
		}
		rows, err := s.db.QueryContext(ctx, `SELECT u.v, LEAST(s.first_seen, COALESCE(c.first_stored, s.first_seen))
			FROM unnest($2::text[]) AS u(v)
			JOIN catalog_seen s ON s.path = $1 AND s.version = u.v
			LEFT JOIN catalog_versions c ON c.path = $1 AND c.version = u.v`, path, versions)
		if err != nil {
			return nil, s.fail(err)
		}
		defer rows.Close()
		times := make(map[string]int64, len(versions))
		for rows.Next() {
			var v string
			var t int64
			if err := rows.Scan(&v, &t); err != nil {
				return nil, s.fail(err)
			}
			times[v] = t
		}
		if err := rows.Err(); err != nil {
			return nil, s.fail(err)
		}
		for i, v := range versions {
			t, ok := times[v]
			if !ok {
				return nil, fmt.Errorf("catalog: %s: first-seen time of %s@%s missing after recording it", s.name, path, v)
			}
			out[i] = time.Unix(0, t).UTC()
		}
		return out, nil
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, s.fail(err)
	}
	defer tx.Rollback()
	ins, err := tx.PrepareContext(ctx, `INSERT INTO catalog_seen (path, version, first_seen) VALUES (?, ?, ?) ON CONFLICT (path, version) DO NOTHING`)
	if err != nil {
		return nil, s.fail(err)
	}
	defer ins.Close()
	sel, err := tx.PrepareContext(ctx, `SELECT min(s.first_seen, coalesce(c.first_stored, s.first_seen))
		FROM catalog_seen s LEFT JOIN catalog_versions c ON c.path = s.path AND c.version = s.version
		WHERE s.path = ? AND s.version = ?`)
	if err != nil {
		return nil, s.fail(err)
	}
	defer sel.Close()
	for i, v := range versions {
		if _, err := ins.ExecContext(ctx, path, v, now); err != nil {
			return nil, s.fail(err)
		}
		var t int64
		if err := sel.QueryRowContext(ctx, path, v).Scan(&t); err != nil {
			return nil, s.fail(err)
		}
		out[i] = time.Unix(0, t).UTC()
	}
	return out, s.fail(tx.Commit())
}
