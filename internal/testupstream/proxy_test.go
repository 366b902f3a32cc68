package testupstream

import (
	"archive/zip"
	"bytes"
	"io"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"golang.org/x/mod/module"
	"golang.org/x/mod/sumdb/dirhash"
	modzip "golang.org/x/mod/zip"
)

func TestServeFiles(t *testing.T) {
	t.Parallel()
	s := New(t, fixtures(t)...)
	tests := []struct {
		path string
		want string
	}{
		{"/example.com/fixture/@v/list", "v1.0.0\nv1.1.0-pre\n"},
		{"/example.com/fixture/@v/v1.0.0.info", `{"Version":"v1.0.0","Time":"2020-02-03T04:05:06Z"}`},
		{"/example.com/fixture/@v/v1.1.0-pre.info", `{"Version":"v1.1.0-pre","Time":"2019-01-01T00:00:00Z"}`},
		{"/example.com/fixture/@v/v1.0.0.mod", "module example.com/fixture\n\ngo 1.21\n"},
		{"/example.com/fixture/@latest", `{"Version":"v1.0.0","Time":"2020-02-03T04:05:06Z"}`},
		// Aliases resolve in .info only.
		{"/example.com/fixture/@v/main.info", `{"Version":"v1.1.0-pre","Time":"2019-01-01T00:00:00Z"}`},
		{"/example.com/fixture/@v/0123abcd.info", `{"Version":"v1.1.0-pre","Time":"2019-01-01T00:00:00Z"}`},
		// Capital letters are escaped as !x in paths and versions.
		{"/example.com/!upper/@v/list", "v1.0.0-RC1\n"},
		{"/example.com/!upper/@v/v1.0.0-!r!c1.info", `{"Version":"v1.0.0-RC1","Time":"2019-01-01T00:00:00Z"}`},
		{"/example.com/!upper/@v/v1.0.0-!r!c1.mod", "module example.com/Upper\n"},
		{"/example.com/!upper/@latest", `{"Version":"v1.0.0-RC1","Time":"2019-01-01T00:00:00Z"}`},
		// Without a go.mod, the .mod file is synthesized.
		{"/example.com/incompat/@v/list", "v2.0.0+incompatible\n"},
		{"/example.com/incompat/@v/v2.0.0+incompatible.mod", "module example.com/incompat\n"},
	}
	for _, tt := range tests {
		if got := string(get200(t, s.URL+tt.path)); got != tt.want {
			t.Errorf("GET %s:\ngot  %q\nwant %q", tt.path, got, tt.want)
		}
	}
}

func TestServeZip(t *testing.T) {
	t.Parallel()
	s := New(t, fixtures(t)...)
	tests := []struct {
		path, version string
		want          map[string]string // zip entry name -> content
	}{{
		path:    "example.com/fixture",
		version: "v1.0.0",
		want: map[string]string{
			"example.com/fixture@v1.0.0/go.mod":     "module example.com/fixture\n\ngo 1.21\n",
			"example.com/fixture@v1.0.0/fixture.go": "package fixture\n\n// Hello says hello.\nfunc Hello() string { return \"hello\" }\n",
			"example.com/fixture@v1.0.0/LICENSE":    "Public domain.\n",
		},
	}, {
		path:    "example.com/Upper",
		version: "v1.0.0-RC1",
		want: map[string]string{
			"example.com/Upper@v1.0.0-RC1/go.mod": "module example.com/Upper\n",
			"example.com/Upper@v1.0.0-RC1/u.go":   "package upper\n",
		},
	}, {
		path:    "example.com/incompat",
		version: "v2.0.0+incompatible",
		want: map[string]string{
			"example.com/incompat@v2.0.0+incompatible/old.go": "package old\n",
		},
	}}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			m := module.Version{Path: tt.path, Version: tt.version}
			epath, _ := module.EscapePath(tt.path)
			evers, _ := module.EscapeVersion(tt.version)
			base := s.URL + "/" + epath + "/@v/" + evers

			zipData := get200(t, base+".zip")
			if got := readZip(t, zipData); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("zip content:\ngot  %q\nwant %q", got, tt.want)
			}
			zipFile := writeTemp(t, "m.zip", zipData)
			if _, err := modzip.CheckZip(m, zipFile); err != nil {
				t.Errorf("CheckZip: %v", err)
			}

			// The go.sum lines are what the go command computes from the
			// served files.
			zipSum, err := dirhash.HashZip(zipFile, dirhash.Hash1)
			if err != nil {
				t.Fatal(err)
			}
			mod := get200(t, base+".mod")
			modSum, err := dirhash.Hash1([]string{"go.mod"}, func(string) (io.ReadCloser, error) {
				return io.NopCloser(bytes.NewReader(mod)), nil
			})
			if err != nil {
				t.Fatal(err)
			}
			want := []string{tt.path + " " + tt.version + " " + zipSum, tt.path + " " + tt.version + "/go.mod " + modSum}
			if got := s.GoSumLines(tt.path, tt.version); !reflect.DeepEqual(got, want) {
				t.Errorf("GoSumLines:\ngot  %q\nwant %q", got, want)
			}
		})
	}
}

// readZip returns the files in a zip by name.
func readZip(t *testing.T, data []byte) map[string]string {
	t.Helper()
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	files := make(map[string]string)
	for _, f := range zr.File {
		content, err := readZipFile(f)
		if err != nil {
			t.Fatal(err)
		}
		files[f.Name] = string(content)
	}
	return files
}

