// Package tokentest is the conformance suite of access.TokenStore
// implementations.
package tokentest

import (
	"context"
	"errors"
	"io/fs"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modmirror/modmirror/access"
)

// Run checks a TokenStore. open returns a new store on the same, initially
// empty, backing (a file, a database) each time it is called, as another
// process would open it; Run closes what it opens.
func Run(t *testing.T, open func(t *testing.T) access.TokenStore) {
	ctx := context.Background()
	s := open(t)
	defer s.Close()

	ci, ciSecret, err := s.Create(ctx, "ci", " corp.example/* ,example.com/x", false)
	if err != nil {
		t.Fatal(err)
	}
	if ci.Allow != "corp.example/*,example.com/x" || ci.Name != "ci" || !ci.Valid() || ci.Created.IsZero() || ci.Audit {
		t.Errorf("Create returned %+v", ci)
	}
	dev, devSecret, err := s.Create(ctx, "dev laptop", "", true)
	if err != nil {
		t.Fatal(err)
	}
	if ci.ID == dev.ID || ciSecret == devSecret || !strings.HasPrefix(devSecret, access.SecretPrefix) {
		t.Fatalf("two tokens share an id or a secret: %+v %+v", ci, dev)
	}
	if got, err := s.Lookup(ctx, access.HashSecret(devSecret)); err != nil || got != dev {
		t.Errorf("Lookup(dev) = %+v, %v; want %+v", got, err, dev)
	}
	if got, err := s.Lookup(ctx, access.HashSecret(ciSecret)); err != nil || got != ci {
		t.Errorf("Lookup(ci) = %+v, %v; want %+v", got, err, ci)
	}
	for _, wrong := range []string{"", access.SecretPrefix, ciSecret + "x", strings.ToUpper(ciSecret)} {
		if _, err := s.Lookup(ctx, access.HashSecret(wrong)); !errors.Is(err, access.ErrUnknownToken) || !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("Lookup(%q) = %v, want ErrUnknownToken", wrong, err)
		}
	}
	for _, bad := range [][2]string{{"", "corp.example"}, {"x\ny", ""}, {"ok", "corp.example/["}} {
		if _, _, err := s.Create(ctx, bad[0], bad[1], false); err == nil {
			t.Errorf("Create(%q, %q) succeeded", bad[0], bad[1])
		}
	}

	// Another process, on the same backing, sees the tokens and their
	// revocations.
	other := open(t)
	defer other.Close()
	if got, err := other.Lookup(ctx, access.HashSecret(ciSecret)); err != nil || got != ci {
		t.Errorf("another store: Lookup(ci) = %+v, %v", got, err)
	}
	revoked, err := s.Revoke(ctx, ci.ID)
	if err != nil || revoked.Valid() || revoked.ID != ci.ID {
		t.Fatalf("Revoke(%s) = %+v, %v", ci.ID, revoked, err)
	}
	if got, err := other.Lookup(ctx, access.HashSecret(ciSecret)); err != nil || got.Valid() || got.Allows("corp.example/secret") {
		t.Errorf("another store: Lookup of a revoked token = %+v, %v; want it, revoked", got, err)
	}
	again, err := other.Revoke(ctx, ci.ID)
	if err != nil || !again.Revoked.Equal(revoked.Revoked) {
		t.Errorf("revoking twice: %+v, %v; want the first revocation kept", again, err)
	}
	if _, err := s.Revoke(ctx, "000000000000"); !errors.Is(err, access.ErrUnknownToken) || !strings.Contains(err.Error(), `"000000000000"`) {
		t.Errorf("Revoke of an unknown id: %v, want ErrUnknownToken naming the id", err)
	}
	list, err := other.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 || list[0].ID != ci.ID || list[0].Valid() || list[1] != dev {
		t.Errorf("List = %+v", list)
	}

	// Concurrent makers and revokers, seen by a concurrent reader.
	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for range 10 {
		wg.Go(func() {
			tok, secret, err := s.Create(ctx, "t", "corp.example", false)
			if err != nil {
				errs <- err
				return
			}
			if got, err := other.Lookup(ctx, access.HashSecret(secret)); err != nil || got.ID != tok.ID {
				errs <- errors.Join(err, errors.New("the other store does not see a new token"))
				return
			}
			if _, err := s.Revoke(ctx, tok.ID); err != nil {
				errs <- err
				return
			}
			if got, err := other.Lookup(ctx, access.HashSecret(secret)); err != nil || got.Valid() {
				errs <- errors.Join(err, errors.New("the other store does not see a revocation"))
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}

	// Last use: set, only ever later, seen by the other store; unknown
	// ids ignored.
	used, _, err := s.Create(ctx, "used", "", false)
	if err != nil {
		t.Fatal(err)
	}
	t1 := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	if err := s.Used(ctx, map[string]time.Time{used.ID: t1, "nosuchid": t1}); err != nil {
		t.Fatal(err)
	}
	if err := s.Used(ctx, map[string]time.Time{used.ID: t1.Add(-time.Hour)}); err != nil {
		t.Fatal(err)
	}
	toks, err := other.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, tok := range toks {
		switch {
		case tok.ID == used.ID && !tok.LastUsed.Equal(t1):
			t.Errorf("token %s last used %v, want %v", tok.ID, tok.LastUsed, t1)
		case tok.ID == ci.ID && !tok.LastUsed.IsZero():
			t.Errorf("token %s, never used, last used %v", tok.ID, tok.LastUsed)
		}
	}
}
