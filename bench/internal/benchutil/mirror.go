package benchutil

import (
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/modmirror/modmirror/internal/testupstream"
)

// A Mirror is a running "modmirror serve".
type Mirror struct {
	Name string
	URL  string
	Cmd  *exec.Cmd
	Log  string // the file of its output
}

var (
	runningMu sync.Mutex
	running   []*Mirror
)

// StopAll stops every mirror StartMirror started that still runs.
func StopAll() {
	runningMu.Lock()
	defer runningMu.Unlock()
	for _, m := range running {
		m.Stop()
	}
	running = nil
}

// Stop stops the mirror (SIGINT, then SIGKILL after 40 s) and waits for it.
func (m *Mirror) Stop() {
	if m.Cmd.ProcessState != nil {
		return
	}
	m.Cmd.Process.Signal(os.Interrupt)
	done := make(chan struct{})
	go func() { m.Cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(40 * time.Second):
		m.Cmd.Process.Kill()
		<-done
	}
}

// StartMirror runs "bin serve --listen ADDR --data DIR args..." on a free
// loopback port with a new data directory and only env (and PATH and HOME)
// in its environment, and waits until /readyz answers 200 (for up to
// ready).
func StartMirror(tb *ProgramTB, bin, name string, env []string, ready time.Duration, args ...string) (*Mirror, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	addr := l.Addr().String()
	l.Close()
	data := tb.TempDir()
	args = append([]string{"serve", "--listen", addr, "--data", data}, args...)
	m := &Mirror{Name: name, URL: "http://" + addr, Log: filepath.Join(data, "..", filepath.Base(data)+".log")}
	logf, err := os.Create(m.Log)
	if err != nil {
		return nil, err
	}
	m.Cmd = exec.Command(bin, args...)
	m.Cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + data}, env...)
	m.Cmd.Stdout, m.Cmd.Stderr = logf, logf
	KillWithParent(m.Cmd)
	if err := m.Cmd.Start(); err != nil {
		return nil, err
	}
	logf.Close()
	runningMu.Lock()
	running = append(running, m)
	runningMu.Unlock()
	deadline := time.Now().Add(ready)
	for {
		resp, err := http.Get(m.URL + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return m, nil
			}
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("%s not ready: %v\n%s", name, err, Tail(m.Log, 10))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Fetch GETs url and reads the body; an answer other than 200 is an error.
func Fetch(client *http.Client, url string) (int64, error) {
	resp, err := client.Get(url)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	n, err := io.Copy(io.Discard, resp.Body)
	if err == nil && resp.StatusCode != 200 {
		err = fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return n, err
}

// NewClient returns a keep-alive client of up to conns connections.
func NewClient(conns int) *http.Client {
	return &http.Client{Timeout: 5 * time.Minute, Transport: &http.Transport{
		MaxIdleConnsPerHost: conns, MaxConnsPerHost: conns, DisableCompression: true}}
}

// A Load is what clients fetching a URL for a while got.
type Load struct {
	Reqs  int
	Bytes int64
	Lat   []time.Duration
	Wall  time.Duration
}

// RPS is the requests per second.
func (l Load) RPS() float64 { return float64(l.Reqs) / l.Wall.Seconds() }

// Pct returns the p-th percentile latency (p from 0 to 1).
func (l Load) Pct(p float64) time.Duration {
	if len(l.Lat) == 0 {
		return 0
	}
	s := slices.Clone(l.Lat)
	slices.Sort(s)
	return s[min(len(s)-1, int(float64(len(s))*p))]
}

// Hammer runs clients that fetch url over and over for d. The first error
// ends the client that got it, and is returned.
func Hammer(url string, clients int, d time.Duration) (Load, error) {
	client := NewClient(clients)
	defer client.CloseIdleConnections()
	var mu sync.Mutex
	var total Load
	var firstErr error
	start := time.Now()
	deadline := start.Add(d)
	var wg sync.WaitGroup
	for range clients {
		wg.Go(func() {
			var l Load
			for time.Now().Before(deadline) {
				t := time.Now()
				n, err := Fetch(client, url)
				if err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
					return
				}
				l.Reqs++
				l.Bytes += n
				l.Lat = append(l.Lat, time.Since(t))
			}
			mu.Lock()
			total.Reqs += l.Reqs
			total.Bytes += l.Bytes
			total.Lat = append(total.Lat, l.Lat...)
			mu.Unlock()
		})
	}
	wg.Wait()
	total.Wall = time.Since(start)
	return total, firstErr
}

// Ms writes d in milliseconds.
func Ms(d time.Duration) string { return fmt.Sprintf("%.2f ms", float64(d.Microseconds())/1000) }

// RandomModule is a module version with files of random bytes (so that its
// zip is incompressible) totalling n bytes, in files of at most 1 MiB.
func RandomModule(path, version string, seed uint64, n int) testupstream.Module {
	r := mrand.New(mrand.NewPCG(seed, 7))
	files := map[string]string{"go.mod": "module " + path + "\n\ngo 1.22\n"}
	for i := 0; n > 0; i++ {
		b := make([]byte, min(n, 1<<20))
		for j := range b {
			b[j] = byte(r.Uint32())
		}
		files[fmt.Sprintf("data/blob%03d.bin", i)] = string(b)
		n -= len(b)
	}
	return testupstream.Module{Path: path, Version: version, Files: files}
}
