// Package accesslog writes one structured line per request a mirror
// answers: time, client address, the name of the token presented (never
// its secret), method, path, status, bytes, duration, and whether the
// store had the file. Lines about private module paths are the audit trail
// of who read what.
//
// # Client addresses
//
// The client is the connection's peer, unless that peer is a trusted proxy
// (Options.Trusted): then it is the rightmost address of X-Forwarded-For
// that is not a trusted proxy itself. The header of anyone else is ignored:
// a client could write anything there.
package accesslog

import (
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/modmirror/modmirror/internal/reqinfo"
)

// Options configure Handler.
type Options struct {
	Logger  *slog.Logger   // where the lines go, at level Info
	Trusted []netip.Prefix // proxies whose X-Forwarded-For is believed
}

// Handler logs every request that next answers.
func Handler(next http.Handler, opts Options) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		ctx, info := reqinfo.New(r.Context())
		cw := &countingWriter{ResponseWriter: w}
		next.ServeHTTP(cw, r.WithContext(ctx))
		attrs := []slog.Attr{
			slog.String("remote", clientAddr(r, opts.Trusted)),
			slog.String("method", r.Method),
			slog.String("path", r.URL.Path),
			slog.Int("status", cw.status()),
			slog.Int64("bytes", cw.n),
			slog.Duration("duration", time.Since(start)),
		}
		if info.Token != "" {
			attrs = append(attrs, slog.String("token", info.Token))
		}
		if info.Cache != "" {
			attrs = append(attrs, slog.String("cache", info.Cache))
		}
		opts.Logger.LogAttrs(r.Context(), slog.LevelInfo, "access", attrs...)
	})
}

// clientAddr returns the client's address: the peer's, or, when the peer
// is a trusted proxy, what X-Forwarded-For says.
func clientAddr(r *http.Request, trusted []netip.Prefix) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	peer, err := netip.ParseAddr(host)
	if err != nil || !isTrusted(peer, trusted) {
		return host
	}
	// Rightmost first: each proxy appends the address it saw.
	var hops []string
	for _, v := range r.Header.Values("X-Forwarded-For") {
		for _, h := range strings.Split(v, ",") {
			hops = append(hops, strings.TrimSpace(h))
		}
	}
	for i := len(hops) - 1; i >= 0; i-- {
		a, err := netip.ParseAddr(hops[i])
		if err != nil {
			return host // a malformed hop: do not guess past it
		}
		if !isTrusted(a, trusted) {
			return a.String()
		}
	}
	return host
}

func isTrusted(a netip.Addr, trusted []netip.Prefix) bool {
	a = a.Unmap()
	for _, p := range trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// ParseTrusted parses a comma-separated list of addresses and CIDR
// prefixes.
func ParseTrusted(s string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		if !strings.Contains(f, "/") {
			a, err := netip.ParseAddr(f)
			if err != nil {
				return nil, err
			}
			out = append(out, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
			continue
		}
		p, err := netip.ParsePrefix(f)
		if err != nil {
			return nil, err
		}
		out = append(out, p.Masked())
	}
	return out, nil
}

// countingWriter counts the bytes of a response and keeps its status. It
// passes ReadFrom through, so that files are still sent with sendfile(2),
// and Flush.
type countingWriter struct {
	http.ResponseWriter
	code int
	n    int64
}

func (w *countingWriter) WriteHeader(code int) {
	if w.code == 0 {
		w.code = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *countingWriter) Write(b []byte) (int, error) {
	n, err := w.ResponseWriter.Write(b)
	w.n += int64(n)
	return n, err
}

func (w *countingWriter) ReadFrom(r io.Reader) (int64, error) {
	var n int64
	var err error
	if rf, ok := w.ResponseWriter.(io.ReaderFrom); ok {
		n, err = rf.ReadFrom(r)
	} else {
		n, err = io.Copy(w.ResponseWriter, r)
	}
	w.n += n
	return n, err
}

func (w *countingWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (w *countingWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (w *countingWriter) status() int {
	if w.code == 0 {
		return http.StatusOK
	}
	return w.code
}
