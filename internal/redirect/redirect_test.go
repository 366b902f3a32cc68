package redirect

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestCheck(t *testing.T) {
	get := func(u string) *http.Request { return httptest.NewRequest("GET", u, nil) }
	if err := Check(get("http://b.example/x"), []*http.Request{get("https://a.example/x")}); err == nil || !strings.Contains(err.Error(), "insecure") {
		t.Errorf("https to http: %v", err)
	}
	if err := Check(get("https://b.example/x"), []*http.Request{get("http://a.example/x")}); err != nil {
		t.Errorf("http to https: %v", err)
	}
	var via []*http.Request
	for range 10 {
		via = append(via, get("https://a.example/x"))
	}
	if err := Check(get("https://a.example/y"), via); err == nil {
		t.Error("an eleventh redirect was allowed")
	}
}
