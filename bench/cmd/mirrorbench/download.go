package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/modmirror/modmirror/bench/internal/benchutil"
)

// newClient returns an HTTP client with its own connection pool that asks
// for no compression, as a downloader of zips would.
func newClient() *http.Client {
	return &http.Client{Transport: &http.Transport{DisableCompression: true, MaxIdleConnsPerHost: 1}}
}

// download fetches url with c and checks that the body is want bytes long.
// It reads with a 1 MiB buffer, so that the client makes few system calls
// and is not what limits the transfer.
func download(ctx context.Context, c *http.Client, url string, want int64, buf []byte) error {
	req, err := http.NewRequestWithContext(ctx, "GET", url, nil)
	if err != nil {
		return err
	}
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	var n int64
	for {
		m, err := resp.Body.Read(buf)
		n += int64(m)
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("GET %s: after %d bytes: %w", url, n, err)
		}
	}
	if n != want {
		return fmt.Errorf("GET %s: %d bytes, want %d", url, n, want)
	}
	return nil
}

// throughput downloads url again and again over one connection for at least
// d and at least three times, and returns bytes per second.
func throughput(url string, want int64, d time.Duration) (float64, int, error) {
	c := newClient()
	defer c.CloseIdleConnections()
	buf := make([]byte, 1<<20)
	ctx := context.Background()
	// One untimed download opens the connection.
	if err := download(ctx, c, url, want, buf); err != nil {
		return 0, 0, err
	}
	start := time.Now()
	n := 0
	for n < 3 || time.Since(start) < d {
		if err := download(ctx, c, url, want, buf); err != nil {
			return 0, 0, err
		}
		n++
	}
	return float64(want) * float64(n) / time.Since(start).Seconds(), n, nil
}

// memory is what a process's memory use was during a load.
type memory struct {
	idle        int64 // VmRSS before the load
	peak        int64 // VmHWM after the load: the kernel's own high-water mark
	maxSampled  int64 // highest VmRSS sampled every 10ms
	meanSampled int64
	samples     int
	elapsed     time.Duration // time for all clients to finish
}

// concurrentDownloads has clients download url at once, each on its own
// connection, while sampling the memory use of process pid.
func concurrentDownloads(url string, want int64, clients, pid int) (memory, error) {
	var mem memory
	var err error
	if mem.idle, err = benchutil.ProcStatus(pid, "VmRSS"); err != nil {
		return mem, err
	}
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		var sum int64
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		for {
			if rss, err := benchutil.ProcStatus(pid, "VmRSS"); err == nil {
				mem.maxSampled = max(mem.maxSampled, rss)
				sum += rss
				mem.samples++
				mem.meanSampled = sum / int64(mem.samples)
			}
			select {
			case <-stop:
				return
			case <-tick.C:
			}
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	start := time.Now()
	errs := make([]error, clients)
	var wg sync.WaitGroup
	for i := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := newClient()
			defer c.CloseIdleConnections()
			errs[i] = download(ctx, c, url, want, make([]byte, 1<<20))
		}()
	}
	wg.Wait()
	mem.elapsed = time.Since(start)
	close(stop)
	<-sampled
	for _, err := range errs {
		if err != nil {
			return mem, err
		}
	}
	mem.peak, err = benchutil.ProcStatus(pid, "VmHWM")
	return mem, err
}
