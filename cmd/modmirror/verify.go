package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"unicode"

	"golang.org/x/mod/module"
	"golang.org/x/mod/sumdb/note"

	"github.com/modmirror/modmirror"
	"github.com/modmirror/modmirror/checksum"
	"github.com/modmirror/modmirror/fsstore"
	"github.com/modmirror/modmirror/internal/goenv"
	"github.com/modmirror/modmirror/internal/netrc"
	"github.com/modmirror/modmirror/upstream"
)

// verifyJobs is how many go.sum lines are checked at once.
const verifyJobs = 16

type verifyCommand struct {
	sumdb   string
	proxy   string
	netrc   string
	cache   string
	nosumdb string

	// stdout defaults to os.Stdout; tests set it.
	stdout io.Writer
}

func (c *verifyCommand) flags() *commandFlags {
	fs := newFlags("verify", "modmirror verify [flags] [go.sum ...]", `
Checks every line of the go.sum files (default ./go.sum) against the checksum
database, verifying what the database says (signed tree heads, inclusion
proofs) as the go command does. Prints each line whose hash differs from the
database's, or that the database does not know, then a summary.

Lines for golang.org/toolchain and for modules matching --nosumdb are skipped.
Exits with status 1 if any line does not match, is missing or is malformed,
or if the database cannot be reached or misbehaves.`)
	fs.StringVar(&c.sumdb, "sumdb", defaultSumDB(), "checksum database to check against, as GOSUMDB: a known `name`, or a verifier key (name+hash+key), optionally followed by a space and the database's URL; default $GOSUMDB")
	fs.StringVar(&c.proxy, "proxy", defaultUpstream(), "proxies in GOPROXY `syntax` through whose /sumdb/<name>/ endpoint the database is read, unless --sumdb gives its URL; default $GOPROXY")
	fs.StringVar(&c.netrc, "netrc", netrc.DefaultFile(), "credentials for the proxy or the database, a .netrc `file` (sent over HTTPS only, to the host they name); default $NETRC or ~/.netrc")
	fs.StringVar(&c.cache, "cache", defaultVerifyCache(), "`directory` keeping verified records and tiles, and the latest verified tree head, so that a database that forks its log is caught on a later run")
	fs.StringVar(&c.nosumdb, "nosumdb", joinPatterns(goenv.Get("GONOSUMDB"), goenv.Get("GOPRIVATE")), "module path `patterns` (GOPRIVATE syntax) whose lines are skipped; default $GONOSUMDB,$GOPRIVATE")
	return fs
}

// The outcome of checking one go.sum line.
type sumStatus int

const (
	sumPending   sumStatus = iota // to be checked, or not checked after a failure
	sumOK                         // the database has the same hash
	sumMismatch                   // the database has another hash
	sumMissing                    // the database does not know the version
	sumSkipped                    // not for this database to check
	sumMalformed                  // not a go.sum line
	sumFailed                     // the check itself failed
)

// A sumLine is one line of a go.sum file and the outcome of its check.
type sumLine struct {
	file string
	line int
	// path and version of the line; version ends in "/go.mod" for the
	// go.mod hash.
	path, version, hash string

	status sumStatus
	detail string // sumMismatch: the database's hash; sumMalformed: why
	err    error  // sumFailed
}

func (l *sumLine) pos() string { return fmt.Sprintf("%s:%d", l.file, l.line) }

