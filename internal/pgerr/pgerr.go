// Package pgerr tells the errors of a PostgreSQL server that cannot be
// reached from those of one that refused a query, so that the packages
// keeping state in PostgreSQL answer the first as modmirror.ErrUnavailable
// (503, try again) and the second as a failure of their own.
package pgerr

import (
	"errors"
	"fmt"
	"io"
	"net"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/modmirror/modmirror"
)

// Failure reports whether err says that the database could not be reached
// or the connection broke, rather than that it refused a query.
func Failure(err error) bool {
	var ce *pgconn.ConnectError
	var ne net.Error
	return errors.As(err, &ce) || errors.As(err, &ne) || pgconn.Timeout(err) ||
		errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) || strings.Contains(err.Error(), "conn closed")
}

// Broken reports whether err says that a connection taken from the pool
// was dead already: the server restarted, or ended the session.
func Broken(err error) bool {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return strings.HasPrefix(pe.Code, "57P") // admin_shutdown, crash_shutdown, cannot_connect_now...
	}
	return Failure(err)
}

// Wrap returns err as a modmirror.Unavailable(what, err) when it is a
// Failure, and else prefixed with prefix.
func Wrap(what, prefix string, err error) error {
	if Failure(err) {
		return modmirror.Unavailable(what, fmt.Errorf("%s: %w", prefix, err))
	}
	return fmt.Errorf("%s: %w", prefix, err)
}
