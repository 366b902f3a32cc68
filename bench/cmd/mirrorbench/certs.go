package main

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"

	"github.com/modmirror/modmirror/internal/testcert"
)

// systemRoots is Debian's bundle of trusted certificates, which the
// processes the benchmark starts need to keep reaching proxy.golang.org
// when SSL_CERT_FILE adds the benchmark's own CA.
const systemRoots = "/etc/ssl/certs/ca-certificates.crt"

// makeCA makes the CA whose certificate the HTTPS servers of the run use
// (modmirror with --tls-cert, the bare Go server, the delaying proxy), makes
// this process trust it besides the system's roots, and writes the bundle
// that child processes get as SSL_CERT_FILE.
func (b *bench) makeCA() error {
	dir := filepath.Join(b.work, "certs")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	ca, err := testcert.New(dir, "mirrorbench CA")
	if err != nil {
		return err
	}
	caPEM, err := os.ReadFile(ca.CAFile)
	if err != nil {
		return err
	}
	roots, err := os.ReadFile(systemRoots)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	b.certBundle = filepath.Join(dir, "bundle.pem")
	if err := os.WriteFile(b.certBundle, append(append(roots, '\n'), caPEM...), 0o644); err != nil {
		return err
	}
	pool, err := x509.SystemCertPool()
	if err != nil {
		pool = x509.NewCertPool()
	}
	pool.AppendCertsFromPEM(caPEM)
	http.DefaultTransport.(*http.Transport).TLSClientConfig = &tls.Config{RootCAs: pool}
	b.ca = ca
	return nil
}
