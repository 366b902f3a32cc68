package access

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/mod/module"

	"github.com/modmirror/modmirror/internal/activity"
	"github.com/modmirror/modmirror/internal/reqinfo"
	"github.com/modmirror/modmirror/internal/sumdbpath"
	"github.com/modmirror/modmirror/proxy"
)

// Options configures a Handler.
type Options struct {
	// Tokens finds the tokens that requests present; wrap a TokenDB in a
	// Cache. It may be nil only if no path needs a token.
	Tokens Tokens

	// Private reports whether a module path is private, as the mirror's
	// Config.Private does. Nil means no path is private.
	Private func(path string) bool

	// PrivateAccess is what private paths need; empty means WithToken. Open
	// makes them readable as public paths are.
	PrivateAccess Access

	// PublicAccess is what public paths, and requests that name no
	// module, need; empty means Open.
	PublicAccess Access

	// AuditSumDBs are the names of checksum databases whose data tiles
	// list private module paths: the mirror's own. When private paths need
	// a token, those tiles are served only to tokens with Token.Audit;
	// every other request for them gets the private not-found answer.
	AuditSumDBs []string

	// BasePath is the path prefix of the GOPROXY protocol, as in
	// proxy.Options.
	BasePath string

	Logger *slog.Logger

	// Activity, if not nil, gets every refusal, for the status page.
	Activity *activity.Log

	// Usage, if not nil, notes every use of a valid token.
	Usage *Usage

	// Registerer, if not nil, gets the refusal counter
	// modmirror_access_refusals_total{access,reason}.
	Registerer prometheus.Registerer
}

// Handler applies the access rules to requests for a proxy.Handler (or
// anything serving the same paths) and passes on those it allows.
type Handler struct {
	next     http.Handler
	tokens   Tokens
	private  func(string) bool
	privAcc  Access
	pubAcc   Access
	base     string
	audited  []string
	log      *slog.Logger
	activity *activity.Log
	usage    *Usage
	refusals *prometheus.CounterVec
}

// New returns a Handler in front of next.
func New(next http.Handler, opts Options) (*Handler, error) {
	h := &Handler{
		next:    next,
		tokens:  opts.Tokens,
		private: opts.Private,
		privAcc: opts.PrivateAccess,
		pubAcc:  opts.PublicAccess,
		base:    strings.TrimSuffix(opts.BasePath, "/"),
		audited: opts.AuditSumDBs,
		log:     opts.Logger,
	}
	h.activity = opts.Activity
	h.usage = opts.Usage
	if h.private == nil {
		h.private = func(string) bool { return false }
	}
	if h.privAcc == "" {
		h.privAcc = WithToken
	}
	if h.pubAcc == "" {
		h.pubAcc = Open
	}
	for _, a := range []Access{h.privAcc, h.pubAcc} {
		if _, err := ParseAccess(string(a)); err != nil {
			return nil, err
		}
	}
	if h.base != "" && !strings.HasPrefix(h.base, "/") {
		return nil, fmt.Errorf("access: base path %q must start with /", opts.BasePath)
	}
	if h.tokens == nil && (h.privAcc == WithToken && opts.Private != nil || h.pubAcc == WithToken) {
		return nil, errors.New("access: paths need tokens, but there are no Tokens to check them")
	}
	if h.log == nil {
		h.log = slog.New(slog.DiscardHandler)
	}
	h.refusals = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "modmirror_access_refusals_total",
		Help: "Requests refused by access control, by access (private: answered 404, public: 401) and reason (no_token, unknown_token, revoked_token, not_allowed, not_auditor).",
	}, []string{"access", "reason"})
	if opts.Registerer != nil {
		if err := opts.Registerer.Register(h.refusals); err != nil {
			return nil, fmt.Errorf("access: %w", err)
		}
	}
	return h, nil
}

