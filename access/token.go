package access

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"time"

	"github.com/modmirror/modmirror"
	"golang.org/x/mod/module"
)

// SecretPrefix begins every token secret, so that secret scanners and
// people can tell one when they see it.
const SecretPrefix = "mmt_"

// secretBytes is the number of random bytes in a secret.
const secretBytes = 32

// maxSecretLen bounds what is hashed and looked up; longer credentials are
// no token.
const maxSecretLen = 128

// A Token is what the mirror keeps of a token: never its secret.
type Token struct {
	ID      string    // random, printable; names the token in logs and commands
	Name    string    // what the token is for, as its creator said
	Allow   string    // private module path patterns it may read (GOPRIVATE syntax); empty: none
	Audit   bool      // it may read the data tiles of the own checksum database, which name every private module version recorded
	Created time.Time //
	Revoked time.Time // zero while the token is valid

	// LastUsed is when a request last presented the token, to the
	// minute or so (uses are written in batches); zero if never.
	LastUsed time.Time
}

// Valid reports whether the token has not been revoked.
func (t Token) Valid() bool { return t.Revoked.IsZero() }

// Allows reports whether the token is valid and its patterns match the
// module path.
func (t Token) Allows(modulePath string) bool {
	return t.Valid() && module.MatchPrefixPatterns(t.Allow, modulePath)
}

// A Hash is the SHA-256 hash of a token's secret: what is stored.
type Hash [sha256.Size]byte

// HashSecret returns the hash of a secret.
func HashSecret(secret string) Hash { return sha256.Sum256([]byte(secret)) }

// newSecret returns a new random secret and its hash.
func newSecret() (string, Hash) {
	b := make([]byte, secretBytes)
	rand.Read(b) // never fails (crypto/rand)
	s := SecretPrefix + base64.RawURLEncoding.EncodeToString(b)
	return s, HashSecret(s)
}

// newID returns a new random token id: 12 hex digits.
func newID() string {
	b := make([]byte, 6)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// maybeSecret reports whether s has the form of a secret; anything else is
// refused without a lookup.
func maybeSecret(s string) bool {
	return strings.HasPrefix(s, SecretPrefix) && len(s) <= maxSecretLen
}

// ErrUnknownToken is returned for a secret or id that names no token. It
// matches fs.ErrNotExist.
var ErrUnknownToken error = unknownToken{}

type unknownToken struct{}

func (unknownToken) Error() string        { return "access: unknown token" }
func (unknownToken) Is(target error) bool { return target == fs.ErrNotExist }

// unknownID reports an id that names no token; it matches ErrUnknownToken.
type unknownID string

func (e unknownID) Error() string { return fmt.Sprintf("access: no token has the id %q", string(e)) }
func (e unknownID) Is(target error) bool {
	return target == ErrUnknownToken || target == fs.ErrNotExist
}

// Tokens finds tokens by the hash of their secret. TokenDB is one; Cache
// wraps one with memory.
type Tokens interface {
	// Lookup returns the token whose secret has hash h, whether revoked or
	// not, or an error matching ErrUnknownToken if there is none. Other
	// errors mean the tokens could not be read. It must be safe for
	// concurrent use.
	Lookup(ctx context.Context, h Hash) (Token, error)
}

// A TokenStore keeps tokens: it makes, lists and revokes them, and finds
// them by the hash of their secret. TokenDB keeps them in an SQLite file,
// pgstate.Tokens in PostgreSQL, which replicas share; tokentest.Run is the
// conformance suite. Implementations must be safe for concurrent use, and
// a change made by one process must be seen by every other that shares the
// store.
type TokenStore interface {
	Tokens

	// Create makes a new token that may read the private module paths
	// matching allow (comma-separated, GOPRIVATE syntax; empty allows
	// public paths only) and, if audit is set, the data tiles of the
	// mirror's own checksum database (see Token.Audit). It returns the
	// token and its secret, which is stored nowhere.
	Create(ctx context.Context, name, allow string, audit bool) (Token, string, error)

	// List returns every token, the oldest first.
	List(ctx context.Context) ([]Token, error)

	// Used records when tokens (by id) were last used: a token's last
	// use becomes the time given if that is later. Unknown ids are
	// ignored.
	Used(ctx context.Context, uses map[string]time.Time) error

	// Revoke revokes the token with the given id and returns it.
	// Revoking a revoked token changes nothing. An unknown id is an error
	// matching ErrUnknownToken.
	Revoke(ctx context.Context, id string) (Token, error)

	// String says where the tokens are, for messages: a file, or a
	// database URL without its password.
	String() string

	Close() error
}

// NewToken checks a new token's name and patterns and returns it, with a
// new id, its secret and the secret's hash, for a TokenStore's Create to
// store.
func NewToken(name, allow string, audit bool) (tok Token, secret string, h Hash, err error) {
	if err := checkName(name); err != nil {
		return Token{}, "", Hash{}, err
	}
	allow, err = CleanPatterns(allow)
	if err != nil {
		return Token{}, "", Hash{}, err
	}
	secret, h = newSecret()
	return Token{ID: newID(), Name: name, Allow: allow, Audit: audit, Created: time.Now().UTC().Truncate(time.Second)}, secret, h, nil
}

// UnknownID returns the error of Revoke for an id that names no token.
func UnknownID(id string) error { return unknownID(id) }

// CleanPatterns checks a comma-separated list of module path patterns in
// GOPRIVATE syntax and returns it in the form that is stored: spaces, empty
// entries and trailing slashes removed.
func CleanPatterns(list string) (string, error) {
	p, err := modmirror.ParsePatterns(list)
	if err != nil {
		return "", fmt.Errorf("access: %w", err)
	}
	return p.String(), nil
}

// errBadName reports a token name that cannot be stored.
var errBadName = errors.New("access: a token needs a name of up to 200 characters, on one line")

func checkName(name string) error {
	if strings.TrimSpace(name) == "" || len(name) > 200 || strings.ContainsAny(name, "\r\n") {
		return errBadName
	}
	return nil
}
