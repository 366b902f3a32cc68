// Package reqinfo carries what the layers of a mirror learn about a
// request (whether the store had the file, which token it presented) out
// to the access log, which wraps them all.
package reqinfo

import "context"

// Info is what is learned about one request.
type Info struct {
	Cache string // "hit" or "miss": whether the store had the file asked for; "" for neither
	Token string // the name (never the secret) of the valid token presented; "" for none
}

type key struct{}

// New returns ctx carrying a new Info, and the Info.
func New(ctx context.Context) (context.Context, *Info) {
	i := new(Info)
	return context.WithValue(ctx, key{}, i), i
}

// From returns the Info that ctx carries, or nil.
func From(ctx context.Context) *Info {
	i, _ := ctx.Value(key{}).(*Info)
	return i
}

// SetCache notes in ctx's Info whether the store had the file.
func SetCache(ctx context.Context, hit bool) {
	if i := From(ctx); i != nil {
		if hit {
			i.Cache = "hit"
		} else {
			i.Cache = "miss"
		}
	}
}

// SetToken notes in ctx's Info the name of the token presented.
func SetToken(ctx context.Context, name string) {
	if i := From(ctx); i != nil {
		i.Token = name
	}
}
