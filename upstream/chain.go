package upstream

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/url"
	pathpkg "path"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/modmirror/modmirror"
)

var _ modmirror.Upstream = (*Chain)(nil)

// DefaultList is the list that Parse uses for an empty one: the go
// command's default without its final "direct", which needs an origin
// (Options.Direct).
const DefaultList = "https://proxy.golang.org"

// A Chain is a parsed GOPROXY list: proxies tried in order. It is safe for
// concurrent use.
type Chain struct {
	entries []entry
}

type entry struct {
	src             source
	fallBackOnError bool // the entry is followed by "|"
}

// A source is one entry of a chain: a *Proxy, off or direct.
type source interface {
	modmirror.Upstream
	SumDB(ctx context.Context, name, path string) ([]byte, error)
}

// An Entry describes one entry of a chain.
type Entry struct {
	// URL is the proxy's base URL with any password redacted, or "off" or
	// "direct".
	URL string

	// FallBackOnError reports whether the entry is followed by "|", so that
	// the next entry is tried after any error, not only after not found.
	FallBackOnError bool
}

// Parse parses a list in GOPROXY syntax, described in the package
// documentation. Every proxy of the chain uses opts.
func Parse(list string, opts Options) (*Chain, error) {
	if list == "" {
		list = DefaultList
	}
	opts = opts.withDefaults()
	c := new(Chain)
	n := 0 // position of the entry, for errors
	for rest := list; rest != ""; {
		var raw string
		fallBackOnError := false
		if i := strings.IndexAny(rest, ",|"); i >= 0 {
			raw, fallBackOnError, rest = rest[:i], rest[i] == '|', rest[i+1:]
		} else {
			raw, rest = rest, ""
		}
		raw = strings.TrimSpace(raw)
		if raw == "" {
			continue
		}
		n++
		var src source
		switch raw {
		case "off":
			src = off{}
		case "direct":
			src = direct{opts: opts}
		default:
			// As for the go command's GOPROXY, single words are reserved, and anything with ":/" or an
			// absolute file path must be a complete URL; other names get
			// "https://".
			if strings.ContainsAny(raw, ".:/") && !strings.Contains(raw, ":/") &&
				!filepath.IsAbs(raw) && !pathpkg.IsAbs(raw) {
				raw = "https://" + raw
			}
			u, err := parseProxyURL(raw)
			if err != nil {
				return nil, fmt.Errorf("upstream: GOPROXY entry %d: %w", n, err)
			}
			src = newProxy(u, opts)
		}
		c.entries = append(c.entries, entry{src: src, fallBackOnError: fallBackOnError})
		if raw == "off" || raw == "direct" {
			// They end the list, as in the go command, which keeps what
			// follows them for future use.
			break
		}
	}
	if len(c.entries) == 0 {
		return nil, fmt.Errorf("upstream: GOPROXY list %q contains no entries", list)
	}
	c.entries[len(c.entries)-1].fallBackOnError = false
	return c, nil
}

// String returns the list in GOPROXY syntax, with any password redacted.
func (c *Chain) String() string {
	var b strings.Builder
	for i, e := range c.entries {
		if i > 0 {
			if c.entries[i-1].fallBackOnError {
				b.WriteByte('|')
			} else {
				b.WriteByte(',')
			}
		}
		b.WriteString(e.src.String())
	}
	return b.String()
}

// Entries returns the entries of the chain, in order.
func (c *Chain) Entries() []Entry {
	list := make([]Entry, len(c.entries))
	for i, e := range c.entries {
		list[i] = Entry{URL: e.src.String(), FallBackOnError: e.fallBackOnError}
	}
	return list
}

