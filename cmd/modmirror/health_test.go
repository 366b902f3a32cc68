package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/modmirror/modmirror"
)

type pingFunc func(context.Context) error

func (f pingFunc) Ping(ctx context.Context) error { return f(ctx) }

// TestReadiness: /readyz names each dependency that does not answer, with
// why in a few words, never the host or database in the error; it logs
// the detail once when one goes down and once when it is back.
func TestReadiness(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	_, refused := net.Dial("tcp", addr)
	if refused == nil {
		t.Skip("something listens on a port just closed")
	}
	var storeErr, dbErr error
	deps := []dependency{
		{"store", pingFunc(func(context.Context) error { return storeErr })},
		{"shared database", pingFunc(func(context.Context) error { return dbErr })},
		{"none", nil},
	}
	var logged strings.Builder
	h := readiness(deps, slog.New(slog.NewTextHandler(&logged, nil)))
	get := func() (int, string) {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", "/readyz", nil))
		return rec.Code, rec.Body.String()
	}
	if code, body := get(); code != 200 || body != "ok\n" {
		t.Errorf("all up: %d %q", code, body)
	}
	storeErr = modmirror.Unavailable("storage", fmt.Errorf("bucket secret-bucket: %w", refused))
	dbErr = modmirror.Unavailable("shared database", fmt.Errorf("db.internal/prod: %w", context.DeadlineExceeded))
	for range 2 {
		code, body := get()
		if want := "not ready:\nstore: connection refused\nshared database: timed out\n"; code != http.StatusServiceUnavailable || body != want {
			t.Errorf("down: %d %q, want 503 %q", code, body, want)
		}
	}
	storeErr, dbErr = nil, io.ErrUnexpectedEOF
	if code, body := get(); code != 503 || body != "not ready:\nshared database: connection lost\n" {
		t.Errorf("store back: %d %q", code, body)
	}
	dbErr = errors.New("password authentication failed")
	if _, body := get(); body != "not ready:\nshared database: unavailable\n" {
		t.Errorf("other error: %q", body)
	}
	log := logged.String()
	if n := strings.Count(log, "not ready"); n != 2 {
		t.Errorf("logged %d \"not ready\" records for two dependencies going down once each, want 2:\n%s", n, log)
	}
	if !strings.Contains(log, "secret-bucket") || strings.Count(log, "ready again") != 1 {
		t.Errorf("the log lacks the reason, or the store coming back:\n%s", log)
	}
}
