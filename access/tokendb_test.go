package access

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

func openTestDB(t *testing.T, file string) *TokenDB {
	t.Helper()
	db, err := OpenTokenDB(file)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// TestTokenDB makes, finds, lists and revokes tokens, and reopens the file.
func TestTokenDB(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	file := filepath.Join(t.TempDir(), "sub", "tokens.db")
	db := openTestDB(t, file)

	ci, ciSecret, err := db.Create(ctx, "ci", " corp.example/* ,example.com/x", false)
	if err != nil {
		t.Fatal(err)
	}
	if ci.Allow != "corp.example/*,example.com/x" || ci.Name != "ci" || !ci.Valid() || ci.Created.IsZero() {
		t.Errorf("Create returned %+v", ci)
	}
	dev, devSecret, err := db.Create(ctx, "dev laptop", "", true)
	if err != nil {
		t.Fatal(err)
	}
	if ci.ID == dev.ID || ciSecret == devSecret {
		t.Fatalf("two tokens share an id or a secret: %+v %+v", ci, dev)
	}
	if got, err := db.Lookup(ctx, HashSecret(devSecret)); err != nil || !got.Audit || got != dev {
		t.Errorf("Lookup(dev) = %+v, %v; want %+v, an auditor", got, err, dev)
	}

	got, err := db.Lookup(ctx, HashSecret(ciSecret))
	if err != nil || got != ci {
		t.Errorf("Lookup(ci) = %+v, %v; want %+v", got, err, ci)
	}
	for _, wrong := range []string{"", SecretPrefix, ciSecret + "x", strings.ToUpper(ciSecret)} {
		if _, err := db.Lookup(ctx, HashSecret(wrong)); !errors.Is(err, ErrUnknownToken) || !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("Lookup(%q) = %v, want ErrUnknownToken", wrong, err)
		}
	}

	for _, bad := range [][2]string{{"", "corp.example"}, {"x\ny", ""}, {"ok", "corp.example/["}} {
		if _, _, err := db.Create(ctx, bad[0], bad[1], false); err == nil {
			t.Errorf("Create(%q, %q) succeeded", bad[0], bad[1])
		}
	}

	revoked, err := db.Revoke(ctx, ci.ID)
	if err != nil || revoked.Valid() || revoked.ID != ci.ID {
		t.Fatalf("Revoke(%s) = %+v, %v", ci.ID, revoked, err)
	}
	got, err = db.Lookup(ctx, HashSecret(ciSecret))
	if err != nil || got.Valid() || got.Allows("corp.example/secret") {
		t.Errorf("Lookup of a revoked token = %+v, %v; want it, revoked", got, err)
	}
	again, err := db.Revoke(ctx, ci.ID)
	if err != nil || !again.Revoked.Equal(revoked.Revoked) {
		t.Errorf("revoking twice: %+v, %v; want the first revocation kept", again, err)
	}
	if _, err := db.Revoke(ctx, "000000000000"); !errors.Is(err, ErrUnknownToken) {
		t.Errorf("Revoke of an unknown id: %v, want ErrUnknownToken", err)
	}

	db.Close()
	db = openTestDB(t, file)
	list, err := db.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 || list[0].ID != ci.ID || list[0].Valid() || list[1] != dev {
		t.Errorf("List after reopening = %+v", list)
	}
	if fi, err := os.Stat(file); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("%s: mode %v, %v; want 0600", file, fi.Mode().Perm(), err)
	}
}

// TestTokenDBHashedAtRest checks that no file of the database holds a
// secret, in any spelling, while their hashes are there.
func TestTokenDBHashedAtRest(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	file := filepath.Join(t.TempDir(), "tokens.db")
	db := openTestDB(t, file)
	var secrets []string
	for _, name := range []string{"a", "b", "c"} {
		_, s, err := db.Create(ctx, name, "corp.example", false)
		if err != nil {
			t.Fatal(err)
		}
		secrets = append(secrets, s)
	}
	check := func(when string) {
		t.Helper()
		var all []byte
		for _, suffix := range []string{"", "-wal", "-shm"} {
			data, err := os.ReadFile(file + suffix)
			if err != nil && !errors.Is(err, fs.ErrNotExist) {
				t.Fatal(err)
			}
			all = append(all, data...)
		}
		for _, s := range secrets {
			body := strings.TrimPrefix(s, SecretPrefix)
			if bytes.Contains(all, []byte(body)) || bytes.Contains(all, []byte(body[:20])) {
				t.Errorf("%s: the database files hold a secret", when)
			}
			h := HashSecret(s)
			if !bytes.Contains(all, h[:]) {
				t.Errorf("%s: the database files lack a secret's hash: the test reads the wrong files", when)
			}
		}
	}
	check("open")
	db.Close()
	check("closed")
}

// TestTokenDBTwoProcesses has one TokenDB make and revoke tokens while
// another, on the same file, looks them up, as "modmirror token" does
// beside a running mirror.
func TestTokenDBTwoProcesses(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	file := filepath.Join(t.TempDir(), "tokens.db")
	cli, srv := openTestDB(t, file), openTestDB(t, file)
	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for range 10 {
		wg.Go(func() {
			tok, s, err := cli.Create(ctx, "t", "corp.example", false)
			if err != nil {
				errs <- err
				return
			}
			if got, err := srv.Lookup(ctx, HashSecret(s)); err != nil || got.ID != tok.ID {
				errs <- errors.Join(err, errors.New("the other connection does not see a new token"))
				return
			}
			if _, err := cli.Revoke(ctx, tok.ID); err != nil {
				errs <- err
				return
			}
			if got, err := srv.Lookup(ctx, HashSecret(s)); err != nil || got.Valid() {
				errs <- errors.Join(err, errors.New("the other connection does not see a revocation"))
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// TestTokenDBUpgrade opens a database of schema version 1, from before
// tokens could audit: its tokens are kept, and audit nothing.
func TestTokenDBUpgrade(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	file := filepath.Join(t.TempDir(), "tokens.db")
	old, err := sql.Open("sqlite", "file:"+file)
	if err != nil {
		t.Fatal(err)
	}
	secret, h := newSecret()
	for _, q := range []string{
		"CREATE TABLE tokens (id TEXT PRIMARY KEY, hash BLOB NOT NULL UNIQUE, name TEXT NOT NULL, allow TEXT NOT NULL, created TEXT NOT NULL, revoked TEXT)",
		"PRAGMA user_version = 1",
	} {
		if _, err := old.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := old.Exec("INSERT INTO tokens (id, hash, name, allow, created) VALUES ('0123456789ab', ?, 'old', 'corp.example', '2026-01-02T03:04:05Z')", h[:]); err != nil {
		t.Fatal(err)
	}
	old.Close()

	db := openTestDB(t, file)
	tok, err := db.Lookup(ctx, HashSecret(secret))
	if err != nil || tok.Name != "old" || tok.Audit || !tok.Allows("corp.example") {
		t.Errorf("token of a version 1 database: %+v, %v", tok, err)
	}
	if _, _, err := db.Create(ctx, "new", "", true); err != nil {
		t.Errorf("Create in an upgraded database: %v", err)
	}
}
