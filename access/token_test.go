package access

import (
	"encoding/base64"
	"strings"
	"testing"
	"time"
)

func TestNewSecret(t *testing.T) {
	seen := map[string]bool{}
	for range 100 {
		s, h := newSecret()
		if !strings.HasPrefix(s, SecretPrefix) {
			t.Fatalf("secret %q lacks the prefix %q", s, SecretPrefix)
		}
		raw, err := base64.RawURLEncoding.DecodeString(strings.TrimPrefix(s, SecretPrefix))
		if err != nil || len(raw) != 32 {
			t.Fatalf("secret %q: %d random bytes, %v; want 32 in base64url", s, len(raw), err)
		}
		if h != HashSecret(s) {
			t.Fatalf("newSecret's hash is not HashSecret's")
		}
		if !maybeSecret(s) {
			t.Fatalf("maybeSecret(%q) = false", s)
		}
		if seen[s] {
			t.Fatalf("secret %q made twice", s)
		}
		seen[s] = true
	}
	if id := newID(); len(id) != 12 || strings.Trim(id, "0123456789abcdef") != "" {
		t.Errorf("newID() = %q, want 12 hex digits", id)
	}
}

func TestCleanPatterns(t *testing.T) {
	for _, tc := range []struct {
		in, want string
		ok       bool
	}{
		{"", "", true},
		{"corp.example/*", "corp.example/*", true},
		{" corp.example/* , example.com/x/ ,,", "corp.example/*,example.com/x", true},
		{"*.corp.example,*", "*.corp.example,*", true},
		{"corp.example/[", "", false},
		{"corp example", "", false},
		{"corp.example/x@v1", "", false},
	} {
		got, err := CleanPatterns(tc.in)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("CleanPatterns(%q) = %q, %v; want %q, ok %v", tc.in, got, err, tc.want, tc.ok)
		}
	}
}

func TestTokenAllows(t *testing.T) {
	valid := Token{ID: "a", Allow: "corp.example/*,example.com/x"}
	revoked := valid
	revoked.Revoked = time.Now()
	for _, tc := range []struct {
		tok  Token
		path string
		want bool
	}{
		{valid, "corp.example/secret", true},
		{valid, "corp.example/secret/v2", true},
		{valid, "corp.example/Secret", true},
		{valid, "corp.example", false}, // the pattern has two elements
		{valid, "corp.example.com/secret", false},
		{valid, "example.com/x", true},
		{valid, "example.com/x/sub", true},
		{valid, "example.com/xy", false},
		{valid, "example.com/lib", false},
		{revoked, "corp.example/secret", false},
		{Token{Allow: ""}, "corp.example/secret", false},
		{Token{Allow: "*"}, "anything.example/at/all", true},
	} {
		if got := tc.tok.Allows(tc.path); got != tc.want {
			t.Errorf("Token{Allow: %q, Revoked: %v}.Allows(%q) = %v, want %v", tc.tok.Allow, !tc.tok.Valid(), tc.path, got, tc.want)
		}
	}
}

func TestParseAccess(t *testing.T) {
	for in, want := range map[string]Access{"open": Open, "token": WithToken, " token": WithToken} {
		if got, err := ParseAccess(in); err != nil || got != want {
			t.Errorf("ParseAccess(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"", "closed", "Token"} {
		if _, err := ParseAccess(in); err == nil {
			t.Errorf("ParseAccess(%q) succeeded", in)
		}
	}
}
