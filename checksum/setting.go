package checksum

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"strings"

	"golang.org/x/mod/sumdb/note"
)

// SumGolangOrgKey is the verifier key of sum.golang.org, as built into the
// go command.
const SumGolangOrgKey = "sum.golang.org+033de0ae+Ac4zctda0e5eza+HJyk9SxEdh+s3Ux18htTTAD8OuAn8"

// A Setting is a parsed GOSUMDB value: which checksum database, with which
// key, read from where.
type Setting struct {
	Name     string // "sum.golang.org", or host[/path]
	Key      string // the verifier key
	Verifier note.Verifier

	// URL is where the database is read from directly, when the setting
	// names one ("<key> <url>"); nil means through proxies' /sumdb/<name>/.
	URL *url.URL
}

// ParseSetting parses a GOSUMDB value as the go command reads it: a known
// name (sum.golang.org, or sum.golang.google.cn, which is sum.golang.org
// at another URL) or a verifier key, optionally followed by a space and the
// database's URL. "off" is an error: there is no database to check
// against.
func ParseSetting(setting string) (Setting, error) {
	setting = strings.TrimSpace(setting)
	switch setting {
	case "off":
		return Setting{}, errors.New("off: there is no checksum database to check against")
	case "sum.golang.google.cn":
		setting = "sum.golang.org https://sum.golang.google.cn"
	}
	fields := strings.Fields(setting)
	switch {
	case len(fields) == 0:
		return Setting{}, errors.New("empty setting")
	case len(fields) > 2:
		return Setting{}, fmt.Errorf("%q: too many fields", setting)
	}
	key := fields[0]
	if key == "sum.golang.org" {
		key = SumGolangOrgKey
	}
	if !strings.Contains(key, "+") {
		return Setting{}, fmt.Errorf("%q: unknown checksum database; give its verifier key (name+hash+key)", fields[0])
	}
	nv, err := note.NewVerifier(key)
	if err != nil {
		return Setting{}, fmt.Errorf("%q: verifier key: %v", fields[0], err)
	}
	name := nv.Name()
	// The name becomes part of URLs and file names: host[/path], as the
	// go command requires.
	if u, err := url.Parse("https://" + name); err != nil || u.Host == "" || strings.HasSuffix(name, "/") ||
		*u != (url.URL{Scheme: "https", Host: u.Host, Path: u.Path}) || !fs.ValidPath(name) || strings.Contains(name, `\`) {
		return Setting{}, fmt.Errorf("invalid checksum database name (must be host[/path]): %q", name)
	}
	s := Setting{Name: name, Key: key, Verifier: nv}
	if len(fields) == 2 {
		u, err := url.Parse(fields[1])
		if err != nil {
			if uerr, ok := err.(*url.Error); ok {
				err = uerr.Err // it repeats the URL, password included
			}
			return Setting{}, fmt.Errorf("malformed checksum database URL: %v", err)
		}
		if (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" ||
			u.Opaque != "" || u.RawQuery != "" || u.ForceQuery || u.Fragment != "" {
			return Setting{}, fmt.Errorf("invalid checksum database URL (must be http or https, with no query): %s", u.Redacted())
		}
		u.Path = strings.TrimRight(u.Path, "/")
		u.RawPath = strings.TrimRight(u.RawPath, "/")
		s.URL = u
	}
	return s, nil
}

// ReadLatest reads the database's signed tree head through r and checks
// its signature, so that a database that cannot be reached, a proxy that
// does not proxy it, or a wrong key fail once, plainly, rather than as a
// failure of every lookup. It returns the note and its text.
func (s Setting) ReadLatest(ctx context.Context, r Remote) ([]byte, *note.Note, error) {
	msg, err := r.ReadSumDB(ctx, s.Name, "/latest")
	if err != nil {
		return nil, nil, fmt.Errorf("checksum database %s could not be reached: %w", s.Name, err)
	}
	n, err := note.Open(msg, note.VerifierList(s.Verifier))
	if err != nil {
		return nil, nil, fmt.Errorf("checksum database %s: its signed tree head does not verify with key %s: %v", s.Name, s.Key, err)
	}
	return msg, n, nil
}
