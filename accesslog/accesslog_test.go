package accesslog

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/modmirror/modmirror/internal/reqinfo"
)

func TestClientAddr(t *testing.T) {
	trusted, err := ParseTrusted("10.0.0.0/8, 192.0.2.7,2001:db8::/32")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		remote, xff, want string
	}{
		{"203.0.113.5:1234", "", "203.0.113.5"},
		{"203.0.113.5:1234", "198.51.100.1", "203.0.113.5"},        // not a trusted peer: its header is ignored
		{"10.1.2.3:80", "198.51.100.1", "198.51.100.1"},            // a trusted proxy
		{"10.1.2.3:80", "198.51.100.1, 192.0.2.7", "198.51.100.1"}, // through two trusted proxies
		{"10.1.2.3:80", "6.6.6.6, 198.51.100.1", "198.51.100.1"},   // a forged leftmost entry is not believed
		{"192.0.2.7:80", "10.0.0.1, 10.0.0.2", "192.0.2.7"},        // every hop trusted: the peer
		{"10.1.2.3:80", "not-an-ip, 198.51.100.1", "198.51.100.1"},
		{"10.1.2.3:80", "198.51.100.1, junk", "10.1.2.3"}, // malformed: no guessing past it
		{"[2001:db8::1]:443", "2001:db8:ffff::9, 2a00::1", "2a00::1"},
	} {
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = tc.remote
		if tc.xff != "" {
			r.Header.Set("X-Forwarded-For", tc.xff)
		}
		if got := clientAddr(r, trusted); got != tc.want {
			t.Errorf("remote %s, X-Forwarded-For %q: client %s, want %s", tc.remote, tc.xff, got, tc.want)
		}
	}
	if _, err := ParseTrusted("10.0.0.0/33"); err == nil {
		t.Errorf("a bad prefix was accepted")
	}
}

func TestHandler(t *testing.T) {
	var buf bytes.Buffer
	h := Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reqinfo.SetToken(r.Context(), "ci")
		reqinfo.SetCache(r.Context(), true)
		w.WriteHeader(http.StatusTeapot)
		w.Write([]byte("hello"))
	}), Options{Logger: slog.New(slog.NewJSONHandler(&buf, nil))})
	r := httptest.NewRequest("GET", "/example.com/a/@v/v1.0.0.zip", nil)
	r.Header.Set("Authorization", "Bearer mmt_secret")
	h.ServeHTTP(httptest.NewRecorder(), r)
	var rec map[string]any
	if err := json.Unmarshal(buf.Bytes(), &rec); err != nil {
		t.Fatalf("%v: %s", err, buf.Bytes())
	}
	for k, want := range map[string]any{"msg": "access", "method": "GET", "path": "/example.com/a/@v/v1.0.0.zip", "status": 418.0, "bytes": 5.0, "token": "ci", "cache": "hit", "remote": "192.0.2.1"} {
		if rec[k] != want {
			t.Errorf("%s = %v, want %v", k, rec[k], want)
		}
	}
	if strings.Contains(buf.String(), "mmt_secret") {
		t.Errorf("the access log shows the secret")
	}
}