func TestLatest(t *testing.T) {
	t.Parallel()
	pseudoOld := "v0.0.0-20200101000000-aaaaaaaaaaaa"
	pseudoNew := "v0.0.0-20210101000000-bbbbbbbbbbbb"
	tests := []struct {
		name     string
		versions []string
		want     string
		wantList string
	}{
		{"release", []string{"v1.2.0", "v1.10.0", "v1.9.0", "v1.11.0-pre", pseudoNew}, "v1.10.0", "v1.2.0\nv1.9.0\nv1.10.0\nv1.11.0-pre\n"},
		{"prerelease", []string{"v1.0.0-alpha", "v1.0.0-beta", pseudoNew}, "v1.0.0-beta", "v1.0.0-alpha\nv1.0.0-beta\n"},
		{"pseudo", []string{pseudoNew, pseudoOld}, pseudoNew, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var mods []Module
			for _, v := range tt.versions {
				mods = append(mods, Module{Path: "example.com/m", Version: v, Files: map[string]string{"go.mod": "module example.com/m\n"}})
			}
			s := New(t, mods...)
			if got := string(get200(t, s.URL+"/example.com/m/@v/list")); got != tt.wantList {
				t.Errorf("list: got %q, want %q", got, tt.wantList)
			}
			info := string(get200(t, s.URL+"/example.com/m/@latest"))
			if !strings.HasPrefix(info, `{"Version":"`+tt.want+`"`) {
				t.Errorf("@latest: got %s, want version %s", info, tt.want)
			}
		})
	}
}

func TestPseudoVersionTime(t *testing.T) {
	t.Parallel()
	v := "v0.0.0-20210304050607-abcdefabcdef"
	s := New(t, Module{Path: "example.com/p", Version: v})
	want := `{"Version":"` + v + `","Time":"2021-03-04T05:06:07Z"}`
	if got := string(get200(t, s.URL+"/example.com/p/@v/"+v+".info")); got != want {
		t.Errorf("info: got %s, want %s", got, want)
	}
}

func TestAddLaterMovesAlias(t *testing.T) {
	t.Parallel()
	s := New(t, Module{Path: "example.com/m", Version: "v1.0.0", Aliases: []string{"main"}})
	s.Add(Module{Path: "example.com/m", Version: "v1.1.0", Aliases: []string{"main"}, Time: time.Date(2022, 1, 1, 0, 0, 0, 0, time.UTC)})
	if got, want := string(get200(t, s.URL+"/example.com/m/@v/main.info")), `{"Version":"v1.1.0","Time":"2022-01-01T00:00:00Z"}`; got != want {
		t.Errorf("main.info: got %s, want %s", got, want)
	}
	if got, want := string(get200(t, s.URL+"/example.com/m/@v/list")), "v1.0.0\nv1.1.0\n"; got != want {
		t.Errorf("list: got %q, want %q", got, want)
	}
}

func TestNotFound(t *testing.T) {
	t.Parallel()
	s := New(t, fixtures(t)...)
	tests := []struct {
		path string
		code int
	}{
		{"/example.com/missing/@v/list", http.StatusNotFound},
		{"/example.com/missing/@latest", http.StatusNotFound},
		{"/example.com/missing/@v/v1.0.0.info", http.StatusNotFound},
		{"/example.com/fixture/@v/v9.9.9.info", http.StatusNotFound},
		{"/example.com/fixture/@v/v9.9.9.mod", http.StatusNotFound},
		{"/example.com/fixture/@v/v9.9.9.zip", http.StatusNotFound},
		{"/example.com/fixture/@v/main.mod", http.StatusNotFound}, // aliases are for .info only
		{"/example.com/fixture/@v/v1.0.0.txt", http.StatusNotFound},
		{"/example.com/upper/@v/list", http.StatusNotFound}, // case matters
		{"/example.com/Upper/@v/list", http.StatusBadRequest},
		{"/", http.StatusNotFound},
		{"/sumdb/sum.golang.org/supported", http.StatusNotFound},
	}
	for _, tt := range tests {
		code, body := get(t, s.URL+tt.path)
		if code != tt.code {
			t.Errorf("GET %s: status %d, want %d", tt.path, code, tt.code)
		}
		if tt.code == http.StatusNotFound && !strings.HasPrefix(string(body), "not found: ") {
			t.Errorf("GET %s: body %q, want one beginning \"not found: \"", tt.path, body)
		}
	}
}

func TestRequests(t *testing.T) {
	t.Parallel()
	s := New(t, fixtures(t)...)
	list := "/example.com/fixture/@v/list"
	get(t, s.URL+list)
	get(t, s.URL+list)
	get(t, s.URL+"/example.com/missing/@v/list")
	if got := s.Requests(list); got != 2 {
		t.Errorf("Requests(%s) = %d, want 2", list, got)
	}
	want := []string{list, list, "/example.com/missing/@v/list"}
	if got := s.RequestLog(); !reflect.DeepEqual(got, want) {
		t.Errorf("RequestLog() = %q, want %q", got, want)
	}
	s.ResetRequests()
	if got := s.RequestLog(); len(got) != 0 {
		t.Errorf("after ResetRequests, RequestLog() = %q", got)
	}
}
