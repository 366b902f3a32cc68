// Package via carries the Via header (RFC 9110, section 7.6.3) of a client's
// request through a mirror to the upstream requests it causes, so that a
// request that comes back to a mirror through any chain of proxies can be
// recognised: each mirror adds its own name, and refuses a request that
// already has it.
package via

import (
	"context"
	"strings"
)

type key struct{}

// With returns ctx carrying the Via header values of an incoming request.
func With(ctx context.Context, values []string) context.Context {
	if len(values) == 0 {
		return ctx
	}
	return context.WithValue(ctx, key{}, values)
}

// Header returns the Via header for an upstream request made for ctx by the
// mirror named name: the incoming hops, then this one.
func Header(ctx context.Context, name string) string {
	hop := "1.1 " + name
	if values, ok := ctx.Value(key{}).([]string); ok {
		return strings.Join(values, ", ") + ", " + hop
	}
	return hop
}

// Has reports whether the Via header values name the mirror name as one of
// their hops ("1.1 <name>", perhaps with a comment).
func Has(values []string, name string) bool {
	for _, v := range values {
		for hop := range strings.SplitSeq(v, ",") {
			if f := strings.Fields(hop); len(f) >= 2 && f[1] == name {
				return true
			}
		}
	}
	return false
}
