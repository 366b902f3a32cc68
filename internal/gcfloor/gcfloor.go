// Package gcfloor keeps a server with a small heap from collecting
// garbage after every few megabytes it allocates.
//
// The Go collector starts a cycle when the heap has grown by GOGC percent
// of what the last cycle left live, and never below 4 MiB. A mirror
// serving hits keeps about 1 MiB live (its memory cache aside) and
// allocates a few KiB per request (net/http's request, headers and
// buffers), so at 15,000 requests a second it collects 25 times a second;
// each cycle also shrinks the stacks of the goroutines that serve idle
// keep-alive connections, which grow again on their next request. Measured
// on the hits of a 300 KB zip, that costs about 8% of the request rate
// (docs/BENCHMARKS.md).
//
// Run raises the percent while the live heap is small, so that a cycle
// starts once the heap has grown by Floor bytes, up to MaxPercent; as the
// live heap grows the percent falls back to 100, the runtime's default, so
// the heap stays under max(2*live, live+Floor) and, for a small live heap,
// under (1+MaxPercent/100)*live. It does nothing when the operator set
// GOGC (or turned the collector off): that choice stays theirs.
package gcfloor

import (
	"context"
	"os"
	"runtime/debug"
	"runtime/metrics"
	"time"
)

const (
	// Floor is the growth of the heap, over what is live, that Run lets
	// a cycle wait for.
	Floor = 32 << 20

	// MaxPercent bounds the percent Run sets: the heap may grow to five
	// times a tiny live heap between cycles, never more.
	MaxPercent = 400

	// every is how often Run looks at the live heap.
	every = 500 * time.Millisecond
)

// Percent returns the GOGC percent for a live heap of live bytes: the one
// that lets the heap grow by Floor, between 100 and MaxPercent.
func Percent(live uint64) int {
	if live == 0 {
		return MaxPercent
	}
	p := uint64(Floor) * 100 / live
	return int(max(100, min(p, MaxPercent)))
}

// Enabled reports whether Run would tune anything: not when GOGC is set in
// the environment.
func Enabled() bool {
	_, set := os.LookupEnv("GOGC")
	return !set
}

// Run sets the percent from the live heap until ctx is done, then puts
// back the percent it found. It does nothing if !Enabled().
func Run(ctx context.Context) {
	if !Enabled() {
		return
	}
	sample := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	set := func() int {
		metrics.Read(sample)
		live := uint64(0)
		if sample[0].Value.Kind() == metrics.KindUint64 {
			live = sample[0].Value.Uint64()
		}
		p := Percent(live)
		return debug.SetGCPercent(p)
	}
	orig := set()
	defer debug.SetGCPercent(orig)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			set()
		}
	}
}
