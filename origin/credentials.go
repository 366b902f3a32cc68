package origin

import (
	"encoding/base64"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/modmirror/modmirror/internal/netrc"
)

// defaultTokenUser is the user name sent with a token that names none. Code
// hosts that take a token as an HTTP basic-auth password (GitHub, GitLab,
// Gitea) accept any user name with it.
const defaultTokenUser = "x-access-token"

// credentials are the user names and passwords the operator configured for
// origin hosts: a .netrc file, re-read when it changes, and tokens by host.
// They are only ever looked up for the host a request goes to.
type credentials struct {
	file   string
	tokens map[string]credential // by host or host:port, lower case
	log    *slog.Logger

	mu      sync.Mutex
	modTime time.Time
	size    int64
	netrc   []netrc.Line
}

type credential struct{ user, password string }

// newCredentials reads the netrc file (if file is not empty) and checks the
// tokens. A token may be "user:secret" to name its user.
func newCredentials(file string, tokens map[string]string, log *slog.Logger) (*credentials, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	c := &credentials{file: file, tokens: make(map[string]credential), log: log}
	for host, token := range tokens {
		if host == "" || strings.ContainsAny(host, "/ \t\r\n") {
			return nil, fmt.Errorf("origin: token for invalid host %q", host)
		}
		cred := credential{user: defaultTokenUser, password: token}
		if user, secret, ok := strings.Cut(token, ":"); ok && user != "" {
			cred = credential{user: user, password: secret}
		}
		if !validSecret(cred.user) || !validSecret(cred.password) {
			return nil, fmt.Errorf("origin: token for host %s is empty or contains white space or control characters", host)
		}
		c.tokens[strings.ToLower(host)] = cred
	}
	if file != "" {
		if err := c.reload(true); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// validSecret reports whether s can be handed to git's credential protocol,
// which is line-oriented.
func validSecret(s string) bool {
	return s != "" && !strings.ContainsFunc(s, func(r rune) bool { return r <= ' ' || r == 0x7f })
}

// reload re-reads the netrc file if it changed since it was last read. At
// startup (first) a missing or unreadable file is an error; later, the last
// good contents are kept and the problem is logged.
func (c *credentials) reload(first bool) error {
	st, err := os.Stat(c.file)
	if err == nil && !first && st.ModTime().Equal(c.modTime) && st.Size() == c.size {
		return nil
	}
	var data []byte
	if err == nil {
		data, err = os.ReadFile(c.file)
	}
	if err != nil {
		if first {
			return fmt.Errorf("origin: reading credentials: %w", err)
		}
		c.log.Warn("cannot re-read the credentials file; keeping the credentials read before", "file", c.file, "err", err)
		return nil
	}
	c.netrc = netrc.Parse(string(data))
	c.modTime, c.size = st.ModTime(), st.Size()
	return nil
}

// lookup returns the credentials configured for the host of u: a token for
// its host:port or host, else the first netrc entry whose machine is its
// host (or host:port). The netrc "default" entry is ignored, as in the go
// command: it would send a password to every host.
func (c *credentials) lookup(u *url.URL) (user, password string, ok bool) {
	if c == nil || u == nil || u.Host == "" {
		return "", "", false
	}
	hostPort := strings.ToLower(u.Host)
	host := strings.ToLower(u.Hostname())
	if cred, ok := c.tokens[hostPort]; ok {
		return cred.user, cred.password, true
	}
	if cred, ok := c.tokens[host]; ok {
		return cred.user, cred.password, true
	}
	if c.file == "" {
		return "", "", false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.reload(false)
	if l, ok := netrc.Find(c.netrc, u); ok {
		return l.Login, l.Password, true
	}
	return "", "", false
}

// urlPassword matches the password of a URL's user information.
var urlPassword = regexp.MustCompile(`(://[^/@\s:]*):[^/@\s]*@`)

// redact removes every configured secret from s, in clear and as HTTP basic
// authentication, and any password written into a URL.
func (c *credentials) redact(s string) string {
	s = urlPassword.ReplaceAllString(s, "$1:xxxxx@")
	if c == nil {
		return s
	}
	var secrets []credential
	for _, cred := range c.tokens {
		secrets = append(secrets, cred)
	}
	c.mu.Lock()
	for _, l := range c.netrc {
		secrets = append(secrets, credential{user: l.Login, password: l.Password})
	}
	c.mu.Unlock()
	for _, cred := range secrets {
		if cred.password == "" {
			continue
		}
		s = strings.ReplaceAll(s, base64.StdEncoding.EncodeToString([]byte(cred.user+":"+cred.password)), "xxxxx")
		s = strings.ReplaceAll(s, cred.password, "xxxxx")
	}
	return s
}

// authTransport adds basic authentication to each request whose host has
// credentials, checking every request of a redirect chain on its own, so
// that a redirect never carries credentials to another host. Plain http
// gets credentials only for hosts the configuration marks insecure.
type authTransport struct {
	base     http.RoundTripper
	creds    *credentials
	insecure func(host string) bool
}

func (t *authTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Header.Get("Authorization") == "" && (req.URL.Scheme == "https" || t.insecure(req.URL.Hostname())) {
		if user, password, ok := t.creds.lookup(req.URL); ok {
			req = req.Clone(req.Context())
			req.SetBasicAuth(user, password)
		}
	}
	return t.base.RoundTrip(req)
}