// The reasons for a refusal, as logged and counted.
const (
	reasonNoToken      = "no_token"
	reasonUnknownToken = "unknown_token"
	reasonRevokedToken = "revoked_token"
	reasonNotAllowed   = "not_allowed"
	reasonNotAuditor   = "not_auditor"
)

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	// A data tile of the own checksum database names private modules:
	// it is private to auditors.
	audited := h.privAcc == WithToken && h.auditOnly(r.URL.Path)
	modPath := ""
	if !audited {
		modPath = h.modulePath(r.URL.Path)
	}
	private := audited || modPath != "" && h.private(modPath)
	need := h.pubAcc
	if private && h.privAcc == WithToken {
		need = WithToken
	}
	if need == Open {
		if modPath == "" && !audited {
			// A page or feed, which shows what the reader may see: a
			// valid token that comes along counts.
			if tok, reason, err := h.authenticate(r); err == nil && reason == "" {
				h.used(r, tok)
				r = r.WithContext(context.WithValue(r.Context(), readerKey{}, tok))
			}
		}
		h.next.ServeHTTP(w, r)
		return
	}
	tok, reason, err := h.authenticate(r)
	if err != nil {
		h.log.Error("access: cannot check a token", "path", r.URL.Path, "remote", r.RemoteAddr, "err", err)
		w.Header().Set("Cache-Control", "no-store")
		http.Error(w, "access: cannot check the token now; try again later", http.StatusServiceUnavailable)
		return
	}
	if private && h.privAcc == WithToken {
		switch {
		case reason != "":
		case audited && !tok.Audit:
			reason = reasonNotAuditor
		case !audited && !tok.Allows(modPath):
			reason = reasonNotAllowed
		}
		if reason != "" {
			h.refuse(r, tok, "private", reason, http.StatusNotFound)
			w.Header().Set("Cache-Control", "no-store")
			http.Error(w, "not found: "+PrivateNotFound, http.StatusNotFound)
			return
		}
	} else if reason != "" {
		h.refuse(r, tok, "public", reason, http.StatusUnauthorized)
		w.Header().Set("Cache-Control", "no-store")
		w.Header().Set("WWW-Authenticate", `Basic realm="modmirror"`)
		msg := "unauthorized: this mirror serves only clients with a token (a .netrc password, or Authorization: Bearer)"
		if reason != reasonNoToken {
			msg = "unauthorized: the token is unknown or revoked"
		}
		http.Error(w, msg, http.StatusUnauthorized)
		return
	}
	h.log.Debug("access granted", "path", r.URL.Path, "token", tok.ID)
	h.used(r, tok)
	// What a token was needed for must not be kept by shared caches for
	// others, whatever Cache-Control the protocol handler gives it.
	r = r.WithContext(context.WithValue(r.Context(), readerKey{}, tok))
	h.next.ServeHTTP(&privateCaching{ResponseWriter: w}, r)
}

// used notes a use of a valid token.
func (h *Handler) used(r *http.Request, tok Token) {
	reqinfo.SetToken(r.Context(), tok.Name)
	if h.usage != nil && tok.ID != "" {
		h.usage.Note(tok.ID)
	}
}

// readerKey is the context key of the valid token a request presented.
type readerKey struct{}

// TokenOf returns the valid token that a request passed by a Handler
// presented, if any.
func TokenOf(r *http.Request) (Token, bool) {
	tok, ok := r.Context().Value(readerKey{}).(Token)
	return tok, ok
}

// CanSee reports whether the reader of a request that the Handler passed
// may learn that a module path exists: a public path, or a private one
// that private access leaves open or that the request's token allows. A
// page or feed that lists module paths asks it of each one.
func (h *Handler) CanSee(r *http.Request, path string) bool {
	if !h.private(path) || h.privAcc == Open {
		return true
	}
	tok, ok := TokenOf(r)
	return ok && tok.Allows(path)
}

// auditOnly reports whether a URL path asks for a data tile of an audited
// checksum database, in any reading of the path (names may have slashes).
func (h *Handler) auditOnly(urlPath string) bool {
	rest, ok := strings.CutPrefix(urlPath, h.base+"/sumdb/")
	if !ok {
		return false
	}
	for _, name := range h.audited {
		if sub, ok := strings.CutPrefix(rest, name+"/"); ok && strings.HasPrefix(sub, "tile/") && strings.Contains(sub, "/data/") {
			return true
		}
	}
	return false
}

// authenticate returns the token a request presents, or why it presents
// none that is valid.
func (h *Handler) authenticate(r *http.Request) (Token, string, error) {
	secret, ok := credential(r)
	if !ok {
		return Token{}, reasonNoToken, nil
	}
	if !maybeSecret(secret) {
		return Token{}, reasonUnknownToken, nil
	}
	tok, err := h.tokens.Lookup(r.Context(), HashSecret(secret))
	switch {
	case errors.Is(err, ErrUnknownToken):
		return Token{}, reasonUnknownToken, nil
	case err != nil:
		return Token{}, "", err
	case !tok.Valid():
		return tok, reasonRevokedToken, nil
	}
	return tok, "", nil
}

func (h *Handler) refuse(r *http.Request, tok Token, access, reason string, status int) {
	h.refusals.WithLabelValues(access, reason).Inc()
	if h.activity != nil {
		h.activity.AddRefusal(activity.Refusal{Time: time.Now(), Path: h.modulePath(r.URL.Path), URL: r.URL.Path, Reason: reason, Status: status})
	}
	level := slog.LevelInfo
	if reason == reasonUnknownToken || reason == reasonRevokedToken {
		level = slog.LevelWarn
	}
	attrs := []any{"path", r.URL.Path, "remote", r.RemoteAddr, "status", status, "reason", reason}
	if tok.ID != "" {
		attrs = append(attrs, "token", tok.ID)
	}
	h.log.Log(r.Context(), level, "access refused", attrs...)
}

