// Package testpostgres gives tests a PostgreSQL database of their own on
// the server that scripts/test.sh starts (scripts/postgres.sh), named by
// MODMIRROR_TEST_POSTGRES_URL.
package testpostgres

import (
	"context"
	"crypto/rand"
	"errors"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/modmirror/modmirror/internal/testenv"
)

// serverURL returns the URL of the test server, from
// MODMIRROR_TEST_POSTGRES_URL (scripts/postgres.sh start prints one). Without
// it the test is skipped, or fails when MODMIRROR_TEST_REQUIRE_POSTGRES=1.
func serverURL(t testing.TB) string {
	t.Helper()
	u := os.Getenv("MODMIRROR_TEST_POSTGRES_URL")
	if u == "" {
		testenv.Missing(t, "POSTGRES", "MODMIRROR_TEST_POSTGRES_URL is not set; run scripts/test.sh, or set it to a postgres:// URL of a role with CREATEDB (scripts/postgres.sh start DIR prints one)")
	}
	return u
}

// Database creates a database of its own for t on the test server,
// dropped when t ends, and returns its URL.
func Database(t testing.TB) string {
	t.Helper()
	admin := serverURL(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		t.Fatalf("connecting to MODMIRROR_TEST_POSTGRES_URL: %v", err)
	}
	defer conn.Close(ctx)
	name := "modmirror_test_" + rand.Text()[:16]
	name = strings.ToLower(name)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		conn, err := pgx.Connect(ctx, admin)
		if err != nil {
			t.Errorf("dropping database %s: %v", name, err)
			return
		}
		defer conn.Close(ctx)
		if err := drop(ctx, conn, name); err != nil {
			t.Errorf("dropping database %s: %v", name, err)
		}
	})
	u, err := url.Parse(admin)
	if err != nil {
		t.Fatalf("MODMIRROR_TEST_POSTGRES_URL: %v", err)
	}
	u.Path = "/" + name
	u.RawPath = ""
	return u.String()
}

// drop drops a test's database, ending the sessions the test left open.
// WITH (FORCE) may not end an autovacuum worker that a test's writes woke
// in the database: the server refuses a role without pg_signal_backend
// (SQLSTATE 42501), while a plain DROP DATABASE ends such workers itself
// but refuses while the test's own sessions are open (55006). Each is
// tried in turn until one succeeds or ctx ends.
func drop(ctx context.Context, conn *pgx.Conn, name string) error {
	for {
		_, err := conn.Exec(ctx, "DROP DATABASE "+name+" WITH (FORCE)")
		var pgErr *pgconn.PgError
		if err == nil || !errors.As(err, &pgErr) || pgErr.Code != "42501" {
			return err
		}
		_, err = conn.Exec(ctx, "DROP DATABASE "+name)
		if err == nil || !errors.As(err, &pgErr) || pgErr.Code != "55006" {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(100 * time.Millisecond):
		}
	}
}