// Run checks the go.sum files named by args.
func (c *verifyCommand) Run(ctx context.Context, args []string) error {
	if c.stdout == nil {
		c.stdout = os.Stdout
	}
	files, err := c.flags().parse(args, anyArgs)
	if err != nil {
		return err
	}
	if len(files) == 0 {
		files = []string{"go.sum"}
	}
	db, err := parseSumDB(c.sumdb)
	if err != nil {
		return usageError{err: fmt.Errorf("--sumdb: %w", err)}
	}
	if c.cache == "" {
		return usageError{err: errors.New("no cache directory: set --cache, $XDG_CACHE_HOME or $HOME")}
	}
	var lines []*sumLine
	for _, file := range files {
		ls, err := readGoSumLines(file)
		if err != nil {
			return err
		}
		lines = append(lines, ls...)
	}
	nosumdb, err := parsePatterns("nosumdb", c.nosumdb)
	if err != nil {
		return err
	}
	toCheck := 0
	for _, l := range lines {
		if l.status != sumPending {
			continue
		}
		// Toolchain modules never belong in go.sum (the go command checks
		// them against the database directly); hashes of kinds other than
		// h1: are ignored, as the go command ignores them.
		if l.path == "golang.org/toolchain" || nosumdb.Match(l.path) || !strings.HasPrefix(l.hash, "h1:") {
			l.status = sumSkipped
			continue
		}
		toCheck++
	}

	if toCheck > 0 {
		remote, err := db.remote(c.proxy, c.netrc)
		if err != nil {
			return usageError{err: fmt.Errorf("--proxy: %w", err)}
		}
		rec := &lookupRecorder{Remote: remote}
		if _, _, err := db.readLatest(ctx, rec); err != nil {
			return err
		}
		store, err := fsstore.New(filepath.Join(c.cache, "store"))
		if err != nil {
			return err
		}
		v, err := checksum.NewVerifier(checksum.Config{
			Name:     db.name,
			Key:      db.key,
			Remote:   rec,
			Store:    store,
			StateDir: filepath.Join(c.cache, "state"),
			// Whatever goes wrong comes back from Check.
			Logger: slog.New(slog.DiscardHandler),
		})
		if err != nil {
			return err
		}
		failure := checkSumLines(ctx, v, rec, lines)
		v.Close()
		if failure != nil {
			// Print what was established before the failure, but no
			// summary: the lines after it may not have been checked.
			c.report(db, lines)
			return failure
		}
	}

	n := c.report(db, lines)
	fmt.Fprintf(c.stdout, "%d lines checked, %d mismatches, %d missing, %d skipped, %d malformed\n",
		n[sumOK]+n[sumMismatch]+n[sumMissing], n[sumMismatch], n[sumMissing], n[sumSkipped], n[sumMalformed])
	if n[sumMismatch]+n[sumMissing]+n[sumMalformed] > 0 {
		return fmt.Errorf("go.sum does not check against checksum database %s: %d mismatches, %d missing, %d malformed",
			db.name, n[sumMismatch], n[sumMissing], n[sumMalformed])
	}
	return nil
}

// report prints the lines that did not check, in order, and returns how
// many lines there are of each status.
func (c *verifyCommand) report(db sumdbSetting, lines []*sumLine) map[sumStatus]int {
	n := make(map[sumStatus]int)
	for _, l := range lines {
		n[l.status]++
		switch l.status {
		case sumMismatch:
			fmt.Fprintf(c.stdout, "%s: %s %s: go.sum has %s, checksum database %s has %s\n",
				l.pos(), l.path, l.version, l.hash, db.name, l.detail)
		case sumMissing:
			fmt.Fprintf(c.stdout, "%s: %s %s: not in checksum database %s\n", l.pos(), l.path, l.version, db.name)
		case sumMalformed:
			fmt.Fprintf(c.stdout, "%s: malformed go.sum line: %s\n", l.pos(), l.detail)
		}
	}
	return n
}

// checkSumLines checks the pending lines against v, verifyJobs at a time,
// and sets their status. If a check fails for any reason other than a
// mismatch or a missing version, the remaining checks are stopped, and the
// first failure is returned, naming its go.sum line.
func checkSumLines(ctx context.Context, v *checksum.Verifier, rec *lookupRecorder, lines []*sumLine) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		once    sync.Once
		failure error
		wg      sync.WaitGroup
	)
	sem := make(chan struct{}, verifyJobs)
	for _, l := range lines {
		if l.status != sumPending {
			continue
		}
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
		wg.Go(func() {
			defer func() { <-sem }()
			err := v.Check(ctx, l.path, l.version, l.hash)
			l.classify(err, v.Name(), rec)
			if l.status == sumFailed {
				once.Do(func() {
					failure = fmt.Errorf("%s: %w", l.pos(), l.err)
					cancel()
				})
			}
		})
	}
	wg.Wait()
	if failure == nil && ctx.Err() != nil {
		// The caller's context ended.
		failure = context.Cause(ctx)
	}
	return failure
}

