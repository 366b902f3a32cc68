package web

import (
	"net/http/httptest"
	"strings"
	"testing"
)

func TestRenderEmpty(t *testing.T) {
	h := New(Options{})
	defer h.Close()
	for _, path := range []string{"/", "/ui/"} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
		if rec.Code != 200 || !strings.Contains(rec.Body.String(), `id="hits"`) {
			t.Errorf("GET %s: %d\n%s", path, rec.Code, rec.Body.String())
		}
	}
}
