package upstream

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/modmirror/modmirror"
	"github.com/modmirror/modmirror/internal/via"
)

// Limits on the error text taken from a failed response, like the go
// command's: a few lines of plain text.
const (
	maxErrorBody        = 4 << 10
	maxErrorDetailLines = 8
	maxErrorDetailBytes = maxErrorDetailLines * 81
)

// readAll reads the whole file rel (relative to the base URL, unescaped) of at
// most limit bytes. Every error it returns is wrapped by wrap.
func (p *Proxy) readAll(ctx context.Context, kind, rel string, limit int64, wrap func(error) error) ([]byte, error) {
	body, err := p.open(ctx, kind, rel, limit, wrap)
	if err != nil {
		return nil, err
	}
	defer body.Close()
	data, err := io.ReadAll(io.LimitReader(body, limit+1))
	if err != nil {
		return nil, err // wrapped by body
	}
	if int64(len(data)) > limit {
		return nil, body.finish(fmt.Errorf("reading %s: response too large: more than %d bytes", p.fileURL(rel), limit))
	}
	return data, nil
}

// open starts reading the file rel (relative to the base URL, unescaped). It
// fails if the file is known to be larger than limit. Every error it returns,
// including those from reading the body, is wrapped by wrap.
func (p *Proxy) open(ctx context.Context, kind, rel string, limit int64, wrap func(error) error) (*observedBody, error) {
	b := &observedBody{
		proxy: p,
		fetch: Fetch{Upstream: p.redacted, Kind: kind},
		start: time.Now(),
		wrap:  wrap,
		url:   p.fileURL(rel),
	}
	var err error
	if p.fsys != nil {
		b.body, err = p.openFile(b, rel, limit)
	} else {
		b.body, err = p.get(ctx, b, rel, limit)
	}
	if err != nil {
		return nil, b.finish(err)
	}
	return b, nil
}

// get sends the request for b and returns the body of a 200 response,
// which fails if it goes Options.IdleTimeout without a byte.
func (p *Proxy) get(ctx context.Context, b *observedBody, rel string, limit int64) (_ io.ReadCloser, err error) {
	ctx, cancel := context.WithCancelCause(ctx)
	defer func() {
		if err != nil {
			cancel(nil)
		}
	}()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.join(rel).String(), nil)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %v", b.url, err)
	}
	req.Header.Set("User-Agent", p.opts.UserAgent)
	if p.opts.Via != "" {
		req.Header.Set("Via", via.Header(ctx, p.opts.Via))
	}
	resp, err := p.opts.Client.Do(req)
	if err != nil {
		// The *url.Error repeats the URL, with the password but not the
		// username redacted; name it once, our way.
		var uerr *url.Error
		if errors.As(err, &uerr) {
			err = uerr.Err
		}
		return nil, fmt.Errorf("reading %s: %w", b.url, err)
	}
	b.fetch.Status = resp.StatusCode
	if resp.StatusCode != http.StatusOK {
		defer resp.Body.Close()
		return nil, statusError(b, resp)
	}
	if resp.ContentLength > limit {
		resp.Body.Close()
		return nil, fmt.Errorf("reading %s: response too large: %d bytes, limit %d", b.url, resp.ContentLength, limit)
	}
	return newIdleBody(resp.Body, p.opts.IdleTimeout, ctx, cancel), nil
}

// An idleBody is a response body whose request is cancelled when no byte
// arrives for a while.
type idleBody struct {
	body    io.ReadCloser
	timeout time.Duration
	timer   *time.Timer
	ctx     context.Context
	cancel  context.CancelCauseFunc
}

// errStalled is the cause of a request cancelled by its idleBody.
var errStalled = errors.New("upstream stalled")

func newIdleBody(body io.ReadCloser, timeout time.Duration, ctx context.Context, cancel context.CancelCauseFunc) *idleBody {
	b := &idleBody{body: body, timeout: timeout, ctx: ctx, cancel: cancel}
	b.timer = time.AfterFunc(timeout, func() { cancel(errStalled) })
	return b
}

