package e2e

import (
	"archive/tar"
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// rewriteTar copies a tar, letting change alter each file's content.
func rewriteTar(t *testing.T, src, dst string, change func(name string, data []byte) []byte) {
	t.Helper()
	in, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(bytes.NewReader(in))
	var out bytes.Buffer
	tw := tar.NewWriter(&out)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		data, _ := io.ReadAll(tr)
		data = change(hdr.Name, data)
		hdr.Size = int64(len(data))
		tw.WriteHeader(hdr)
		tw.Write(data)
	}
	tw.Close()
	if err := os.WriteFile(dst, out.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestExportImport moves versions from a mirror into an offline one as a
// bundle checked against the first mirror's own log, then serves them to
// the go command from there; a tampered, a truncated bundle and a wrong
// log key are refused, naming what is wrong, with nothing imported.
func TestExportImport(t *testing.T) {
	t.Parallel()
	up := newFixture(t)
	keyA, vkeyA := keygen(t)
	a := startMirror(t, up, "", "--sumdb-key", keyA)
	newGo(t, a.URL, vkeyA).OK(t.TempDir(), "mod", "download", libPath+"@v1.0.0", azurePath+"@v1.0.0")
	bundleFile := filepath.Join(t.TempDir(), "mods.tar")
	// The exporting mirror keeps serving; the catalog may take a moment
	// to have everything (fills are recorded as they end).
	out, code := runModmirror(t, "export", "--data", a.Data, "-o", bundleFile)
	if code != 0 || !strings.Contains(out, "exported 2 module versions (2 with a record") {
		t.Fatalf("export (exit %d): %s", code, out)
	}

	// The target: a new data directory, its own log.
	keyB, vkeyB := keygen(t)
	for _, tc := range []struct {
		name   string
		bundle func() string
		args   []string
		want   string
	}{
		{"tampered zip", func() string {
			f := filepath.Join(t.TempDir(), "tampered.tar")
			rewriteTar(t, bundleFile, f, func(name string, data []byte) []byte {
				if strings.HasSuffix(name, "v1.0.0.zip") && strings.Contains(name, "lib") {
					// The central directory's name of a file: a valid zip
					// with another file name, so another hash.
					i := bytes.LastIndex(data, []byte("LICENSE"))
					return append(append(append([]byte{}, data[:i]...), "LICENSX"...), data[i+7:]...)
				}
				return data
			})
			return f
		}, nil, "bundle: example.com/lib/@v/v1.0.0.zip: "},
		{"truncated", func() string {
			data, _ := os.ReadFile(bundleFile)
			f := filepath.Join(t.TempDir(), "truncated.tar")
			os.WriteFile(f, data[:len(data)/2], 0o644)
			return f
		}, nil, "truncated"},
		{"wrong log key", func() string { return bundleFile }, []string{"--log-key", vkeyB}, "the log head is not signed with"},
	} {
		data := t.TempDir()
		out, code := runModmirror(t, append([]string{"import", "--data", data, "--sumdb-key", keyB, tc.bundle()}, tc.args...)...)
		if code == 0 || !strings.Contains(out, tc.want) {
			t.Errorf("%s: import (exit %d): %s\nwant an error containing %q", tc.name, code, out, tc.want)
		} else {
			t.Logf("%s: %s", tc.name, strings.TrimSpace(out))
		}
		if exists(filepath.Join(data, "cache", "download", "example.com")) || exists(filepath.Join(data, "cache", "download", "github.com")) {
			t.Errorf("%s: something was imported", tc.name)
		}
	}

	data := t.TempDir()
	args := []string{"import", "--data", data, "--sumdb-key", keyB, "--log-key", vkeyA, bundleFile}
	out, code = runModmirror(t, args...)
	if code != 0 || !strings.Contains(out, "imported 2 new module versions, 0 already there") {
		t.Fatalf("import (exit %d): %s", code, out)
	}
	out, code = runModmirror(t, args...)
	if code != 0 || !strings.Contains(out, "imported 0 new module versions, 2 already there") {
		t.Errorf("import again (exit %d): %s", code, out)
	}

	// Offline, with its own log as the go command's checksum database.
	b := startMirror(t, up, data, "--offline", "--sumdb-key", keyB)
	g := newGo(t, b.URL, vkeyB)
	g.OK(t.TempDir(), "mod", "download", libPath+"@v1.0.0", azurePath+"@v1.0.0")
	if n := up.Requests(libV100Zip); n != 1 {
		t.Errorf("the upstream was asked for %s %d times; the offline mirror must not ask", libV100Zip, n)
	}
}
