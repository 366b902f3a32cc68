package sumlog

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/mod/sumdb/note"
)

// GenerateKey returns a new signer key and its verifier key for a log
// named name, in golang.org/x/mod/sumdb/note's text form. The verifier key
// is what clients set GOSUMDB to; the signer key must be kept secret.
func GenerateKey(name string) (signerKey, verifierKey string, err error) {
	if err := checkName(name); err != nil {
		return "", "", err
	}
	return note.GenerateKey(rand.Reader, name)
}

// VerifierKey returns the verifier key of a signer key.
func VerifierKey(signerKey string) (string, error) {
	signer, err := note.NewSigner(strings.TrimSpace(signerKey))
	if err != nil {
		return "", fmt.Errorf("sumlog: signer key: %w", err)
	}
	// "PRIVATE+KEY+<name>+<hash>+<base64 of algorithm byte and seed>"
	fields := strings.SplitN(strings.TrimSpace(signerKey), "+", 5)
	if len(fields) != 5 {
		return "", errors.New("sumlog: signer key: malformed")
	}
	raw, err := base64.StdEncoding.DecodeString(fields[4])
	if err != nil || len(raw) != 1+ed25519.SeedSize || raw[0] != 1 {
		return "", errors.New("sumlog: signer key: not an Ed25519 key")
	}
	pub := ed25519.NewKeyFromSeed(raw[1:]).Public().(ed25519.PublicKey)
	vkey, err := note.NewEd25519VerifierKey(signer.Name(), pub)
	if err != nil {
		return "", fmt.Errorf("sumlog: signer key: %w", err)
	}
	v, err := note.NewVerifier(vkey)
	if err != nil || v.KeyHash() != signer.KeyHash() {
		return "", errors.New("sumlog: signer key: its hash does not match its key")
	}
	return vkey, nil
}

// checkName checks that a log name can be used in GOSUMDB and as a path
// element: the go command's rules for a database name are those of a host
// name, perhaps with a path.
func checkName(name string) error {
	if name == "" || strings.ContainsAny(name, "+ \t\n\\") || strings.HasPrefix(name, "/") ||
		strings.HasSuffix(name, "/") || strings.Contains(name, "//") || strings.Contains(name, "..") {
		return fmt.Errorf("sumlog: unusable log name %q", name)
	}
	return nil
}
