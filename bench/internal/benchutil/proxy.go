package benchutil

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"
)

// A Proxy is a loopback reverse proxy to an upstream (such as
// proxy.golang.org, and its /sumdb/) that holds each request for a delay
// before forwarding it, the latency of a distant upstream, and counts
// requests and response bytes.
type Proxy struct {
	URL      string
	srv      *http.Server
	requests atomic.Int64
	bytes    atomic.Int64
}

// StartProxy starts a Proxy to upstream on 127.0.0.1, serving HTTPS with
// certFile and keyFile when certFile is not empty. It forwards over one
// shared transport (HTTP/2 to an HTTPS upstream).
func StartProxy(upstream string, delay time.Duration, certFile, keyFile string) (*Proxy, error) {
	target, err := url.Parse(upstream)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &Proxy{URL: "http://" + ln.Addr().String()}
	if certFile != "" {
		p.URL = "https://" + ln.Addr().String()
	}
	transport := http.DefaultTransport.(*http.Transport).Clone()
	transport.MaxIdleConnsPerHost = 256
	rp := &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(target)
			r.Out.Host = target.Host
		},
		Transport: transport,
		ModifyResponse: func(resp *http.Response) error {
			resp.Body = &countingBody{resp.Body, &p.bytes}
			return nil
		},
	}
	p.srv = &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			p.requests.Add(1)
			if delay > 0 {
				select {
				case <-time.After(delay):
				case <-r.Context().Done():
					return
				}
			}
			rp.ServeHTTP(w, r)
		}),
		ReadHeaderTimeout: 10 * time.Second,
	}
	go func() {
		var err error
		if certFile != "" {
			err = p.srv.ServeTLS(ln, certFile, keyFile)
		} else {
			err = p.srv.Serve(ln)
		}
		if err != nil && !errors.Is(err, http.ErrServerClosed) {
			fmt.Fprintln(os.Stderr, "proxy:", err)
		}
	}()
	return p, nil
}

// Reset returns the requests and bytes counted since the last Reset.
func (p *Proxy) Reset() (requests, bytes int64) {
	return p.requests.Swap(0), p.bytes.Swap(0)
}

// Close stops the proxy.
func (p *Proxy) Close() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	p.srv.Shutdown(ctx)
}

type countingBody struct {
	io.ReadCloser
	n *atomic.Int64
}

func (c *countingBody) Read(p []byte) (int, error) {
	n, err := c.ReadCloser.Read(p)
	c.n.Add(int64(n))
	return n, err
}

// TreeSize returns the number and total size of the regular files under
// dir.
func TreeSize(dir string) (files int, size int64, err error) {
	err = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		files++
		size += info.Size()
		return nil
	})
	return files, size, err
}
