package main

import (
	"fmt"

	"github.com/modmirror/modmirror/bench/internal/benchutil"
)

// A hitKind is one kind and size of file that a real module graph holds,
// as the hit benchmark requests it.
type hitKind struct {
	name string // as the table prints it: ".info", "zip 32 KB"
	path string // URL path on every server
	size int    // bytes of the body
}

// hitMatrix loads every kind of file from modmirror (m), from the bare Go
// server (g, its /open/ way: os.Open and http.ServeContent, which sends a
// file with sendfile(2) over plain TCP) and, when n is not nil, from nginx,
// in turns, and adds a row per kind: modmirror against the bare Go server,
// target at least 1.0x, with the nginx ratio beside it. It returns each
// kind's loads by server, in the order m, g, n.
func (b *bench) hitMatrix(scheme string, kinds []hitKind, m, g, n *server) (map[string][][]load, error) {
	out := map[string][][]load{}
	for _, k := range kinds {
		eps := []endpoint{
			{name: m.name, url: m.url + k.path, srv: m},
			{name: g.name, url: g.url + "/open" + k.path, srv: g},
		}
		if n != nil {
			eps = append(eps, endpoint{name: n.name, url: n.url + k.path, srv: n})
		}
		res, err := b.compare(k.name, "", b.repeat, eps...)
		if err != nil {
			return nil, err
		}
		out[k.name] = res
		note := fmt.Sprintf("modmirror p50 %s p99 %s; bare Go p50 %s p99 %s", res[0][0].p50, res[0][0].p99, res[1][0].p50, res[1][0].p99)
		if n != nil {
			nginx := benchutil.Median(rps(res[2]))
			note = fmt.Sprintf("nginx %.0f req/s [%s]: modmirror/nginx %.2fx; %s", nginx, formatAll(rps(res[2]), "%.0f"),
				benchutil.Median(rps(res[0]))/nginx, note)
		}
		b.rowRate(fmt.Sprintf("hit req/s over %s, %s (%d B), vs bare Go", scheme, k.name, k.size),
			rps(res[0]), rps(res[1]), "%.0f", 1.0, note)
	}
	return out, nil
}
