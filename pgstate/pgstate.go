// Package pgstate keeps in PostgreSQL what the replicas of a mirror share,
// besides the module files (in the store) and the own checksum database
// (package sumlog/postgres):
//
//   - client tokens ([Tokens], an access.TokenStore): a token made or
//     revoked on one replica is seen by every other within the token cache's
//     two seconds;
//   - the latest verified tree head of each checksum database the mirror
//     verifies against ([Heads], a checksum.HeadStore), replaced only by
//     compare-and-swap with a verified successor, so every replica refuses a
//     fork that any of them has seen;
//   - fill locks ([Locks], a mirror.Locker): PostgreSQL advisory locks, one
//     per file being filled, so that of the replicas that miss the same
//     file at once, one fetches it from the upstream and the others read
//     what it stored.
//
// The tables are named mirror_*, so the database may also hold the own
// checksum database's tables.
package pgstate

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/modmirror/modmirror/internal/pgerr"
)

// schemaVersion is stored in mirror_state_schema.
const schemaVersion = 1

// schemaLock is the key of the advisory lock held while creating the
// schema: concurrent CREATE TABLE IF NOT EXISTS can fail in PostgreSQL.
const schemaLock = 0x6d6d73746174652d // "mmstate-"

const schema = `
CREATE TABLE IF NOT EXISTS mirror_tokens (
	id      text PRIMARY KEY,
	hash    bytea NOT NULL UNIQUE,
	name    text NOT NULL,
	allow   text NOT NULL,
	audit   boolean NOT NULL DEFAULT false,
	created timestamptz NOT NULL,
	revoked timestamptz,
	seq     bigserial
);
ALTER TABLE mirror_tokens ADD COLUMN IF NOT EXISTS last_used timestamptz;
CREATE TABLE IF NOT EXISTS mirror_sumdb_heads (
	name text PRIMARY KEY,
	head bytea NOT NULL
);
CREATE TABLE IF NOT EXISTS mirror_state_schema (
	one     integer PRIMARY KEY CHECK (one = 1),
	version integer NOT NULL
);
`

// DB is a PostgreSQL database of shared state. It is safe for concurrent
// use.
type DB struct {
	pool *pgxpool.Pool
	name string // host and database, for messages

	// lockSlots bounds the connections fill locks hold, waiting or
	// granted, to leave some for the short queries a fill makes while it
	// holds its lock (the verified tree head): with every connection held
	// by a lock, those would wait for one until the fills' time ran out.
	lockSlots chan struct{}
}

// reservedConns is how many of the pool's connections fill locks leave to
// other queries: a quarter, and at least 4.
func reservedConns(maxConns int32) int32 { return max(4, maxConns/4) }

// Open connects to the database at url (postgres://...) and creates the
// tables if they do not exist. Connections carry TCP keepalives that
// PostgreSQL applies too, so that a replica whose machine vanishes while it
// holds a fill lock loses it within about half a minute.
func Open(ctx context.Context, url string) (*DB, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("pgstate: %w", err) // pgx redacts the password
	}
	for k, v := range map[string]string{"tcp_keepalives_idle": "10", "tcp_keepalives_interval": "5", "tcp_keepalives_count": "3"} {
		if _, ok := cfg.ConnConfig.RuntimeParams[k]; !ok {
			cfg.ConnConfig.RuntimeParams[k] = v
		}
	}
	if cfg.MaxConns < 32 {
		// A fill lock holds a connection for as long as its fill.
		cfg.MaxConns = 32
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("pgstate: %w", err)
	}
	db := &DB{pool: pool, name: cfg.ConnConfig.Host + "/" + cfg.ConnConfig.Database,
		lockSlots: make(chan struct{}, cfg.MaxConns-reservedConns(cfg.MaxConns))}
	if err := db.createSchema(ctx); err != nil {
		pool.Close()
		return nil, err
	}
	return db, nil
}

func (db *DB) createSchema(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	return pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", int64(schemaLock)); err != nil {
			return db.fail(err)
		}
		if _, err := tx.Exec(ctx, schema); err != nil {
			return fmt.Errorf("pgstate: creating the schema: %w", err)
		}
		var v int
		err := tx.QueryRow(ctx, `INSERT INTO mirror_state_schema (one, version) VALUES (1, $1)
			ON CONFLICT (one) DO UPDATE SET version = mirror_state_schema.version RETURNING version`, schemaVersion).Scan(&v)
		if err != nil {
			return db.fail(err)
		}
		if v != schemaVersion {
			return fmt.Errorf("pgstate: database has schema version %d; this modmirror knows version %d", v, schemaVersion)
		}
		return nil
	})
}

// String names the database: host and database name, no credentials.
func (db *DB) String() string { return "postgres " + db.name }

// Close closes the connections, after the locks still held are released.
func (db *DB) Close() error {
	db.pool.Close()
	return nil
}

// Ping implements modmirror.Pinger.
func (db *DB) Ping(ctx context.Context) error {
	if err := db.pool.Ping(ctx); err != nil {
		return db.fail(err)
	}
	return nil
}

// fail returns an error of the database as one matching
// modmirror.ErrUnavailable when the database cannot be reached.
func (db *DB) fail(err error) error {
	return pgerr.Wrap("shared database", "pgstate: "+db.name, err)
}

// Tokens returns the database's tokens, as an access.TokenStore.
func (db *DB) Tokens() *Tokens { return &Tokens{db: db} }

// Heads returns the database's verified tree heads, as a
// checksum.HeadStore.
func (db *DB) Heads() *Heads { return &Heads{db: db} }

// Locks returns the database's fill locks, as a mirror.Locker.
func (db *DB) Locks() *Locks { return &Locks{db: db} }
