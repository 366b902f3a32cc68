package e2e

import (
	"io"
	"net"
	"net/url"
	"sync"
	"testing"
)

// A cutter forwards TCP connections to a server, such as PostgreSQL, until
// Cut, which closes every one and refuses new ones (accepted and closed at
// once) until Restore: the network between a mirror and a server going
// away without the server going down.
type cutter struct {
	l      net.Listener
	target string

	mu    sync.Mutex
	conns map[net.Conn]bool
	cut   bool
	wg    sync.WaitGroup
}

// newCutter starts a cutter on 127.0.0.1 in front of the server of the
// URL raw (scheme://user:pass@host:port/...) and returns it with raw
// changed to go through it. It stops when t ends.
func newCutter(t *testing.T, raw string) (*cutter, string) {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	c := &cutter{l: l, target: u.Host, conns: map[net.Conn]bool{}}
	c.wg.Go(c.accept)
	t.Cleanup(func() {
		l.Close()
		c.Cut()
		c.wg.Wait()
	})
	u.Host = l.Addr().String()
	return c, u.String()
}

func (c *cutter) accept() {
	for {
		conn, err := c.l.Accept()
		if err != nil {
			return
		}
		c.mu.Lock()
		if c.cut {
			c.mu.Unlock()
			conn.Close()
			continue
		}
		c.conns[conn] = true
		c.mu.Unlock()
		c.wg.Go(func() { c.forward(conn) })
	}
}

// forward copies between conn and a new connection to the target until
// either side closes or the cutter cuts.
func (c *cutter) forward(conn net.Conn) {
	defer c.drop(conn)
	server, err := net.Dial("tcp", c.target)
	if err != nil {
		return
	}
	c.mu.Lock()
	if c.cut {
		c.mu.Unlock()
		server.Close()
		return
	}
	c.conns[server] = true
	c.mu.Unlock()
	defer c.drop(server)
	done := make(chan struct{}, 2)
	go func() { io.Copy(server, conn); done <- struct{}{} }()
	go func() { io.Copy(conn, server); done <- struct{}{} }()
	<-done
}

func (c *cutter) drop(conn net.Conn) {
	conn.Close()
	c.mu.Lock()
	delete(c.conns, conn)
	c.mu.Unlock()
}

// Cut closes every connection and refuses new ones.
func (c *cutter) Cut() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.cut = true
	for conn := range c.conns {
		conn.Close()
	}
}

// Restore lets connections through again.
func (c *cutter) Restore() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.cut = false
}
