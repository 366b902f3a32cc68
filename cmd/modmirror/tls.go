package main

import (
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"strconv"
)

// tlsFlags are serve's flags for HTTPS. The go command sends credentials
// (tokens) only over HTTPS, so a mirror with private modules serves HTTPS
// itself or sits behind something that does.
type tlsFlags struct {
	cert, key string
	http1     bool        // --http2=false: HTTP/1.1 only
	config    *tls.Config // set by load when HTTPS is on
}

func (t *tlsFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&t.cert, "tls-cert", "", "certificate `file` (PEM, the server's certificate first, then any intermediates): serve HTTPS; needs --tls-key")
	fs.StringVar(&t.key, "tls-key", "", "private key `file` (PEM) of --tls-cert")
	fs.BoolFunc("http2", "offer HTTP/2 over HTTPS, as well as HTTP/1.1 (default true); false serves HTTP/1.1 only, which costs the mirror about half the CPU time per byte of zip sent (docs/BENCHMARKS.md)", func(s string) error {
		on, err := strconv.ParseBool(s)
		if err != nil {
			return err
		}
		t.http1 = !on
		return nil
	})
}

// load reads the certificate and key, if given, so that a mistake stops
// the mirror before it starts.
func (t *tlsFlags) load() error {
	if (t.cert == "") != (t.key == "") {
		return usageError{err: errors.New("--tls-cert and --tls-key go together")}
	}
	if t.cert == "" {
		return nil
	}
	cert, err := tls.LoadX509KeyPair(t.cert, t.key)
	if err != nil {
		return fmt.Errorf("--tls-cert, --tls-key: %w", err)
	}
	t.config = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	return nil
}

// scheme is the URL scheme served.
func (t *tlsFlags) scheme() string {
	if t.config != nil {
		return "https"
	}
	return "http"
}

// serve serves srv on ln, with HTTPS (and HTTP/2, unless turned off) if it
// is on.
func (t *tlsFlags) serve(srv *http.Server, ln net.Listener) error {
	if t.config == nil {
		return srv.Serve(ln)
	}
	srv.TLSConfig = t.config
	if t.http1 {
		srv.Protocols = new(http.Protocols)
		srv.Protocols.SetHTTP1(true)
	}
	return srv.ServeTLS(ln, "", "")
}
