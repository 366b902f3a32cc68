// Package srcerr tells a failing source from a failing destination in a
// copy: io.Copy returns one error for both, but a mirror must answer 502
// when the upstream's stream breaks and 500 when its own disk is full.
package srcerr

import "io"

// A Reader reads from R and remembers its first error other than io.EOF.
type Reader struct {
	R   io.Reader
	Err error
}

func (r *Reader) Read(p []byte) (int, error) {
	n, err := r.R.Read(p)
	if err != nil && err != io.EOF && r.Err == nil {
		r.Err = err
	}
	return n, err
}
