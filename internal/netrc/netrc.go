// Package netrc reads .netrc files as the go command uses them: machine,
// login and password entries; "default"
// and what follows it are ignored, since it would send a password to every
// host, and so are macro definitions.
package netrc

import (
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"
)

// A Line is one complete entry.
type Line struct {
	Machine  string
	Login    string
	Password string
}

// Parse parses the content of a .netrc file.
func Parse(data string) []Line {
	var nrc []Line
	var l Line
	inMacro := false
	for line := range strings.SplitSeq(data, "\n") {
		if inMacro {
			if line == "" {
				inMacro = false
			}
			continue
		}
		f := strings.Fields(line)
		i := 0
		for ; i < len(f)-1; i += 2 {
			switch f[i] {
			case "machine":
				l = Line{Machine: f[i+1]}
			case "default":
				return nrc
			case "login":
				l.Login = f[i+1]
			case "password":
				l.Password = f[i+1]
			case "macdef":
				inMacro = true
			}
			if l.Machine != "" && l.Login != "" && l.Password != "" {
				nrc = append(nrc, l)
				l = Line{}
			}
		}
		if i < len(f) && f[i] == "default" {
			break
		}
	}
	return nrc
}

// Find returns the first entry for the host of u: its machine is the host,
// or the host with its port.
func Find(lines []Line, u *url.URL) (Line, bool) {
	hostPort := strings.ToLower(u.Host)
	host := strings.ToLower(u.Hostname())
	for _, l := range lines {
		if m := strings.ToLower(l.Machine); m == host || m == hostPort {
			return l, true
		}
	}
	return Line{}, false
}

// DefaultFile returns the .netrc file the go command reads: $NETRC, else
// .netrc (_netrc on Windows) in the home directory.
func DefaultFile() string {
	if f := os.Getenv("NETRC"); f != "" {
		return f
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return ""
	}
	name := ".netrc"
	if runtime.GOOS == "windows" {
		name = "_netrc"
	}
	return filepath.Join(home, name)
}

// A Transport adds HTTP basic authentication from lines to each HTTPS
// request whose host has an entry, as the go command sends .netrc
// credentials: never over plain HTTP, and each request of a redirect chain
// on its own, so that a redirect never carries them to another host.
type Transport struct {
	Base  http.RoundTripper // nil means http.DefaultTransport
	Lines []Line
}

// RoundTrip implements http.RoundTripper.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	base := t.Base
	if base == nil {
		base = http.DefaultTransport
	}
	if req.URL.Scheme == "https" && req.Header.Get("Authorization") == "" {
		if l, ok := Find(t.Lines, req.URL); ok {
			req = req.Clone(req.Context())
			req.SetBasicAuth(l.Login, l.Password)
		}
	}
	return base.RoundTrip(req)
}
