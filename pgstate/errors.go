package pgstate

import (
	"errors"
	"io"
	"net"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
)

// pgconnFailure reports whether err says that the database could not be
// reached or the connection broke, rather than that it refused a query.
func pgconnFailure(err error) bool {
	var ce *pgconn.ConnectError
	var ne net.Error
	return errors.As(err, &ce) || errors.As(err, &ne) || pgconn.Timeout(err) ||
		errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) || strings.Contains(err.Error(), "conn closed")
}

// brokenConn reports whether err says that a connection taken from the
// pool was dead already: the server restarted, or ended the session.
func brokenConn(err error) bool {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return strings.HasPrefix(pe.Code, "57P") // admin_shutdown, crash_shutdown, cannot_connect_now...
	}
	return pgconnFailure(err)
}