// classify sets the status of l from the error of its check against the
// database name.
func (l *sumLine) classify(err error, name string, rec *lookupRecorder) {
	switch {
	case err == nil:
		l.status = sumOK
	case errors.Is(err, modmirror.ErrSecurity) && strings.Contains(err.Error(), ": checksum mismatch\n"):
		// An authenticated record with another hash. A misbehaving
		// database (a forked log, a bad proof) is a security error too,
		// but one that says nothing about this line.
		l.status = sumMismatch
		l.detail = databaseHash(err, name)
	case !errors.Is(err, modmirror.ErrSecurity) && rec.notFound(l.path, l.version):
		l.status = sumMissing
	default:
		l.status = sumFailed
		l.err = err
	}
}

// databaseHash returns the hash that a checksum mismatch error from
// checksum.Verifier.Check says the database name has, in the go command's
// form: a line "\t<name>: <hash>".
func databaseHash(err error, name string) string {
	for _, line := range strings.Split(err.Error(), "\n") {
		if h, ok := strings.CutPrefix(line, "\t"+name+": "); ok {
			return h
		}
	}
	return "a different hash"
}

// maxGoSum bounds the size of a go.sum file read: large ones have a few
// thousand lines.
const maxGoSum = 64 << 20

// readGoSumLines reads the lines of a go.sum file. A line that is not
// "<path> <version>[/go.mod] <alg>:<hash>" is returned with status
// sumMalformed; every other line is pending.
func readGoSumLines(file string) ([]*sumLine, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxGoSum+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxGoSum {
		return nil, fmt.Errorf("%s: too large: more than %d bytes", file, maxGoSum)
	}
	var lines []*sumLine
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, 1<<20)
	for n := 1; sc.Scan(); n++ {
		fields := strings.Fields(sc.Text())
		if len(fields) == 0 {
			continue
		}
		l := &sumLine{file: file, line: n}
		lines = append(lines, l)
		if len(fields) != 3 {
			l.status, l.detail = sumMalformed, fmt.Sprintf("%d fields, want 3", len(fields))
			continue
		}
		l.path, l.version, l.hash = fields[0], fields[1], fields[2]
		if err := module.Check(l.path, strings.TrimSuffix(l.version, "/go.mod")); err != nil {
			l.status, l.detail = sumMalformed, err.Error()
			continue
		}
		if alg, h, ok := strings.Cut(l.hash, ":"); !ok || alg == "" || h == "" {
			l.status, l.detail = sumMalformed, fmt.Sprintf("%s: malformed hash %q", l.path, l.hash)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	return lines, nil
}

// A sumdbSetting is a parsed GOSUMDB value.
type sumdbSetting struct {
	name     string
	key      string
	verifier note.Verifier
	// url is where the database is read from directly; if nil, it is
	// read through the proxies' /sumdb/<name>/ endpoints.
	url *url.URL
}

// parseSumDB parses a GOSUMDB-style setting: a known name or a verifier key,
// optionally followed by a space and the URL of the database, as the go
// command reads it (cmd/go/internal/modfetch/sumdb.go).
func parseSumDB(setting string) (sumdbSetting, error) {
	setting = strings.TrimSpace(setting)
	switch setting {
	case "off":
		return sumdbSetting{}, errors.New("off: there is no checksum database to check against")
	case "sum.golang.google.cn":
		// What the go command makes of it.
		setting = "sum.golang.org https://sum.golang.google.cn"
	}
	fields := strings.Fields(setting)
	if len(fields) > 2 {
		return sumdbSetting{}, fmt.Errorf("%q: too many fields", setting)
	}
	if len(fields) == 0 {
		return sumdbSetting{}, errors.New("empty setting")
	}
	name, key, err := sumdbKey(fields[0])
	if err != nil {
		return sumdbSetting{}, err
	}
	nv, err := note.NewVerifier(key)
	if err != nil {
		return sumdbSetting{}, fmt.Errorf("%q: verifier key: %v", fields[0], err)
	}
	// The name becomes part of URLs and file names: host[/path], as the
	// go command requires.
	if u, err := url.Parse("https://" + name); err != nil || u.Host == "" || strings.HasSuffix(name, "/") ||
		*u != (url.URL{Scheme: "https", Host: u.Host, Path: u.Path}) || !fs.ValidPath(name) || strings.Contains(name, `\`) {
		return sumdbSetting{}, fmt.Errorf("invalid checksum database name (must be host[/path]): %q", name)
	}
	s := sumdbSetting{name: name, key: key, verifier: nv}
	if len(fields) == 2 {
		u, err := url.Parse(fields[1])
		if err != nil {
			if uerr, ok := err.(*url.Error); ok {
				err = uerr.Err // it repeats the URL, password included
			}
			return sumdbSetting{}, fmt.Errorf("malformed checksum database URL: %v", err)
		}
		if (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" ||
			u.Opaque != "" || u.RawQuery != "" || u.ForceQuery || u.Fragment != "" {
			return sumdbSetting{}, fmt.Errorf("invalid checksum database URL (must be http or https, with no query): %s", u.Redacted())
		}
		u.Path = strings.TrimRight(u.Path, "/")
		u.RawPath = strings.TrimRight(u.RawPath, "/")
		s.url = u
	}
	return s, nil
}

// remote returns where the database is read from: its URL if the setting
// has one, else the proxies of the GOPROXY list proxies.
//
// Credentials for the proxy or the database's URL come from the .netrc
// file netrcFile (if not empty; a missing file is no error), sent only over
// HTTPS and only to the host they name, as the go command sends them: a
// mirror that serves private modules to its token holders answers their
// lookups only with a token.
func (s sumdbSetting) remote(proxies, netrcFile string) (checksum.Remote, error) {
	client := upstream.NewClient()
	if netrcFile != "" {
		data, err := os.ReadFile(netrcFile)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("--netrc: %w", err)
		}
		client.Transport = &netrc.Transport{Base: client.Transport, Lines: netrc.Parse(string(data))}
	}
	if s.url != nil {
		return &urlRemote{base: s.url, client: client}, nil
	}
	return upstream.Parse(proxies, upstream.Options{Client: client, UserAgent: "modmirror/" + version()})
}

// readLatest reads the database's signed tree head through r and checks its
// signature, so that a database that cannot be reached, a proxy that does
// not proxy it, or a wrong key fail once, plainly, rather than as a failure
// of every lookup.
func (s sumdbSetting) readLatest(ctx context.Context, r checksum.Remote) ([]byte, *note.Note, error) {
	msg, err := r.ReadSumDB(ctx, s.name, "/latest")
	if err != nil {
		return nil, nil, fmt.Errorf("checksum database %s could not be reached: %w", s.name, err)
	}
	n, err := note.Open(msg, note.VerifierList(s.verifier))
	if err != nil {
		return nil, nil, fmt.Errorf("checksum database %s: its signed tree head does not verify with key %s: %v", s.name, s.key, err)
	}
	return msg, n, nil
}

// A lookupRecorder is a Remote that remembers which lookups the database
// answered with "not found", so that a version the database does not know
// can be told apart from a database that could not be asked.
type lookupRecorder struct {
	checksum.Remote
	missing sync.Map // remote lookup path -> true
}

func (r *lookupRecorder) ReadSumDB(ctx context.Context, name, path string) ([]byte, error) {
	data, err := r.Remote.ReadSumDB(ctx, name, path)
	if err != nil && errors.Is(err, fs.ErrNotExist) && strings.HasPrefix(path, "/lookup/") {
		r.missing.Store(path, true)
	}
	return data, err
}

// notFound reports whether the database answered "not found" for the
// lookup of path@version (version perhaps ending in "/go.mod").
func (r *lookupRecorder) notFound(path, version string) bool {
	epath, err := module.EscapePath(path)
	if err != nil {
		return false
	}
	evers, err := module.EscapeVersion(strings.TrimSuffix(version, "/go.mod"))
	if err != nil {
		return false
	}
	_, ok := r.missing.Load("/lookup/" + epath + "@" + evers)
	return ok
}

// maxSumDBFile caps what is read from a checksum database: a tile holds at
// most 256 hashes or records, a lookup one record and a signed tree head.
const maxSumDBFile = 4 << 20

// A urlRemote reads a checksum database from its own URL, bypassing any
// proxy, as the go command does for GOSUMDB="<key> <url>": the file <path>
// is <url><path>.
type urlRemote struct {
	base   *url.URL // without a trailing slash
	client *http.Client
}

func (r *urlRemote) ReadSumDB(ctx context.Context, name, path string) ([]byte, error) {
	if !validSumDBPath(path) {
		return nil, fmt.Errorf("checksum database %s: %w: invalid path %q", name, modmirror.ErrInvalid, path)
	}
	u := *r.base
	u.Path = r.base.Path + path
	u.RawPath = r.base.EscapedPath() + path // path needs no escaping
	shown := u.Redacted()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, fmt.Errorf("checksum database %s: reading %s: %v", name, shown, err)
	}
	req.Header.Set("User-Agent", "modmirror/"+version())
	resp, err := r.client.Do(req)
	if err != nil {
		var uerr *url.Error
		if errors.As(err, &uerr) {
			err = uerr.Err // it repeats the URL, password included
		}
		return nil, fmt.Errorf("checksum database %s: reading %s: %w", name, shown, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		status := resp.Status
		if why := firstLine(resp); why != "" {
			status += ": " + why
		}
		if resp.StatusCode == http.StatusNotFound || resp.StatusCode == http.StatusGone {
			return nil, modmirror.NotFound("checksum database %s: reading %s: %s", name, shown, status)
		}
		return nil, fmt.Errorf("checksum database %s: reading %s: %s", name, shown, status)
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxSumDBFile+1))
	if err != nil {
		return nil, fmt.Errorf("checksum database %s: reading %s: %w", name, shown, err)
	}
	if len(data) > maxSumDBFile {
		return nil, fmt.Errorf("checksum database %s: reading %s: response too large: more than %d bytes", name, shown, maxSumDBFile)
	}
	return data, nil
}

// validSumDBPath reports whether path is a checksum database file path that
// can be appended to a URL as it is: "/latest", "/lookup/<escaped
// path>@<escaped version>", "/tile/...".
func validSumDBPath(path string) bool {
	if !strings.HasPrefix(path, "/") || !fs.ValidPath(path[1:]) {
		return false
	}
	for i := 0; i < len(path); i++ {
		c := path[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("-._~!$&'()*+,;=:@/", c) >= 0) {
			return false
		}
	}
	return true
}

// firstLine returns the first line of a plain-text error response, if it
// is short and printable.
func firstLine(resp *http.Response) string {
	if !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") {
		return ""
	}
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<10))
	line, _, _ := strings.Cut(string(data), "\n")
	line = strings.TrimSpace(line)
	if len(line) > 200 {
		return ""
	}
	for _, r := range line {
		if !unicode.IsPrint(r) {
			return ""
		}
	}
	return line
}

// defaultVerifyCache is $XDG_CACHE_HOME/modmirror/verify, else the user's
// cache directory's modmirror/verify.
func defaultVerifyCache() string {
	if d := os.Getenv("XDG_CACHE_HOME"); d != "" {
		return filepath.Join(d, "modmirror", "verify")
	}
	if d, err := os.UserCacheDir(); err == nil {
		return filepath.Join(d, "modmirror", "verify")
	}
	return ""
}