// try calls f with the sources of the chain in order until f succeeds, or
// fails with an error that should not fall through, and returns the most
// useful error, as the go command reports it: the error from
// "direct", else the last error that is not a not-found, else the last
// not-found.
func (c *Chain) try(f func(src source) error) error {
	const (
		notExistRank = iota
		proxyRank
		directRank
	)
	var bestErr error
	bestRank := notExistRank
	for _, e := range c.entries {
		err := f(e.src)
		if err == nil {
			return nil
		}
		notExist := errors.Is(err, fs.ErrNotExist)
		if _, ok := e.src.(direct); ok && !notExist {
			bestErr, bestRank = err, directRank
		} else if bestRank <= proxyRank && !notExist {
			bestErr, bestRank = err, proxyRank
		} else if bestRank == notExistRank {
			bestErr = err
		}
		if !e.fallBackOnError && !notExist {
			break
		}
	}
	return bestErr
}

// List returns the versions listed by the first entry that has the module.
func (c *Chain) List(ctx context.Context, path string) (list []string, err error) {
	err = c.try(func(src source) (err error) {
		list, err = src.List(ctx, path)
		return err
	})
	return list, err
}

// Latest returns the @latest answer of the first entry that has the module.
func (c *Chain) Latest(ctx context.Context, path string) (data []byte, err error) {
	err = c.try(func(src source) (err error) {
		data, err = src.Latest(ctx, path)
		return err
	})
	return data, err
}

// Info returns the .info answer for the query from the first entry that has
// it.
func (c *Chain) Info(ctx context.Context, path, query string) (data []byte, err error) {
	err = c.try(func(src source) (err error) {
		data, err = src.Info(ctx, path, query)
		return err
	})
	return data, err
}

// Mod returns the go.mod file of the version from the first entry that has
// it.
func (c *Chain) Mod(ctx context.Context, path, version string) (data []byte, err error) {
	err = c.try(func(src source) (err error) {
		data, err = src.Mod(ctx, path, version)
		return err
	})
	return data, err
}

// Zip returns the zip of the version from the first entry that answers with
// one. Once the stream is returned there is no falling through: its read
// errors are the caller's to handle.
func (c *Chain) Zip(ctx context.Context, path, version string) (body io.ReadCloser, err error) {
	err = c.try(func(src source) (err error) {
		body, err = src.Zip(ctx, path, version)
		return err
	})
	return body, err
}

// ReadSumDB returns the checksum database file <name><path> from the first
// entry that proxies the database, as <base>/sumdb/<name><path>; a "direct"
// entry reads https://<name><path> itself. The path begins with a slash, as
// in "/latest", "/lookup/golang.org/x/mod@v0.1.0" or "/tile/8/0/001". It is
// meant to serve as the ReadRemote of a golang.org/x/mod/sumdb.ClientOps.
//
// Unlike the go command, which probes /supported once and then keeps to one
// proxy, ReadSumDB applies the fall-through rules to each request, and it
// does not go to the database directly when every proxy answers not found:
// only a "direct" entry does that, so "off" keeps the mirror offline.
func (c *Chain) ReadSumDB(ctx context.Context, name, path string) (data []byte, err error) {
	err = c.try(func(src source) (err error) {
		data, err = src.SumDB(ctx, name, path)
		return err
	})
	return data, err
}

// off is the "off" entry: it has nothing.
type off struct{}

const offMessage = "module lookup disabled by GOPROXY=off"

func (off) String() string { return "off" }

func (off) List(ctx context.Context, path string) ([]string, error) {
	return nil, moduleErr(path, "")(modmirror.NotFound(offMessage))
}

func (off) Latest(ctx context.Context, path string) ([]byte, error) {
	return nil, moduleErr(path, "latest")(modmirror.NotFound(offMessage))
}

func (off) Info(ctx context.Context, path, query string) ([]byte, error) {
	return nil, moduleErr(path, query)(modmirror.NotFound(offMessage))
}

func (off) Mod(ctx context.Context, path, version string) ([]byte, error) {
	return nil, moduleErr(path, version)(modmirror.NotFound(offMessage))
}

