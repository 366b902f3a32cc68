package testupstream

import (
	"archive/zip"
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/mod/module"
	"golang.org/x/mod/sumdb/dirhash"
	modzip "golang.org/x/mod/zip"
)

const (
	fixtureZip = "/example.com/fixture/@v/v1.0.0.zip"
	fixtureMod = "/example.com/fixture/@v/v1.0.0.mod"
)

func TestFaultStatus(t *testing.T) {
	t.Parallel()
	s := New(t, fixtures(t)...)
	tests := []struct {
		code     int
		wantBody string
	}{
		{404, "not found: " + fixtureZip + ": testupstream fault\n"},
		{410, "not found: " + fixtureZip + ": testupstream fault\n"},
		{403, "not available\n"},
		{500, "testupstream: injected fault: 500 Internal Server Error\n"},
		{502, "testupstream: injected fault: 502 Bad Gateway\n"},
	}
	for _, tt := range tests {
		s.SetFault(fixtureZip, Status(tt.code))
		resp, err := http.Get(s.URL + fixtureZip)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tt.code || string(body) != tt.wantBody {
			t.Errorf("Status(%d): got %d %q, want %d %q", tt.code, resp.StatusCode, body, tt.code, tt.wantBody)
		}
		if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
			t.Errorf("Status(%d): Content-Type %q, want text/plain", tt.code, ct)
		}
	}

	// FaultNone restores normal service, and other paths were never
	// affected.
	s.SetFault(fixtureZip, FaultNone)
	get200(t, s.URL+fixtureZip)
	get200(t, s.URL+fixtureMod)
}

func TestFaultTimes(t *testing.T) {
	t.Parallel()
	s := New(t, fixtures(t)...)
	s.SetFault(fixtureMod, Status(500).Times(2))
	var got []int
	for range 4 {
		code, _ := get(t, s.URL+fixtureMod)
		got = append(got, code)
	}
	if want := []int{500, 500, 200, 200}; !slices.Equal(got, want) {
		t.Errorf("statuses: got %v, want %v", got, want)
	}
	if n := s.Requests(fixtureMod); n != 4 {
		t.Errorf("Requests = %d, want 4: faulted requests count too", n)
	}
}

func TestFaultString(t *testing.T) {
	t.Parallel()
	tests := []struct {
		f    Fault
		want string
	}{
		{FaultNone, "FaultNone"},
		{Status(410), "Status(410)"},
		{Hang, "Hang"},
		{Delay(time.Second).Times(3), "Delay(1s).Times(3)"},
		{TamperZip, "TamperZip"},
	}
	for _, tt := range tests {
		if got := tt.f.String(); got != tt.want {
			t.Errorf("String() = %q, want %q", got, tt.want)
		}
	}
	if Status(500) != Status(500) || Status(500) == Status(502) || Hang.Times(1) == Hang {
		t.Error("Faults do not compare as values")
	}
}

func TestFaultHang(t *testing.T) {
	t.Parallel()
	s := New(t, fixtures(t)...)
	s.SetFault(fixtureZip, Hang)

	// The client gives up; the server lets go.
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", s.URL+fixtureZip, nil)
	start := time.Now()
	_, err := http.DefaultClient.Do(req)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("hung request: error %v, want deadline exceeded", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("hung request returned after %v", d)
	}
	get200(t, s.URL+fixtureMod) // the server still serves other paths
}

func TestFaultHangClose(t *testing.T) {
	t.Parallel()
	// A request that is still hanging when the test ends must neither
	// block the cleanup nor get a successful response.
	errc := make(chan error, 1)
	start := time.Now()
	t.Run("server", func(t *testing.T) {
		s := New(t, fixtures(t)...)
		s.SetFault(fixtureZip, Hang)
		go func() {
			resp, err := http.Get(s.URL + fixtureZip)
			if err == nil {
				resp.Body.Close()
			}
			errc <- err
		}()
		for s.Requests(fixtureZip) == 0 {
			time.Sleep(time.Millisecond)
		}
	}) // cleanup closes the server here
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("closing the server took %v", d)
	}
	select {
	case err := <-errc:
		if err == nil {
			t.Error("hung request succeeded after the server closed")
		}
	case <-time.After(5 * time.Second):
		t.Error("hung request still pending after the server closed")
	}
}

func TestFaultDelay(t *testing.T) {
	t.Parallel()
	s := New(t, fixtures(t)...)
	want := get200(t, s.URL+fixtureMod)
	s.SetFault(fixtureMod, Delay(200*time.Millisecond))
	start := time.Now()
	got := get200(t, s.URL+fixtureMod)
	if d := time.Since(start); d < 200*time.Millisecond {
		t.Errorf("delayed request returned after %v", d)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("delayed body %q, want %q", got, want)
	}
}

