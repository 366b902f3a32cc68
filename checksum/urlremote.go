package checksum

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"unicode"

	"github.com/modmirror/modmirror"
	"github.com/modmirror/modmirror/internal/sumdbpath"
)

// maxSumDBFile caps what is read from a checksum database: a tile holds at
// most 256 hashes or records, a lookup one record and a signed tree head.
const maxSumDBFile = 4 << 20

// A URLRemote reads a checksum database from its own URL, bypassing any
// proxy, as the go command does for GOSUMDB="<key> <url>": the file <path>
// is <url><path>.
type URLRemote struct {
	base      *url.URL // without a trailing slash
	client    *http.Client
	userAgent string
}

// NewURLRemote returns a URLRemote for the database at base (as a Setting's
// URL is: no trailing slash), sending requests with client and userAgent.
func NewURLRemote(base *url.URL, client *http.Client, userAgent string) *URLRemote {
	return &URLRemote{base: base, client: client, userAgent: userAgent}
}

// ReadSumDB implements Remote.
func (r *URLRemote) ReadSumDB(ctx context.Context, name, path string) ([]byte, error) {
	if _, err := sumdbpath.Parse(path); err != nil {
		// Only what the protocol defines is appended to the URL.
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
	req.Header.Set("User-Agent", r.userAgent)
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