func (off) Zip(ctx context.Context, path, version string) (io.ReadCloser, error) {
	return nil, moduleErr(path, version)(modmirror.NotFound(offMessage))
}

func (off) SumDB(ctx context.Context, name, path string) ([]byte, error) {
	return nil, sumDBErr(name)(modmirror.NotFound("checksum database access disabled by GOPROXY=off"))
}

// direct is the "direct" entry: the origin version control system for
// modules (Options.Direct), and the database itself for checksum database
// requests.
type direct struct {
	opts Options
}

// errDirect is a not-found: a mirror's clients then fall through to their
// own next GOPROXY entry (often their own "direct"), which is what they
// would get from a mirror without this entry.
var errDirect = modmirror.NotFound("direct (origin VCS) fetch is not configured")

func (direct) String() string { return "direct" }

func (d direct) List(ctx context.Context, path string) ([]string, error) {
	if d.opts.Direct != nil {
		return d.opts.Direct.List(ctx, path)
	}
	return nil, moduleErr(path, "")(errDirect)
}

func (d direct) Latest(ctx context.Context, path string) ([]byte, error) {
	if d.opts.Direct != nil {
		return d.opts.Direct.Latest(ctx, path)
	}
	return nil, moduleErr(path, "latest")(errDirect)
}

func (d direct) Info(ctx context.Context, path, query string) ([]byte, error) {
	if d.opts.Direct != nil {
		return d.opts.Direct.Info(ctx, path, query)
	}
	return nil, moduleErr(path, query)(errDirect)
}

func (d direct) Mod(ctx context.Context, path, version string) ([]byte, error) {
	if d.opts.Direct != nil {
		return d.opts.Direct.Mod(ctx, path, version)
	}
	return nil, moduleErr(path, version)(errDirect)
}

func (d direct) Zip(ctx context.Context, path, version string) (io.ReadCloser, error) {
	if d.opts.Direct != nil {
		return d.opts.Direct.Zip(ctx, path, version)
	}
	return nil, moduleErr(path, version)(errDirect)
}

// SumDB reads https://<name><path>.
func (d direct) SumDB(ctx context.Context, name, path string) ([]byte, error) {
	wrap := sumDBErr(name)
	if err := checkSumDB(name, path); err != nil {
		return nil, wrap(err)
	}
	base, err := url.Parse("https://" + name) // checked by checkSumDB
	if err != nil {
		return nil, wrap(err)
	}
	return newProxy(base, d.opts).readAll(ctx, KindSumDB, path[1:], maxSumDBFile, wrap)
}

// LeadsTo returns the first proxy of the chain whose URL names the
// listening address addr of this machine (its port, on a loopback address,
// the same address, or any address of this machine when addr is
// unspecified), and whether there is one: a mirror whose upstream is
// itself. Host names other than localhost are not resolved; a mirror
// catches those loops when the request comes back (proxy.Options.Via).
func (c *Chain) LeadsTo(addr *net.TCPAddr) (string, bool) {
	for _, e := range c.entries {
		p, ok := e.src.(*Proxy)
		if !ok || p.fsys != nil {
			continue
		}
		port := p.base.Port()
		if port == "" {
			port = map[string]string{"http": "80", "https": "443"}[p.base.Scheme]
		}
		if port != strconv.Itoa(addr.Port) {
			continue
		}
		host := p.base.Hostname()
		ip := net.ParseIP(host)
		switch {
		case host == "localhost" || ip != nil && ip.IsLoopback():
			return p.String(), true
		case ip == nil:
		case ip.Equal(addr.IP), addr.IP.IsUnspecified() && localAddress(ip):
			return p.String(), true
		}
	}
	return "", false
}

// localAddress reports whether ip is an address of one of this machine's
// interfaces.
func localAddress(ip net.IP) bool {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return false
	}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && n.IP.Equal(ip) {
			return true
		}
	}
	return false
}
