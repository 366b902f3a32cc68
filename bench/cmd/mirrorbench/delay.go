package main

import (
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"time"
)

// startDelayProxy serves target (the real proxy, and its /sumdb/) on a
// loopback HTTPS address with the run's certificate, holding each request
// for delay before forwarding it: the latency of a distant upstream, added
// alike to the go command's requests and to the mirror's. It forwards over
// one shared transport (HTTP/2 to the target). stop closes it.
func (b *bench) startDelayProxy(target string, delay time.Duration) (proxyURL string, stop func(), err error) {
	u, err := url.Parse(target)
	if err != nil {
		return "", nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	transport := http.DefaultTransport.(*http.Transport).Clone()
	transport.ForceAttemptHTTP2 = true
	transport.MaxIdleConnsPerHost = 64
	rp := &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(u)
			r.Out.Host = u.Host
		},
		Transport: transport,
	}
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-time.After(delay):
			case <-r.Context().Done():
				return
			}
			rp.ServeHTTP(w, r)
		}),
		ReadHeaderTimeout: 10 * time.Second,
	}
	go srv.ServeTLS(ln, b.ca.CertFile, b.ca.KeyFile)
	return "https://" + ln.Addr().String(), func() { srv.Close() }, nil
}
