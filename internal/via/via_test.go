package via

import (
	"context"
	"testing"
)

func TestHeaderAndHas(t *testing.T) {
	ctx := context.Background()
	if got := Header(ctx, "modmirror-a"); got != "1.1 modmirror-a" {
		t.Errorf("Header without hops = %q", got)
	}
	ctx = With(ctx, []string{"1.1 modmirror-b", "1.0 squid (squid/6)"})
	h := Header(ctx, "modmirror-a")
	if h != "1.1 modmirror-b, 1.0 squid (squid/6), 1.1 modmirror-a" {
		t.Errorf("Header with hops = %q", h)
	}
	for name, want := range map[string]bool{"modmirror-a": true, "modmirror-b": true, "squid": true, "modmirror": false, "1.1": false} {
		if got := Has([]string{h}, name); got != want {
			t.Errorf("Has(%q, %q) = %v, want %v", h, name, got, want)
		}
	}
}
