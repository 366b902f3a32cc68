// Package access decides who may read what from the mirror: tokens, the
// rules that say which module paths a token may read, and the HTTP
// middleware that applies them in front of the GOPROXY and checksum
// database handlers.
//
// # Tokens
//
// A token is a random secret, "mmt_" followed by 32 random bytes in
// base64url, shown once when it is made. What is stored is its SHA-256 hash,
// with an id (which logs and "modmirror token revoke" use), a name, the
// patterns of the private module paths it may read, and when it was made and
// revoked. Secrets have 256 bits of entropy, so a plain hash is enough: no
// salt or slow hash would make guessing any harder. A request's secret is
// hashed and looked up by its hash, so no comparison of secrets takes a
// time that depends on how much of a secret an attacker got right.
//
// Clients send a token as the password of HTTP Basic authentication (the
// user name is ignored, unless it is the token and the password is not),
// which is what the go command sends for a .netrc entry (GOAUTH=netrc, the
// default), or as "Authorization: Bearer <token>". The go command sends
// credentials only over HTTPS, and matches a .netrc machine against the
// host with its port: "machine mirror.example:8443".
//
// # Rules
//
// Private module paths are those matching the mirror's private patterns
// (GOPRIVATE syntax). With [WithToken] access for them (the default) a
// private path is readable only with a valid token whose patterns match it;
// with [Open] access, as a public path. Public paths are readable by anyone
// with [Open] access (the default), or with any valid token with
// [WithToken] access: a token's patterns do not limit which public modules
// it reads.
//
// Requests that name no module, such as checksum database tiles, /latest
// and /supported, or the index page, follow the rule for public paths. Note
// that the data tiles of the mirror's own checksum database hold the record
// of every module version it logged, private ones included (paths, versions
// and hashes; no content): where those names are secret, give public paths
// WithToken access too.
//
// # Refusals
//
// A private path that a request may not read is answered 404 with the body
// "not found: " + [PrivateNotFound], whether the module exists or not, what
// the mirror answers for a private module that it does not have; the
// checksum database's lookup endpoint answers the same. So a client learns
// nothing about which private modules exist. A public path that needs a
// token, asked without a valid one, is answered 401 with a WWW-Authenticate
// header. Every refusal is logged with the path, the client's address and
// the token's id, if the request had a known token; never a secret.
package access

import (
	"fmt"
	"strings"

	"github.com/modmirror/modmirror"
)

// PrivateNotFound is the message of the 404 answer to every request for a
// private module path that the request may not read. The body is
// "not found: " + PrivateNotFound + "\n", what package proxy answers for a
// modmirror.NotFound(PrivateNotFound) error, so that the mirror can answer a
// private module it does not have with the same bytes.
const PrivateNotFound = modmirror.PrivateNotFound

// Access says what a request needs to read a class of module paths.
type Access string

// The kinds of access.
const (
	// Open paths are readable by anyone (for private paths: by anyone who
	// may read public ones).
	Open Access = "open"
	// WithToken paths are readable only with a valid token (for private
	// paths: one whose patterns match the path).
	WithToken Access = "token"
)

// ParseAccess parses "open" or "token".
func ParseAccess(s string) (Access, error) {
	switch a := Access(strings.TrimSpace(s)); a {
	case Open, WithToken:
		return a, nil
	}
	return "", fmt.Errorf("access: %q is not open or token", s)
}
