package pgstate

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/modmirror/modmirror/access"
)

// Tokens are client tokens in the database, an access.TokenStore: what
// "modmirror token --tokens-db postgres://..." changes, every replica sees.
type Tokens struct{ db *DB }

var _ access.TokenStore = (*Tokens)(nil)

// String implements access.TokenStore.
func (t *Tokens) String() string { return t.db.String() }

// Close does nothing: the tokens are closed with their DB.
func (t *Tokens) Close() error { return nil }

// Ping implements modmirror.Pinger.
func (t *Tokens) Ping(ctx context.Context) error { return t.db.Ping(ctx) }

const tokenColumns = "id, name, allow, audit, created, revoked, last_used"

// Create implements access.TokenStore.
func (t *Tokens) Create(ctx context.Context, name, allow string, audit bool) (access.Token, string, error) {
	for range 5 { // a new id could collide with one of the 2^48
		tok, secret, h, err := access.NewToken(name, allow, audit)
		if err != nil {
			return access.Token{}, "", err
		}
		_, err = t.db.pool.Exec(ctx, "INSERT INTO mirror_tokens (id, hash, name, allow, audit, created) VALUES ($1, $2, $3, $4, $5, $6)",
			tok.ID, h[:], tok.Name, tok.Allow, tok.Audit, tok.Created)
		var pe *pgconn.PgError
		switch {
		case err == nil:
			return tok, secret, nil
		case errors.As(err, &pe) && pe.Code == "23505": // unique_violation
			continue
		}
		return access.Token{}, "", t.db.fail(err)
	}
	return access.Token{}, "", errors.New("pgstate: could not make a token with a new id")
}

// Lookup implements access.Tokens.
func (t *Tokens) Lookup(ctx context.Context, h access.Hash) (access.Token, error) {
	tok, err := scanToken(t.db.pool.QueryRow(ctx, "SELECT "+tokenColumns+" FROM mirror_tokens WHERE hash = $1", h[:]))
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return access.Token{}, access.ErrUnknownToken
	case err != nil:
		return access.Token{}, t.db.fail(err)
	}
	return tok, nil
}

// List implements access.TokenStore.
func (t *Tokens) List(ctx context.Context) ([]access.Token, error) {
	rows, err := t.db.pool.Query(ctx, "SELECT "+tokenColumns+" FROM mirror_tokens ORDER BY seq")
	if err != nil {
		return nil, t.db.fail(err)
	}
	defer rows.Close()
	var out []access.Token
	for rows.Next() {
		tok, err := scanToken(rows)
		if err != nil {
			return nil, t.db.fail(err)
		}
		out = append(out, tok)
	}
	if err := rows.Err(); err != nil {
		return nil, t.db.fail(err)
	}
	return out, nil
}

// Revoke implements access.TokenStore.
func (t *Tokens) Revoke(ctx context.Context, id string) (access.Token, error) {
	now := time.Now().UTC().Truncate(time.Second)
	tok, err := scanToken(t.db.pool.QueryRow(ctx, `UPDATE mirror_tokens SET revoked = COALESCE(revoked, $2)
		WHERE id = $1 RETURNING `+tokenColumns, id, now))
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return access.Token{}, access.UnknownID(id)
	case err != nil:
		return access.Token{}, t.db.fail(err)
	}
	return tok, nil
}

func scanToken(row pgx.Row) (access.Token, error) {
	var tok access.Token
	var revoked, lastUsed *time.Time
	if err := row.Scan(&tok.ID, &tok.Name, &tok.Allow, &tok.Audit, &tok.Created, &revoked, &lastUsed); err != nil {
		return access.Token{}, err
	}
	tok.Created = tok.Created.UTC()
	if revoked != nil {
		tok.Revoked = revoked.UTC()
	}
	if lastUsed != nil {
		tok.LastUsed = lastUsed.UTC()
	}
	return tok, nil
}

// Used implements access.TokenStore, in one batch.
func (t *Tokens) Used(ctx context.Context, uses map[string]time.Time) error {
	if len(uses) == 0 {
		return nil
	}
	b := new(pgx.Batch)
	for id, at := range uses {
		b.Queue(`UPDATE mirror_tokens SET last_used = $2 WHERE id = $1 AND (last_used IS NULL OR last_used < $2)`, id, at.UTC().Truncate(time.Second))
	}
	if err := t.db.pool.SendBatch(ctx, b).Close(); err != nil {
		return t.db.fail(err)
	}
	return nil
}
