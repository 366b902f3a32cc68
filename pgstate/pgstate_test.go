package pgstate_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/modmirror/modmirror/access"
	"github.com/modmirror/modmirror/access/tokentest"
	"github.com/modmirror/modmirror/checksum/headstoretest"
	"github.com/modmirror/modmirror/internal/testpostgres"
	"github.com/modmirror/modmirror/pgstate"
)

func open(t *testing.T, url string) *pgstate.DB {
	t.Helper()
	db, err := pgstate.Open(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	return db
}

func TestTokens(t *testing.T) {
	t.Parallel()
	url := testpostgres.Database(t)
	tokentest.Run(t, func(t *testing.T) access.TokenStore {
		db := open(t, url)
		return closing{db.Tokens(), db}
	})
}

type closing struct {
	*pgstate.Tokens
	db *pgstate.DB
}

func (c closing) Close() error { return c.db.Close() }

func TestHeads(t *testing.T) {
	t.Parallel()
	db := open(t, testpostgres.Database(t))
	defer db.Close()
	headstoretest.Run(t, db.Heads())
}

// TestLocks checks that a fill lock is held by one replica at a time, and
// that a replica that dies holding it (its connections closed, as when its
// process is killed) loses it.
func TestLocks(t *testing.T) {
	t.Parallel()
	url := testpostgres.Database(t)
	a, b := open(t, url), open(t, url)
	defer b.Close()
	ctx := context.Background()

	var inside, most atomic.Int32
	var wg sync.WaitGroup
	for i := range 8 {
		db := a
		if i%2 == 1 {
			db = b
		}
		wg.Go(func() {
			unlock, err := db.Locks().Lock(ctx, "example.com/m/@v/v1.0.0.zip")
			if err != nil {
				t.Error(err)
				return
			}
			n := inside.Add(1)
			for {
				m := most.Load()
				if n <= m || most.CompareAndSwap(m, n) {
					break
				}
			}
			time.Sleep(5 * time.Millisecond)
			inside.Add(-1)
			unlock()
		})
	}
	wg.Wait()
	if most.Load() != 1 {
		t.Errorf("%d holders of one lock at once, want 1", most.Load())
	}

	// Other keys are not held up by a held one.
	unlock, err := a.Locks().Lock(ctx, "k1")
	if err != nil {
		t.Fatal(err)
	}
	short, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if u2, err := b.Locks().Lock(short, "k2"); err != nil {
		t.Errorf("another key while one is held: %v", err)
	} else {
		u2()
	}
	// The same key waits, until its context ends.
	short2, cancel2 := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel2()
	if _, err := b.Locks().Lock(short2, "k1"); err == nil {
		t.Errorf("the same key was granted twice")
	}
	// The holder dies: its sessions end (here by pg_terminate_backend, as
	// when its process is killed and the server sees the connection
	// close), and the lock is free.
	admin, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(ctx)
	if _, err := admin.Exec(ctx, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"); err != nil {
		t.Fatal(err)
	}
	short3, cancel3 := context.WithTimeout(ctx, 10*time.Second)
	defer cancel3()
	u3, err := b.Locks().Lock(short3, "k1")
	if err != nil {
		t.Fatalf("the lock of a holder that died: %v", err)
	}
	u3()
	unlock() // on a dead connection: must not block or panic
	a.Close()
}

// TestLocksLeaveConnections holds more fill locks than the pool has
// connections, some granted and the rest waiting: the tree heads must still
// be read and written meanwhile (a fill reads them while it holds its
// lock), and every waiter gets its lock once the holders let go.
func TestLocksLeaveConnections(t *testing.T) {
	t.Parallel()
	db := open(t, testpostgres.Database(t))
	defer db.Close()
	ctx := context.Background()
	const locks = 40 // more than the pool's 32 connections
	var unlocks []func()
	for i := range locks / 2 {
		unlock, err := db.Locks().Lock(ctx, fmt.Sprint("held", i))
		if err != nil {
			t.Fatal(err)
		}
		unlocks = append(unlocks, unlock)
	}
	var waiting sync.WaitGroup
	granted := make(chan func(), locks)
	for i := range locks / 2 {
		waiting.Go(func() {
			unlock, err := db.Locks().Lock(ctx, fmt.Sprint("waiting", i))
			if err != nil {
				t.Error(err)
				return
			}
			granted <- unlock
		})
	}
	time.Sleep(200 * time.Millisecond) // the waiters are waiting
	short, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := db.Heads().SwapHead(short, "sum.example.com", nil, []byte("head")); err != nil {
		t.Errorf("writing a tree head while %d locks are held or wanted: %v", locks, err)
	}
	if head, err := db.Heads().ReadHead(short, "sum.example.com"); err != nil || string(head) != "head" {
		t.Errorf("reading a tree head while %d locks are held or wanted: %q, %v", locks, head, err)
	}
	for _, unlock := range unlocks {
		unlock()
	}
	waiting.Wait()
	close(granted)
	n := 0
	for unlock := range granted {
		unlock()
		n++
	}
	if n != locks/2 {
		t.Errorf("%d of %d waiting locks granted", n, locks/2)
	}
}
