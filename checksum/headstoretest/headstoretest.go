// Package headstoretest is the conformance suite of checksum.HeadStore
// implementations.
package headstoretest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"golang.org/x/mod/sumdb"

	"github.com/modmirror/modmirror/checksum"
)

// Run checks a HeadStore that holds no head yet.
func Run(t *testing.T, s checksum.HeadStore) {
	ctx := context.Background()
	const name = "sum.example/db"
	if h, err := s.ReadHead(ctx, name); err != nil || h != nil {
		t.Fatalf("ReadHead of a new database = %q, %v; want nothing", h, err)
	}
	one, two := []byte("tree 1\n"), []byte("tree 2\n")
	if err := s.SwapHead(ctx, name, nil, one); err != nil {
		t.Fatalf("first SwapHead: %v", err)
	}
	if err := s.SwapHead(ctx, name, nil, two); !errors.Is(err, sumdb.ErrWriteConflict) {
		t.Errorf("SwapHead from nothing over a head: %v, want ErrWriteConflict", err)
	}
	if err := s.SwapHead(ctx, name, []byte("tree 0\n"), two); !errors.Is(err, sumdb.ErrWriteConflict) {
		t.Errorf("SwapHead from a head that is not the stored one: %v, want ErrWriteConflict", err)
	}
	if err := s.SwapHead(ctx, name, one, two); err != nil {
		t.Errorf("SwapHead from the stored head: %v", err)
	}
	if h, err := s.ReadHead(ctx, name); err != nil || !bytes.Equal(h, two) {
		t.Errorf("ReadHead = %q, %v; want %q", h, err, two)
	}
	if h, err := s.ReadHead(ctx, "other.example"); err != nil || h != nil {
		t.Errorf("ReadHead of another database = %q, %v; want nothing", h, err)
	}

	// Racing successors of one head: exactly one wins.
	var wg sync.WaitGroup
	wins := make(chan []byte, 8)
	for i := range 8 {
		wg.Go(func() {
			next := fmt.Appendf(nil, "tree 3, writer %d\n", i)
			if err := s.SwapHead(ctx, name, two, next); err == nil {
				wins <- next
			} else if !errors.Is(err, sumdb.ErrWriteConflict) {
				t.Errorf("racing SwapHead: %v", err)
			}
		})
	}
	wg.Wait()
	close(wins)
	var won [][]byte
	for w := range wins {
		won = append(won, w)
	}
	if len(won) != 1 {
		t.Fatalf("%d racing SwapHeads won, want 1", len(won))
	}
	if h, _ := s.ReadHead(ctx, name); !bytes.Equal(h, won[0]) {
		t.Errorf("ReadHead after the race = %q, want the winner's %q", h, won[0])
	}
}
