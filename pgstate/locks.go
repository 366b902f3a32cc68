package pgstate

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/modmirror/modmirror/internal/pgerr"
	"github.com/modmirror/modmirror/mirror"
)

// Locks are fill locks across replicas, a mirror.Locker: a session-level
// advisory lock per key, held on a connection of its own for as long as
// the fill, so that it is released when the holder unlocks, or when its
// connection ends because the process died (at once) or its machine
// vanished (within the TCP keepalive time, about half a minute).
type Locks struct{ db *DB }

var _ mirror.Locker = (*Locks)(nil)

// lockKey maps a key to the 64-bit number of its advisory lock. The
// namespace keeps it apart from the schema lock and from other programs'
// locks; collisions between keys only make two fills wait for each other.
func lockKey(key string) int64 {
	h := sha256.Sum256([]byte("modmirror fill lock\x00" + key))
	return int64(binary.BigEndian.Uint64(h[:8]))
}

// Lock implements mirror.Locker. It waits for the lock until ctx ends.
// A connection that turns out to be broken (the server restarted since it
// was last used) means the pool's others are too: they are all dropped,
// and the lock is asked for on a fresh one. Locks, granted or waited for,
// hold at most the pool's connections less reservedConns; a holder must
// not ask for a second lock while it holds one, or holders could wait for
// each other's slots.
func (l *Locks) Lock(ctx context.Context, key string) (unlock func(), err error) {
	select {
	case l.db.lockSlots <- struct{}{}:
	case <-ctx.Done():
		return nil, fmt.Errorf("pgstate: waiting for the fill lock of %s: %w", key, ctx.Err())
	}
	free, err := l.lock(ctx, key)
	if err != nil {
		<-l.db.lockSlots
		return nil, err
	}
	return func() {
		free()
		<-l.db.lockSlots
	}, nil
}

// lock takes the advisory lock of key on a connection of its own.
func (l *Locks) lock(ctx context.Context, key string) (unlock func(), err error) {
	k := lockKey(key)
	for attempt := 0; ; attempt++ {
		conn, err := l.db.pool.Acquire(ctx)
		if err != nil {
			return nil, l.db.fail(err)
		}
		_, err = conn.Exec(ctx, "SELECT pg_advisory_lock($1)", k)
		if err == nil {
			return func() { release(conn, k) }, nil
		}
		// A wait cut short by ctx may leave the lock granted on the
		// server: drop the connection, and any lock with it.
		conn.Conn().Close(context.Background())
		conn.Release()
		switch {
		case ctx.Err() != nil:
			return nil, fmt.Errorf("pgstate: waiting for the fill lock of %s: %w", key, ctx.Err())
		case attempt == 0 && pgerr.Broken(err):
			l.db.pool.Reset()
			continue
		}
		return nil, l.db.fail(err)
	}
}

// release unlocks k on the connection that holds it and returns the
// connection to the pool, or closes it, which ends its session and so
// releases the lock anyway.
func release(conn *pgxpool.Conn, k int64) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var released bool
	if err := conn.QueryRow(ctx, "SELECT pg_advisory_unlock($1)", k).Scan(&released); err != nil || !released {
		conn.Conn().Close(ctx)
	}
	conn.Release()
}
