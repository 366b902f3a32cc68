package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/modmirror/modmirror"
)

// A dependency is a service a mirror needs, named for /readyz.
type dependency struct {
	name string
	p    modmirror.Pinger
}

// readiness answers /readyz: 200 "ok" when every dependency answers,
// within 5 seconds, else 503 naming each that does not and why in a few
// words ("store: connection refused"), one a line, so
// that a load balancer sends requests elsewhere while the store or a
// database is down. Why one is down (a host, a bucket, a database name)
// goes to the log, once when it goes down and once when it is back, not to
// whoever asks. /healthz says only that the process is alive.
func readiness(deps []dependency, log *slog.Logger) http.Handler {
	var mu sync.Mutex
	down := map[string]bool{} // by name: down at the last check
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
		defer cancel()
		var names []string
		for _, d := range deps {
			if d.p == nil {
				continue
			}
			err := d.p.Ping(ctx)
			mu.Lock()
			switch {
			case err != nil && !down[d.name]:
				log.Warn("not ready", "dependency", d.name, "err", err)
			case err == nil && down[d.name]:
				log.Info("ready again", "dependency", d.name)
			}
			down[d.name] = err != nil
			mu.Unlock()
			if err != nil {
				names = append(names, d.name+": "+why(err))
			}
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		if len(names) > 0 {
			http.Error(w, "not ready:\n"+strings.Join(names, "\n"), http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ok")
	})
}

// why says in a few words, and without hosts, buckets or databases, why a
// dependency did not answer.
func why(err error) string {
	var dns *net.DNSError
	switch {
	case errors.Is(err, context.DeadlineExceeded) || os.IsTimeout(err):
		return "timed out"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused"
	case errors.Is(err, syscall.ECONNRESET) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
		return "connection lost"
	case errors.As(err, &dns):
		return "host not found"
	}
	return "unavailable"
}

// pinger returns v as a Pinger, or nil if it is not one.
func pinger(v any) modmirror.Pinger {
	p, _ := v.(modmirror.Pinger)
	return p
}