func TestFaultTruncate(t *testing.T) {
	t.Parallel()
	s := New(t, fixtures(t)...)
	for _, p := range []string{fixtureZip, "/sumdb/" + s.SumDBName() + "/supported"} {
		s.SetFault(p, Truncate)
		resp, err := http.Get(s.URL + p)
		if err != nil {
			t.Fatal(err)
		}
		_, err = io.ReadAll(resp.Body)
		resp.Body.Close()
		if !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Errorf("%s: reading truncated body: error %v, want unexpected EOF", p, err)
		}
	}
}

func TestFaultStall(t *testing.T) {
	t.Parallel()
	s := New(t, fixtures(t)...)
	s.SetFault(fixtureZip, Stall)
	client := &http.Client{Timeout: 300 * time.Millisecond}
	resp, err := client.Get(s.URL + fixtureZip)
	if err != nil {
		t.Fatalf("stalled response: no headers: %v", err)
	}
	defer resp.Body.Close()
	buf := make([]byte, resp.ContentLength)
	n, err := io.ReadAtLeast(resp.Body, buf, 1)
	if err != nil || n == 0 || int64(n) >= resp.ContentLength {
		t.Fatalf("stalled response: read %d of %d bytes, %v; want the first half", n, resp.ContentLength, err)
	}
	_, err = io.ReadAll(resp.Body)
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Errorf("stalled response: reading the rest: %v; want the client's timeout (not an early end)", err)
	}
}

func TestFaultCorruptZip(t *testing.T) {
	t.Parallel()
	s := New(t, fixtures(t)...)
	s.SetFault(fixtureZip, CorruptZip)
	data := get200(t, s.URL+fixtureZip)
	if _, err := zip.NewReader(bytes.NewReader(data), int64(len(data))); err == nil {
		t.Error("CorruptZip served a readable zip")
	}
}

func TestFaultTamperZip(t *testing.T) {
	t.Parallel()
	mods := append(fixtures(t), Module{
		Path: "example.com/onlygomod", Version: "v1.0.0",
		Files: map[string]string{"go.mod": "module example.com/onlygomod\n"},
	})
	s := New(t, mods...)
	for _, m := range []module.Version{
		{Path: "example.com/fixture", Version: "v1.0.0"},
		{Path: "example.com/incompat", Version: "v2.0.0+incompatible"},
		{Path: "example.com/onlygomod", Version: "v1.0.0"}, // tampering adds a file
	} {
		urlPath := "/" + m.Path + "/@v/" + m.Version + ".zip"
		orig := get200(t, s.URL+urlPath)
		s.SetFault(urlPath, TamperZip)
		tampered := get200(t, s.URL+urlPath)
		if bytes.Equal(orig, tampered) {
			t.Fatalf("%s: TamperZip served the original zip", m)
		}
		file := writeTemp(t, "tampered.zip", tampered)
		if _, err := modzip.CheckZip(m, file); err != nil {
			t.Errorf("%s: tampered zip is not a valid module zip: %v", m, err)
		}
		sum, err := dirhash.HashZip(file, dirhash.Hash1)
		if err != nil {
			t.Fatal(err)
		}
		if logged := s.GoSumLines(m.Path, m.Version)[0]; strings.HasSuffix(logged, " "+sum) {
			t.Errorf("%s: tampered zip has the logged hash %s", m, sum)
		}
	}

	// On anything but a zip, the fault is a mistake in the test.
	s.SetFault(fixtureMod, TamperZip)
	if code, _ := get(t, s.URL+fixtureMod); code != http.StatusInternalServerError {
		t.Errorf("TamperZip on a .mod: status %d, want 500", code)
	}
}

func TestFaultTamperMod(t *testing.T) {
	t.Parallel()
	s := New(t, fixtures(t)...)
	orig := get200(t, s.URL+fixtureMod)
	s.SetFault(fixtureMod, TamperMod)
	tampered := get200(t, s.URL+fixtureMod)
	if !bytes.HasPrefix(tampered, orig) || len(tampered) == len(orig) {
		t.Errorf("TamperMod served %q, want the original %q with something added", tampered, orig)
	}
	sum, err := hashMod(tampered)
	if err != nil {
		t.Fatal(err)
	}
	if logged := s.GoSumLines("example.com/fixture", "v1.0.0")[1]; strings.HasSuffix(logged, " "+sum) {
		t.Errorf("tampered go.mod has the logged hash %s", sum)
	}
}

func TestFaultSumDB(t *testing.T) {
	t.Parallel()
	s := New(t, fixtures(t)...)
	lookup := "/sumdb/" + s.SumDBName() + "/lookup/example.com/fixture@v1.0.0"
	s.SetFault(lookup, Status(500))
	if _, err := newClient(t, s).Lookup("example.com/fixture", "v1.0.0"); err == nil || !strings.Contains(err.Error(), "500") {
		t.Errorf("Lookup with a faulted database: error %v, want a 500", err)
	}
	s.SetFault(lookup, FaultNone)
	if _, err := newClient(t, s).Lookup("example.com/fixture", "v1.0.0"); err != nil {
		t.Errorf("Lookup after clearing the fault: %v", err)
	}
	if n := s.Requests(lookup); n != 2 {
		t.Errorf("Requests(%s) = %d, want 2", lookup, n)
	}
}