func (b *idleBody) Read(p []byte) (int, error) {
	n, err := b.body.Read(p)
	if n > 0 {
		b.timer.Reset(b.timeout)
	}
	if err != nil && err != io.EOF && context.Cause(b.ctx) == errStalled {
		err = fmt.Errorf("no data for %v: the upstream stalled", b.timeout)
	}
	return n, err
}

func (b *idleBody) Close() error {
	b.timer.Stop()
	err := b.body.Close()
	b.cancel(nil)
	return err
}

// openFile opens the file for b in a file:// proxy. A missing file is a 404,
// as in the go command.
func (p *Proxy) openFile(b *observedBody, rel string, limit int64) (io.ReadCloser, error) {
	f, err := p.fsys.Open(rel)
	if err != nil {
		var perr *fs.PathError
		if errors.As(err, &perr) {
			err = perr.Err // perr.Path is the URL's
		}
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
			b.fetch.Status = http.StatusNotFound
			return nil, modmirror.NotFound("reading %s: %v", b.url, err)
		}
		return nil, fmt.Errorf("reading %s: %w", b.url, err)
	}
	fi, err := f.Stat()
	switch {
	case err != nil:
		f.Close()
		return nil, fmt.Errorf("reading %s: %w", b.url, err)
	case fi.IsDir():
		f.Close()
		b.fetch.Status = http.StatusNotFound
		return nil, modmirror.NotFound("reading %s: is a directory", b.url)
	case fi.Size() > limit:
		f.Close()
		b.fetch.Status = http.StatusOK
		return nil, fmt.Errorf("reading %s: file too large: %d bytes, limit %d", b.url, fi.Size(), limit)
	}
	b.fetch.Status = http.StatusOK
	return f, nil
}

// join returns the URL of rel, a slash-separated file name relative to the
// base URL.
func (p *Proxy) join(rel string) *url.URL {
	u := *p.base
	u.Path = p.base.Path + "/" + rel
	u.RawPath = p.base.EscapedPath() + "/" + escapePathURL(rel)
	return &u
}

// fileURL returns the redacted URL of rel for messages.
func (p *Proxy) fileURL(rel string) string {
	return p.join(rel).Redacted()
}

// escapePathURL escapes a slash-separated path for a URL. Unlike
// url.PathEscape it leaves '/', '!' and the other sub-delimiters as they
// are, so escaped module paths such as "github.com/!azure/go" go on the
// wire as the GOPROXY protocol documents them.
func escapePathURL(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9',
			strings.IndexByte("-._~!$&'()*+,;=:@/", c) >= 0:
			b.WriteByte(c)
		default:
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}

// statusError returns the error for a response other than 200 OK: one
// matching fs.ErrNotExist for 403, 404 and 410, with the first line of the
// server's explanation, except a 403 that says a policy blocked the version
// (matching modmirror.ErrBlocked); any other error, with a few lines of it.
func statusError(b *observedBody, resp *http.Response) error {
	status := strconv.Itoa(resp.StatusCode)
	if text := http.StatusText(resp.StatusCode); text != "" {
		status += " " + text
	}
	lines := errorDetail(b, resp.Body, resp.Header.Get("Content-Type"))
	switch resp.StatusCode {
	case http.StatusForbidden:
		if len(lines) > 0 && strings.HasPrefix(lines[0], blockedPrefix) {
			// Another mirror's policy refused the version: not a
			// module it lacks, so not a reason to ask the next entry.
			return &blockedError{fmt.Sprintf("reading %s: %s: %s", b.url, status, lines[0])}
		}
		fallthrough
	case http.StatusNotFound, http.StatusGone:
		// 404 and 410 are the protocol's "not found". 403 is too here: the
		// upstream this mirror is built for answers 403 for modules it does
		// not hold.
		if len(lines) > 0 {
			return modmirror.NotFound("reading %s: %s: %s", b.url, status, lines[0])
		}
		return modmirror.NotFound("reading %s: %s", b.url, status)
	}
	if len(lines) > 0 {
		return fmt.Errorf("reading %s: %s: %s", b.url, status, strings.Join(lines, "\n\t"))
	}
	return fmt.Errorf("reading %s: %s", b.url, status)
}

