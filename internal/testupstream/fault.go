package testupstream

import (
	"archive/zip"
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path"
	"strconv"
	"strings"
	"time"
)

// A Fault describes how requests for one URL path misbehave; see
// [Server.SetFault]. Faults are values: compare them with ==, and build them
// from the variables and functions below. The zero Fault is FaultNone.
type Fault struct {
	kind  faultKind
	code  int           // for Status
	delay time.Duration // for Delay
	times int           // requests left to fault; 0 means every request
}

type faultKind int

const (
	kindNone faultKind = iota
	kindStatus
	kindHang
	kindDelay
	kindTruncate
	kindStall
	kindCorruptZip
	kindTamperZip
	kindTamperMod
)

var (
	// FaultNone serves normally; setting it clears a fault.
	FaultNone = Fault{}

	// Hang sends nothing and holds the request open until the client gives
	// up or the server closes, then drops the connection. It tests client
	// timeouts.
	Hang = Fault{kind: kindHang}

	// Truncate sends the normal status and headers with the Content-Length
	// of the whole body, but only the first half of the body, and then
	// closes the connection: the client sees an unexpected EOF.
	Truncate = Fault{kind: kindTruncate}

	// Stall sends the normal status and headers, with the Content-Length
	// of the whole body, and the first half of the body, then nothing
	// more until the client gives up or the server closes: an upstream
	// whose stream stops without closing. It tests idle timeouts.
	Stall = Fault{kind: kindStall}

	// CorruptZip answers 200 with bytes that are not a zip file, on any path.
	CorruptZip = Fault{kind: kindCorruptZip}

	// TamperZip serves, on a .zip path, a valid module zip whose content
	// differs from the original (one file is changed, or one added), so its
	// h1: hash does not match the checksum database.
	TamperZip = Fault{kind: kindTamperZip}

	// TamperMod serves, on a .mod path, the go.mod file with a line added,
	// so its h1: hash does not match the checksum database.
	TamperMod = Fault{kind: kindTamperMod}
)

// Status answers with the HTTP status code and a plain-text body, like an
// upstream that refuses: 404 and 410 say "not found: ...", as
// proxy.golang.org does, 403 says "not available", and other codes name
// the injected status.
func Status(code int) Fault { return Fault{kind: kindStatus, code: code} }

// Delay waits for d, then serves normally. If the client gives up or the
// server closes first, it drops the connection.
func Delay(d time.Duration) Fault { return Fault{kind: kindDelay, delay: d} }

// Times returns f limited to the next n requests for its path, after which
// the path serves normally again; it lets a test fail the first attempt
// and check a retry. It panics if n is not positive.
func (f Fault) Times(n int) Fault {
	if n <= 0 {
		panic("testupstream: Fault.Times: n must be positive")
	}
	f.times = n
	return f
}

// String describes f as the Go expression that builds it, such as
// "Status(500).Times(1)".
func (f Fault) String() string {
	var s string
	switch f.kind {
	case kindNone:
		s = "FaultNone"
	case kindStatus:
		s = "Status(" + strconv.Itoa(f.code) + ")"
	case kindHang:
		s = "Hang"
	case kindDelay:
		s = "Delay(" + f.delay.String() + ")"
	case kindTruncate:
		s = "Truncate"
	case kindStall:
		s = "Stall"
	case kindCorruptZip:
		s = "CorruptZip"
	case kindTamperZip:
		s = "TamperZip"
	case kindTamperMod:
		s = "TamperMod"
	}
	if f.times > 0 {
		s += ".Times(" + strconv.Itoa(f.times) + ")"
	}
	return s
}

// notAZip is what CorruptZip serves: it has a zip's local file header
// signature, so it is not rejected before a zip reader looks for the
// central directory, which is missing.
var notAZip = []byte("PK\x03\x04testupstream: this is not a valid zip file\n")

// applyFault serves r with f, calling next for the normal response.
func (s *Server) applyFault(f Fault, w http.ResponseWriter, r *http.Request, next http.HandlerFunc) {
	switch f.kind {
	case kindNone:
		next(w, r)
	case kindStatus:
		writeStatus(w, r, f.code)
	case kindHang:
		s.wait(r, nil)
		panic(http.ErrAbortHandler) // no response at all, not an empty 200
	case kindDelay:
		timer := time.NewTimer(f.delay)
		defer timer.Stop()
		if !s.wait(r, timer.C) {
			panic(http.ErrAbortHandler)
		}
		next(w, r)
	case kindCorruptZip:
		serveBytes(w, "application/zip", notAZip)
	default:
		s.transform(f, w, r, next)
	}
}

