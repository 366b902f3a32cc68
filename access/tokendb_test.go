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
