package proxy

import (
	"context"
	"crypto/tls"
	"net"
	"net/http"
	"syscall"
)

// Corking. net/http sets TCP_NODELAY, so every write(2) of a response
// leaves at once in segments of its own: the headers of a file sent by
// sendfile(2) in one, then the body; a body in memory larger than the
// connection's 4 KiB buffer in two pieces; over TLS, one per 16 KiB record.
// With the socket corked (Linux's TCP_CORK) while a response is written,
// the kernel sends only full segments, and the rest when the cork is
// taken out at the end of the response. Measured on loopback with wrk, 64
// connections (docs/BENCHMARKS.md, "Corked responses"): a 300 KB zip by
// sendfile 1.5x the requests per second, 32 KB from memory 1.2x.

// Bodies up to smallFile (4 KiB) are not corked: with their headers they
// fit the connection's 4 KiB buffer and leave in one write(2) anyway, and
// corking would only add two system calls (a 3 KB zip, the most common,
// went from 2.4 to 4.5 per request when corked).

type connKey struct{}

// ConnContext is for http.Server.ConnContext: it keeps the connection in
// the context of its requests, so that the Handler can cork large
// responses. Without it, nothing is corked.
func ConnContext(ctx context.Context, c net.Conn) context.Context {
	if tc, ok := c.(*tls.Conn); ok {
		c = tc.NetConn()
	}
	tcp, ok := c.(*net.TCPConn)
	if !ok {
		return ctx
	}
	rc, err := tcp.SyscallConn()
	if err != nil {
		return ctx
	}
	return context.WithValue(ctx, connKey{}, rc)
}

// corkFor corks the connection of r, if the answer is worth it and the
// connection is known and carries one request at a time (HTTP/1; HTTP/2
// interleaves streams, whose corks would hold up each other). It returns
// the connection it corked, for uncork, or nil.
func corkFor(r *http.Request, size int64) syscall.RawConn {
	if size <= smallFile || r.ProtoMajor != 1 {
		return nil
	}
	rc, ok := r.Context().Value(connKey{}).(syscall.RawConn)
	if !ok || !setCork(rc, true) {
		return nil
	}
	return rc
}

// uncork sends what w still buffers, then takes the cork out, so that the
// end of the response leaves now.
func uncork(w http.ResponseWriter, rc syscall.RawConn) {
	// An error here is the connection's, and shows on its next write.
	_ = http.NewResponseController(w).Flush()
	setCork(rc, false)
}