// credential returns the secret a request presents: the password of Basic
// authentication (or its user name, for clients that put tokens there) or
// a Bearer token. ok is false if the request has no Authorization header;
// one that holds neither gives an empty secret.
func credential(r *http.Request) (secret string, ok bool) {
	auth := r.Header.Get("Authorization")
	if auth == "" {
		return "", false
	}
	if user, pass, ok := r.BasicAuth(); ok {
		if !maybeSecret(pass) && maybeSecret(user) {
			return user, true
		}
		return pass, true
	}
	scheme, rest, _ := strings.Cut(auth, " ")
	if strings.EqualFold(scheme, "Bearer") {
		return strings.TrimSpace(rest), true
	}
	return "", true
}

// modulePath returns the module path that a request's URL path names, or
// "" if it names none. It understands the GOPROXY protocol below the base
// path (parsed by proxy.ParseRequest, as the proxy does) and checksum
// database lookups below <base>/sumdb/<name>/ (parsed by sumdbpath.Parse).
// A path that those reject but that still names a module, such as
// "<module>/@v/<bad version>.zip", gives that module too, so that what
// callers learn about private paths does not depend on how well they spell
// requests.
func (h *Handler) modulePath(urlPath string) string {
	p, ok := strings.CutPrefix(urlPath, h.base+"/")
	if !ok {
		return ""
	}
	if rest, ok := strings.CutPrefix(p, "sumdb/"); ok {
		return h.lookupPath(rest)
	}
	if req, err := proxy.ParseRequest(p); err == nil {
		return req.Path
	}
	if esc, ok := strings.CutSuffix(p, "/@latest"); ok {
		if path := unescape(esc); path != "" {
			return path
		}
	}
	if esc, _, ok := strings.Cut(p, "/@v/"); ok {
		return unescape(esc)
	}
	return ""
}

// lookupPath returns the module path that a checksum database request
// names, rest being the path after "sumdb/": "<name>/lookup/<module>@...".
// Database names may have slashes ("corp.example/sumdb"), so every reading
// of rest as a name and a path is tried, and a private module path, if any
// reading names one, is what it returns: a request is never let through
// for reading it the wrong way.
func (h *Handler) lookupPath(rest string) string {
	found := ""
	for i := strings.IndexByte(rest, '/'); i >= 0; i = nextSlash(rest, i) {
		sub := rest[i:]
		path := ""
		if req, err := sumdbpath.Parse(sub); err == nil {
			if req.Kind == sumdbpath.Lookup {
				path = req.Mod.Path
			}
		} else if esc, ok := strings.CutPrefix(sub, "/lookup/"); ok {
			esc, _, _ = strings.Cut(esc, "@")
			path = unescape(esc)
		}
		if path == "" {
			continue
		}
		if h.private(path) {
			return path
		}
		if found == "" {
			found = path
		}
	}
	return found
}

// nextSlash returns the index of the next '/' in s after i, or -1.
func nextSlash(s string, i int) int {
	j := strings.IndexByte(s[i+1:], '/')
	if j < 0 {
		return -1
	}
	return i + 1 + j
}

func unescape(esc string) string {
	path, err := module.UnescapePath(esc)
	if err != nil {
		return ""
	}
	return path
}

// privateCaching turns Cache-Control "public" into "private" when the
// response starts. It passes ReadFrom through, so that files are still
// sent with sendfile(2).
type privateCaching struct {
	http.ResponseWriter
	done bool
}

func (w *privateCaching) fix() {
	if w.done {
		return
	}
	w.done = true
	hdr := w.Header()
	if cc := hdr.Get("Cache-Control"); cc != "" {
		parts := strings.Split(cc, ",")
		for i, p := range parts {
			if strings.EqualFold(strings.TrimSpace(p), "public") {
				parts[i] = strings.Replace(p, strings.TrimSpace(p), "private", 1)
			}
		}
		hdr.Set("Cache-Control", strings.Join(parts, ","))
	}
}

func (w *privateCaching) WriteHeader(code int) {
	w.fix()
	w.ResponseWriter.WriteHeader(code)
}

func (w *privateCaching) Write(b []byte) (int, error) {
	w.fix()
	return w.ResponseWriter.Write(b)
}

func (w *privateCaching) ReadFrom(r io.Reader) (int64, error) {
	w.fix()
	if rf, ok := w.ResponseWriter.(io.ReaderFrom); ok {
		return rf.ReadFrom(r)
	}
	return io.Copy(w.ResponseWriter, r)
}

func (w *privateCaching) Unwrap() http.ResponseWriter { return w.ResponseWriter }
