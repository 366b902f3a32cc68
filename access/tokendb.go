package access

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	msqlite "modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/modmirror/modmirror"
	"github.com/modmirror/modmirror/internal/sqlitedb"
)

// TokenDB keeps tokens in an SQLite database file (the mirror's
// <data>/tokens.db), in WAL mode with synchronous=FULL, as the mirror's own
// checksum database does: a token made or revoked is on disk when the call
// returns, the file is one thing to back up, and the "modmirror token"
// command can change it while mirrors read it. It is safe for concurrent
// use, also by several processes on one machine.
type TokenDB struct {
	db   *sql.DB
	file string
}

var _ TokenStore = (*TokenDB)(nil)

// tokenSchemaVersion is stored in PRAGMA user_version. Version 2 added
// audit, version 3 last_used.
const tokenSchemaVersion = 3

// Times are stored as RFC 3339 text in UTC, which sorts and reads well in
// the sqlite3 shell; revoked is NULL while a token is valid.
const tokenSchema = `
CREATE TABLE IF NOT EXISTS tokens (
	id      TEXT PRIMARY KEY,
	hash    BLOB NOT NULL UNIQUE,
	name    TEXT NOT NULL,
	allow   TEXT NOT NULL,
	created TEXT NOT NULL,
	revoked TEXT,
	audit   INTEGER NOT NULL DEFAULT 0,
	last_used TEXT
);
`

var tokenUpgrades = []sqlitedb.Upgrade{
	{From: 1, SQL: "ALTER TABLE tokens ADD COLUMN audit INTEGER NOT NULL DEFAULT 0"},
	{From: 2, SQL: "ALTER TABLE tokens ADD COLUMN last_used TEXT"},
}

// OpenTokenDB opens the token database in file, creating it (readable by
// its owner only) and its directory if they do not exist.
func OpenTokenDB(file string) (*TokenDB, error) {
	if err := os.MkdirAll(filepath.Dir(file), 0o700); err != nil {
		return nil, fmt.Errorf("access: %w", err)
	}
	db, err := sqlitedb.Open(file, 0o600, tokenSchema, tokenSchemaVersion, tokenUpgrades...)
	if err != nil {
		return nil, fmt.Errorf("access: %w", err)
	}
	return &TokenDB{db: db, file: file}, nil
}

// File returns the database's file name.
func (t *TokenDB) File() string { return t.file }

// String implements TokenStore.
func (t *TokenDB) String() string { return t.file }

// Ping implements modmirror.Pinger.
func (t *TokenDB) Ping(ctx context.Context) error {
	if err := t.db.PingContext(ctx); err != nil {
		return modmirror.Unavailable("tokens", err)
	}
	return nil
}

// Close closes the database.
func (t *TokenDB) Close() error { return t.db.Close() }

// Create implements TokenStore.
func (t *TokenDB) Create(ctx context.Context, name, allow string, audit bool) (Token, string, error) {
	// A new id could collide with one of the 2^48; try again then.
	for range 5 {
		tok, secret, h, err := NewToken(name, allow, audit)
		if err != nil {
			return Token{}, "", err
		}
		_, err = t.db.ExecContext(ctx, "INSERT INTO tokens (id, hash, name, allow, created, audit) VALUES (?, ?, ?, ?, ?, ?)",
			tok.ID, h[:], tok.Name, tok.Allow, formatTime(tok.Created), tok.Audit)
		if err == nil {
			return tok, secret, nil
		}
		var se *msqlite.Error
		if !errors.As(err, &se) || (se.Code() != sqlite3.SQLITE_CONSTRAINT_UNIQUE && se.Code() != sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY) {
			return Token{}, "", fmt.Errorf("access: %w", err)
		}
	}
	return Token{}, "", errors.New("access: could not make a token with a new id")
}

// Lookup implements Tokens.
func (t *TokenDB) Lookup(ctx context.Context, h Hash) (Token, error) {
	row := t.db.QueryRowContext(ctx, "SELECT "+tokenColumns+" FROM tokens WHERE hash = ?", h[:])
	tok, err := scanToken(row)
	if errors.Is(err, sql.ErrNoRows) {
		return Token{}, ErrUnknownToken
	}
	return tok, err
}

// List implements TokenStore.
func (t *TokenDB) List(ctx context.Context) ([]Token, error) {
	rows, err := t.db.QueryContext(ctx, "SELECT "+tokenColumns+" FROM tokens ORDER BY rowid")
	if err != nil {
		return nil, fmt.Errorf("access: %w", err)
	}
	defer rows.Close()
	var out []Token
	for rows.Next() {
		tok, err := scanToken(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, tok)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("access: %w", err)
	}
	return out, nil
}

// Revoke implements TokenStore.
func (t *TokenDB) Revoke(ctx context.Context, id string) (Token, error) {
	now := formatTime(time.Now().UTC().Truncate(time.Second))
	if _, err := t.db.ExecContext(ctx, "UPDATE tokens SET revoked = ? WHERE id = ? AND revoked IS NULL", now, id); err != nil {
		return Token{}, fmt.Errorf("access: %w", err)
	}
	tok, err := scanToken(t.db.QueryRowContext(ctx, "SELECT "+tokenColumns+" FROM tokens WHERE id = ?", id))
	if errors.Is(err, sql.ErrNoRows) {
		return Token{}, unknownID(id)
	}
	return tok, err
}

// tokenColumns are what scanToken reads.
const tokenColumns = "id, name, allow, created, revoked, audit, last_used"

func scanToken(row interface{ Scan(...any) error }) (Token, error) {
	var tok Token
	var created string
	var revoked, lastUsed sql.NullString
	if err := row.Scan(&tok.ID, &tok.Name, &tok.Allow, &created, &revoked, &tok.Audit, &lastUsed); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return Token{}, err
		}
		return Token{}, fmt.Errorf("access: %w", err)
	}
	var err error
	if tok.Created, err = time.Parse(time.RFC3339, created); err != nil {
		return Token{}, fmt.Errorf("access: token %s: created: %w", tok.ID, err)
	}
	if revoked.Valid {
		if tok.Revoked, err = time.Parse(time.RFC3339, revoked.String); err != nil {
			return Token{}, fmt.Errorf("access: token %s: revoked: %w", tok.ID, err)
		}
	}
	if lastUsed.Valid {
		if tok.LastUsed, err = time.Parse(time.RFC3339, lastUsed.String); err != nil {
			return Token{}, fmt.Errorf("access: token %s: last used: %w", tok.ID, err)
		}
	}
	return tok, nil
}

// Used implements TokenStore, in one transaction.
func (t *TokenDB) Used(ctx context.Context, uses map[string]time.Time) error {
	if len(uses) == 0 {
		return nil
	}
	tx, err := t.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("access: %w", err)
	}
	defer tx.Rollback()
	for id, at := range uses {
		when := formatTime(at)
		if _, err := tx.ExecContext(ctx, "UPDATE tokens SET last_used = ? WHERE id = ? AND (last_used IS NULL OR last_used < ?)", when, id, when); err != nil {
			return fmt.Errorf("access: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("access: %w", err)
	}
	return nil
}

func formatTime(t time.Time) string { return t.UTC().Format(time.RFC3339) }
