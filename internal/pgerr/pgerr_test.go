package pgerr

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/modmirror/modmirror"
)

// TestUnreachable connects to a port nobody listens on: the error is a
// Failure, and Wrap makes it an ErrUnavailable that names the database.
func TestUnreachable(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err = pgconn.Connect(ctx, "postgres://u:secret@"+addr+"/db?connect_timeout=5")
	if err == nil {
		t.Fatal("connected to a closed port")
	}
	if !Failure(err) || !Broken(err) {
		t.Errorf("Failure, Broken(%v) = %v, %v; want true", err, Failure(err), Broken(err))
	}
	w := Wrap("shared database", "pgstate", err)
	if !errors.Is(w, modmirror.ErrUnavailable) {
		t.Errorf("Wrap(%v) = %v, want an ErrUnavailable", err, w)
	}
}

// TestRefused: an error the server answers with is neither a Failure nor
// unavailability, except the codes of a server going away.
func TestRefused(t *testing.T) {
	syntax := &pgconn.PgError{Severity: "ERROR", Code: "42601", Message: "syntax error"}
	if Failure(syntax) || Broken(syntax) {
		t.Errorf("a syntax error counts as a failure to reach the server")
	}
	if w := Wrap("shared database", "pgstate", syntax); errors.Is(w, modmirror.ErrUnavailable) || w.Error() != "pgstate: ERROR: syntax error (SQLSTATE 42601)" {
		t.Errorf("Wrap(syntax error) = %v", w)
	}
	if shutdown := (&pgconn.PgError{Code: "57P01", Message: "terminating connection due to administrator command"}); !Broken(shutdown) {
		t.Errorf("Broken(admin_shutdown) = false")
	}
}
