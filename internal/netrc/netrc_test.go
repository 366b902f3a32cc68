package netrc

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"testing"
)

func TestParse(t *testing.T) {
	got := Parse(`machine a.example login u password p
machine b.example:8443
  login v
  password q
macdef init
machine evil.example login x password y

machine c.example login w password r
default login d password dd
machine after.default login z password zz
`)
	want := []Line{{"a.example", "u", "p"}, {"b.example:8443", "v", "q"}, {"c.example", "w", "r"}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Parse = %+v, want %+v", got, want)
	}
	for _, c := range []struct {
		url  string
		want string
	}{
		{"https://a.example/x", "u"},
		{"https://A.example:443/x", "u"},
		{"https://b.example:8443/x", "v"},
		{"https://b.example/x", ""},
		{"https://d.example/x", ""},
	} {
		u, _ := url.Parse(c.url)
		l, _ := Find(got, u)
		if l.Login != c.want {
			t.Errorf("Find(%s) = %q, want %q", c.url, l.Login, c.want)
		}
	}
}

// TestTransport sends credentials over HTTPS to their host only.
func TestTransport(t *testing.T) {
	var gotAuth []bool
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _, ok := r.BasicAuth()
		gotAuth = append(gotAuth, ok)
	}))
	defer srv.Close()
	plain := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _, ok := r.BasicAuth()
		gotAuth = append(gotAuth, ok)
	}))
	defer plain.Close()
	su, _ := url.Parse(srv.URL)
	pu, _ := url.Parse(plain.URL)
	c := &http.Client{Transport: &Transport{Base: srv.Client().Transport, Lines: []Line{{su.Host, "u", "p"}, {pu.Host, "u", "p"}}}}
	for _, u := range []string{srv.URL, plain.URL} {
		resp, err := c.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	if want := []bool{true, false}; !reflect.DeepEqual(gotAuth, want) {
		t.Errorf("credentials sent: %v, want %v (HTTPS only)", gotAuth, want)
	}
}
