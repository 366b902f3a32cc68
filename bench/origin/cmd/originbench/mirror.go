package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/modmirror/modmirror/bench/internal/benchutil"
)

// buildMirror builds ./cmd/modmirror into dir, from the module root or,
// with rev, from a clean git archive of that revision (others may be
// editing the working tree).
func buildMirror(goBin, root, rev, dir string) (string, error) {
	src := root
	if rev != "" {
		src = filepath.Join(dir, "src")
		if err := os.MkdirAll(src, 0o755); err != nil {
			return "", err
		}
		archive := exec.Command("sh", "-c", `git -C "$1" archive --format=tar "$2" | tar -x -C "$3"`, "sh", root, rev, src)
		if out, err := archive.CombinedOutput(); err != nil {
			return "", fmt.Errorf("extracting %s: %v\n%s", rev, err, out)
		}
	}
	bin := filepath.Join(dir, "modmirror")
	build := exec.Command(goBin, "build", "-o", bin, "./cmd/modmirror")
	build.Dir, build.Env = src, cleanEnv("GOTOOLCHAIN=local")
	if out, err := build.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./cmd/modmirror in %s: %v\n%s", src, err, out)
	}
	return bin, nil
}

// A mirror is a running "modmirror serve" filling corp.example from the
// git server.
type mirror struct {
	url     string
	data    string
	logPath string
	cmd     *exec.Cmd
	exited  chan struct{}
	waitErr error
}

// mirrorConfig is what every mirror of a run shares.
type mirrorConfig struct {
	bin           string
	gitURL        string
	listTTL       string // --list-ttl
	fetchInterval string // --origin-fetch-interval
}

// running holds the mirrors started and not stopped, for an interrupt.
var running sync.Map // *mirror -> true

// startMirror runs modmirror serve on a free loopback port with data as its
// data directory, and returns once it answers.
func startMirror(c mirrorConfig, data, logPath string) (*mirror, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	addr := ln.Addr().String()
	ln.Close()
	args := []string{"serve",
		"--listen", addr,
		"--data", data,
		"--upstream", "off",
		"--sumdb", "off",
		"--private", "corp.example",
		"--nosumdb=",
		"--private-access", "open",
		"--origin-rule", "corp.example/*=" + c.gitURL + "/{path}.git",
		"--origin-insecure", "127.0.0.1",
		"--list-ttl", c.listTTL,
		"--origin-fetch-interval", c.fetchInterval,
		"--log-format", "json",
		"--log-level", "debug",
	}
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(c.bin, args...)
	cmd.Env = cleanEnv()
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, err
	}
	m := &mirror{url: "http://" + addr, data: data, logPath: logPath, cmd: cmd, exited: make(chan struct{})}
	running.Store(m, true)
	go func() {
		m.waitErr = cmd.Wait()
		logf.Close()
		close(m.exited)
	}()
	deadline := time.Now().Add(30 * time.Second)
	for {
		select {
		case <-m.exited:
			return nil, fmt.Errorf("modmirror exited at start-up (%v):\n%s", m.waitErr, benchutil.Tail(logPath, 20))
		default:
		}
		if err := getOK(m.url + "/"); err == nil {
			return m, nil
		} else if time.Now().After(deadline) {
			m.stop()
			return nil, fmt.Errorf("modmirror not ready after 30s: %v\n%s", err, benchutil.Tail(logPath, 20))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// stop ends the mirror with SIGTERM, or SIGKILL after 30 s. Only this
// process, by its own pid, is ever signalled.
func (m *mirror) stop() {
	defer running.Delete(m)
	select {
	case <-m.exited:
		return
	default:
	}
	m.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-m.exited:
	case <-time.After(30 * time.Second):
		m.cmd.Process.Kill()
		<-m.exited
	}
}

func stopAll() {
	running.Range(func(k, _ any) bool {
		k.(*mirror).stop()
		return true
	})
}

// getOK fetches url and reports an error unless the answer is 200.
func getOK(url string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, "GET", url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return nil
}
