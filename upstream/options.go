package upstream

import (
	"github.com/modmirror/modmirror"
	"github.com/modmirror/modmirror/internal/redirect"

	"net"
	"net/http"
	"time"
)

// Options configure the proxies of a Chain. The zero value is ready to use.
type Options struct {
	// Client sends every HTTP request. If nil, a client from NewClient is
	// used, shared by all entries of a Chain.
	Client *http.Client

	// UserAgent is sent with every request, such as "modmirror/v1.2.3".
	// If empty, it is "modmirror".
	UserAgent string

	// Observe, if not nil, is called once for every request to an entry,
	// when the request is complete: for .zip files, when the body has been
	// read to its end or closed, whichever comes first; for everything else,
	// before the method that made the request returns. It must be safe for
	// concurrent use and should return quickly.
	Observe func(Fetch)

	// Direct, if not nil, answers for "direct" entries: the origin
	// version control system (package origin). Without it, "direct"
	// answers not-found for modules.
	Direct modmirror.Upstream

	// Via, if not empty, names this client in a Via header of every HTTP
	// request, after the hops of the client request that caused it (see
	// package internal/via), so that a mirror whose upstream leads back to
	// it, directly or through other mirrors, sees its own name and refuses
	// the request at once (see proxy.Options.Via).
	Via string

	// IdleTimeout is the longest an HTTP response body may go without a
	// byte before the request fails: an upstream that sent its headers
	// and then stalls would otherwise hold a fill, and the clients
	// waiting for it, until the caller's deadline. Zero means
	// DefaultIdleTimeout.
	IdleTimeout time.Duration
}

// DefaultIdleTimeout is the IdleTimeout of Options that set none.
const DefaultIdleTimeout = 30 * time.Second

// The kinds of request a Fetch reports.
const (
	KindList   = "list"   // /@v/list
	KindInfo   = "info"   // /@v/<query>.info
	KindLatest = "latest" // /@latest
	KindMod    = "mod"    // /@v/<version>.mod
	KindZip    = "zip"    // /@v/<version>.zip
	KindSumDB  = "sumdb"  // /sumdb/<name>/..., or a checksum database's own URL
)

// A Fetch describes one completed request to an upstream, for metrics.
// Its fields have few distinct values, so they can be used as labels.
type Fetch struct {
	// Upstream is the redacted base URL of the entry that was asked: a
	// proxy's, or a checksum database's own (https://<name>) for a
	// "direct" checksum database request.
	Upstream string

	// Kind is one of KindList, KindInfo, KindLatest, KindMod, KindZip and
	// KindSumDB.
	Kind string

	// Status is the HTTP status code of the response, or 0 if there was
	// none (the request failed before a response arrived). For file://
	// entries it is 200 for a file read and 404 for a missing file.
	Status int

	// Duration runs from sending the request until its body was read to
	// its end, failed, or was closed.
	Duration time.Duration

	// Bytes counts the body bytes read (for an error response, the part of
	// the body read for the error message).
	Bytes int64

	// Err is the error the request ended with, as returned to the caller,
	// or nil. A body closed before its end without a read error has a nil
	// Err.
	Err error
}

const defaultUserAgent = "modmirror"

// NewClient returns the HTTP client that Options without a Client use. It
// has timeouts for each step of connecting and for the response header, but
// no overall timeout, because module zips are streamed and may take long: the
// caller's context bounds a request. Its transport keeps many idle connections
// to each host, because a mirror sends most of its requests to one upstream,
// and it uses the proxy named by $HTTPS_PROXY and the like. It refuses
// redirects from https to http.
func NewClient() *http.Client {
	dialer := &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}
	transport := &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           dialer.DialContext,
		ForceAttemptHTTP2:     true,
		TLSHandshakeTimeout:   10 * time.Second,
		ResponseHeaderTimeout: 30 * time.Second,
		ExpectContinueTimeout: 1 * time.Second,
		IdleConnTimeout:       90 * time.Second,
		MaxIdleConns:          256,
		MaxIdleConnsPerHost:   64,
	}
	return &http.Client{Transport: transport, CheckRedirect: redirect.Check}
}

// withDefaults returns opts with its zero fields set.
func (opts Options) withDefaults() Options {
	if opts.Client == nil {
		opts.Client = NewClient()
	}
	if opts.UserAgent == "" {
		opts.UserAgent = defaultUserAgent
	}
	if opts.IdleTimeout <= 0 {
		opts.IdleTimeout = DefaultIdleTimeout
	}
	return opts
}
