package testupstream

import (
	"io"
	"net/http"
	"os"
	"path/filepath"
	"testing"
)

// fixtures returns the modules most tests serve.
func fixtures(t *testing.T) []Module {
	t.Helper()
	mods, err := LoadDir("testdata/mod")
	if err != nil {
		t.Fatal(err)
	}
	return append(mods,
		Module{
			Path:    "example.com/Upper",
			Version: "v1.0.0-RC1",
			Files:   map[string]string{"go.mod": "module example.com/Upper\n", "u.go": "package upper\n"},
		},
		Module{
			// Predates modules: no go.mod, and a major version above 1.
			Path:    "example.com/incompat",
			Version: "v2.0.0+incompatible",
			Files:   map[string]string{"old.go": "package old\n"},
		},
	)
}

// get fetches url and returns the status code and body; it fails the test
// if the request fails.
func get(t *testing.T, url string) (int, []byte) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: reading body: %v", url, err)
	}
	return resp.StatusCode, body
}

// get200 fetches url and returns the body; it fails the test unless the
// status is 200.
func get200(t *testing.T, url string) []byte {
	t.Helper()
	code, body := get(t, url)
	if code != http.StatusOK {
		t.Fatalf("GET %s: %d %s", url, code, body)
	}
	return body
}

// writeTemp writes data to a new file in a temporary directory and returns
// its name, for the x/mod functions that read zips from files.
func writeTemp(t *testing.T, name string, data []byte) string {
	t.Helper()
	file := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(file, data, 0o666); err != nil {
		t.Fatal(err)
	}
	return file
}
