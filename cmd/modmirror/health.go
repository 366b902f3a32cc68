package main

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/modmirror/modmirror"
)

// A dependency is a service a mirror needs, named for /readyz.
type dependency struct {
	name string
	p    modmirror.Pinger
}

// readiness answers /readyz: 200 "ok" when every dependency answers,
// within 5 seconds, else 503 with each that does not and why, one a line,
// so that a load balancer sends requests elsewhere while the store or a
// database is down. /healthz says only that the process is alive.
func readiness(deps []dependency) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
		defer cancel()
		var down []string
		for _, d := range deps {
			if d.p == nil {
				continue
			}
			if err := d.p.Ping(ctx); err != nil {
				down = append(down, fmt.Sprintf("%s: %v", d.name, err))
			}
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		if len(down) > 0 {
			http.Error(w, "not ready:\n"+strings.Join(down, "\n"), http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ok")
	})
}

// pinger returns v as a Pinger, or nil if it is not one.
func pinger(v any) modmirror.Pinger {
	p, _ := v.(modmirror.Pinger)
	return p
}