// blockedPrefix begins the text of a mirror's 403 for a version its
// policy refuses (see package policy).
const blockedPrefix = "blocked by policy '"

// A blockedError is an upstream mirror's refusal of a version by its
// policy. It matches modmirror.ErrBlocked, so this mirror answers 403 with
// the same reason, and not fs.ErrNotExist: after "," the next entry is not
// asked, as the go command would not ask it.
type blockedError struct{ msg string }

func (e *blockedError) Error() string        { return e.msg }
func (e *blockedError) Is(target error) bool { return target == modmirror.ErrBlocked }

// errorDetail reads the start of the error response body for b and returns
// its first lines, if it is plain text in UTF-8 that is safe to print to a
// terminal, as the go command does.
func errorDetail(b *observedBody, body io.Reader, contentType string) []string {
	mediaType, params, _ := mime.ParseMediaType(contentType)
	if mediaType != "text/plain" {
		return nil
	}
	switch strings.ToLower(params["charset"]) {
	case "", "utf-8", "us-ascii":
	default:
		return nil
	}
	data, _ := io.ReadAll(io.LimitReader(body, maxErrorBody))
	b.fetch.Bytes = int64(len(data))
	if len(data) == maxErrorBody {
		// The cut may have split a character.
		for i := 0; i < utf8.UTFMax-1 && len(data) > 0 && !utf8.Valid(data); i++ {
			data = data[:len(data)-1]
		}
	}
	s := string(data)
	if !utf8.ValidString(s) {
		return nil
	}
	for _, r := range s {
		if !unicode.IsGraphic(r) && !unicode.IsSpace(r) {
			return nil
		}
	}
	var lines []string
	size := 0
	for line := range strings.Lines(s) {
		line = strings.TrimRight(line, "\r\n")
		if strings.TrimSpace(line) == "" {
			break
		}
		if len(lines) == maxErrorDetailLines {
			lines = append(lines, "[truncated: too many lines]")
			break
		}
		if size += len(line); size > maxErrorDetailBytes {
			lines = append(lines, "[truncated: too long]")
			break
		}
		lines = append(lines, line)
	}
	return lines
}

// An observedBody is the body of a response that reports its fetch to
// Options.Observe when it ends, and wraps its read errors.
type observedBody struct {
	proxy *Proxy
	url   string // redacted
	wrap  func(error) error
	start time.Time
	body  io.ReadCloser

	mu    sync.Mutex // guards fetch and done, as Close may race with Read
	fetch Fetch
	done  bool
}

func (b *observedBody) Read(p []byte) (int, error) {
	n, err := b.body.Read(p)
	b.mu.Lock()
	b.fetch.Bytes += int64(n)
	b.mu.Unlock()
	switch {
	case err == io.EOF:
		b.report(nil)
	case err != nil:
		// net/http does not say which URL a body read failed for
		// (go.dev/issue/52727).
		err = b.finish(fmt.Errorf("reading %s: %w", b.url, err))
	}
	return n, err
}

// Close closes the body and reports the fetch if it has not been yet.
func (b *observedBody) Close() error {
	err := b.body.Close()
	b.report(nil)
	return err
}

// finish wraps err, reports the fetch as ended with it, and returns it.
func (b *observedBody) finish(err error) error {
	err = b.wrap(err)
	b.report(err)
	return err
}

// report calls the observer once, at the first end of the fetch.
func (b *observedBody) report(err error) {
	b.mu.Lock()
	if b.done {
		b.mu.Unlock()
		return
	}
	b.done = true
	f := b.fetch
	b.mu.Unlock()
	if observe := b.proxy.opts.Observe; observe != nil {
		f.Duration = time.Since(b.start)
		f.Err = err
		observe(f)
	}
}