// wait blocks until done delivers, the request's context ends, or the
// server closes, and reports whether done came first.
func (s *Server) wait(r *http.Request, done <-chan time.Time) bool {
	select {
	case <-done:
		return true
	case <-r.Context().Done():
	case <-s.closing:
	}
	return false
}

// writeStatus serves the fault Status(code).
func writeStatus(w http.ResponseWriter, r *http.Request, code int) {
	var msg string
	switch code {
	case http.StatusNotFound, http.StatusGone:
		msg = "not found: " + r.URL.Path + ": testupstream fault"
	case http.StatusForbidden:
		msg = "not available"
	default:
		msg = fmt.Sprintf("testupstream: injected fault: %d %s", code, http.StatusText(code))
	}
	http.Error(w, msg, code)
}

// transform serves the faults that alter the normal response: it records
// what next would send and sends something else.
func (s *Server) transform(f Fault, w http.ResponseWriter, r *http.Request, next http.HandlerFunc) {
	var want string // the file type a Tamper fault makes sense on
	switch f.kind {
	case kindTamperZip:
		want = ".zip"
	case kindTamperMod:
		want = ".mod"
	}
	if want != "" && path.Ext(r.URL.Path) != want {
		http.Error(w, fmt.Sprintf("testupstream: %v fault set on %s, which is not a %s file", f, r.URL.Path, want),
			http.StatusInternalServerError)
		return
	}

	rec := httptest.NewRecorder()
	next(rec, r)
	body := rec.Body.Bytes()
	if rec.Code == http.StatusOK {
		var err error
		switch f.kind {
		case kindTamperZip:
			body, err = tamperZip(body)
		case kindTamperMod:
			body = append(bytes.Clone(body), "// tampered by testupstream\n"...)
		}
		if err != nil {
			http.Error(w, fmt.Sprintf("testupstream: %v on %s: %v", f, r.URL.Path, err), http.StatusInternalServerError)
			return
		}
	}

	for k, v := range rec.Header() {
		w.Header()[k] = v
	}
	if f.kind != kindTruncate && f.kind != kindStall {
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		w.WriteHeader(rec.Code)
		w.Write(body)
		return
	}
	// Promise at least one byte, so that even an empty body is cut short.
	w.Header().Set("Content-Length", strconv.Itoa(max(len(body), 1)))
	w.WriteHeader(rec.Code)
	w.Write(body[:len(body)/2])
	http.NewResponseController(w).Flush()
	if f.kind == kindStall {
		s.wait(r, nil)
	}
	panic(http.ErrAbortHandler) // close the connection before the promised end
}

// tamperZip returns a valid module zip that differs from the one in data:
// the first file other than go.mod gets a line appended or, if there is
// none, a file is added. Entry names, and so the module prefix, are kept.
func tamperZip(data []byte) ([]byte, error) {
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		return nil, err
	}
	if len(zr.File) == 0 {
		return nil, fmt.Errorf("cannot tamper with an empty zip")
	}
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	tampered := false
	for _, f := range zr.File {
		content, err := readZipFile(f)
		if err != nil {
			return nil, err
		}
		// A module zip holds only its own root go.mod, never a nested one.
		if !tampered && path.Base(f.Name) != "go.mod" {
			content = append(content, "\n// tampered by testupstream\n"...)
			tampered = true
		}
		if err := writeZipFile(zw, f.Name, content); err != nil {
			return nil, err
		}
	}
	if !tampered {
		prefix := strings.TrimSuffix(zr.File[0].Name, "go.mod")
		if err := writeZipFile(zw, prefix+"tampered.txt", []byte("tampered by testupstream\n")); err != nil {
			return nil, err
		}
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func readZipFile(f *zip.File) ([]byte, error) {
	rc, err := f.Open()
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	return io.ReadAll(rc)
}

func writeZipFile(zw *zip.Writer, name string, content []byte) error {
	w, err := zw.Create(name)
	if err != nil {
		return err
	}
	_, err = w.Write(content)
	return err
}
