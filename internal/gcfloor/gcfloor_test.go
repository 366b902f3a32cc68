package gcfloor

import (
	"context"
	"os"
	"runtime"
	"runtime/debug"
	"testing"
	"time"
)

func TestPercent(t *testing.T) {
	for _, tc := range []struct {
		live uint64
		want int
	}{
		{0, MaxPercent},
		{1 << 20, MaxPercent},    // 1 MiB live: 32x would be too much
		{8 << 20, 400},           // grows by 32 MiB
		{16 << 20, 200},          // grows by 32 MiB
		{32 << 20, 100},          // the runtime's default from here on
		{1 << 30, 100},           // never below it
		{Floor * 100 / 150, 150}, // in between
	} {
		if got := Percent(tc.live); got != tc.want {
			t.Errorf("Percent(%d) = %d, want %d", tc.live, got, tc.want)
		}
	}
}

// Run raises the percent for this test's small heap, keeps it as the heap
// grows, and puts back the one it found when it stops; with GOGC set it
// changes nothing.
func TestRun(t *testing.T) {
	t.Run("GOGC set", func(t *testing.T) {
		t.Setenv("GOGC", "100")
		prev := debug.SetGCPercent(123)
		defer debug.SetGCPercent(prev)
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		Run(ctx)
		if p := debug.SetGCPercent(123); p != 123 {
			t.Errorf("with GOGC set, Run changed the percent to %d", p)
		}
	})
	t.Run("GOGC unset", func(t *testing.T) {
		t.Setenv("GOGC", "") // restored when the test ends
		os.Unsetenv("GOGC")
		prev := debug.SetGCPercent(100)
		defer debug.SetGCPercent(prev)
		runtime.GC()
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { Run(ctx); close(done) }()
		// The test's heap is small: the first setting is the largest.
		deadline := time.Now().Add(5 * time.Second)
		for current() != MaxPercent {
			if time.Now().After(deadline) {
				t.Fatalf("percent %d after Run started on a small heap; want %d", current(), MaxPercent)
			}
			time.Sleep(time.Millisecond)
		}
		// 64 MiB kept live: back to the runtime's default.
		keep := make([][]byte, 64)
		for i := range keep {
			keep[i] = make([]byte, 1<<20)
		}
		runtime.GC()
		for current() != 100 {
			if time.Now().After(deadline.Add(5 * time.Second)) {
				t.Fatalf("percent %d with 64 MiB live; want 100", current())
			}
			time.Sleep(10 * time.Millisecond)
		}
		runtime.KeepAlive(keep)
		debug.SetGCPercent(77) // what Run must not keep when it stops
		cancel()
		<-done
		if p := current(); p != 100 {
			t.Errorf("percent %d after Run stopped; want the 100 it found", p)
		}
	})
}

// current returns the GC percent without changing it (for long).
func current() int {
	p := debug.SetGCPercent(100)
	debug.SetGCPercent(p)
	return p
}
