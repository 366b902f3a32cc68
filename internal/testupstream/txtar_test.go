package testupstream

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestParseTxtar(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		archive string
		want    Module
		wantErr string
	}{{
		name: "full",
		archive: `A fixture; free text is ignored.
module=example.com/a
version=v1.2.3
time=2021-01-02T03:04:05Z
alias=main
alias=abcdef0
-- go.mod --
module example.com/a
-- a.go --
package a
-- empty --
-- sub/b.txt --
no trailing newline`,
		want: Module{
			Path:    "example.com/a",
			Version: "v1.2.3",
			Time:    time.Date(2021, 1, 2, 3, 4, 5, 0, time.UTC),
			Aliases: []string{"main", "abcdef0"},
			Files: map[string]string{
				"go.mod":    "module example.com/a\n",
				"a.go":      "package a\n",
				"empty":     "",
				"sub/b.txt": "no trailing newline",
			},
		},
	}, {
		name:    "no files",
		archive: "module=example.com/a\nversion=v1.0.0\n",
		want:    Module{Path: "example.com/a", Version: "v1.0.0", Files: map[string]string{}},
	}, {
		name:    "missing version",
		archive: "module=example.com/a\n-- go.mod --\n",
		wantErr: "must set module= and version=",
	}, {
		name:    "misspelled key",
		archive: "module=example.com/a\nverison=v1.0.0\n",
		wantErr: `unknown key "verison"`,
	}, {
		name:    "bad time",
		archive: "module=example.com/a\nversion=v1.0.0\ntime=yesterday\n",
		wantErr: "cannot parse",
	}, {
		name:    "duplicate file",
		archive: "module=example.com/a\nversion=v1.0.0\n-- a --\n-- a --\n",
		wantErr: `duplicate file "a"`,
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseTxtar([]byte(tt.archive))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ParseTxtar: error %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("ParseTxtar:\ngot  %#v\nwant %#v", got, tt.want)
			}
		})
	}
}

func TestLoadDir(t *testing.T) {
	t.Parallel()
	mods, err := LoadDir("testdata/mod")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, m := range mods {
		got = append(got, m.Path+"@"+m.Version)
	}
	want := []string{"example.com/fixture@v1.0.0", "example.com/fixture@v1.1.0-pre"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("LoadDir: got %v, want %v", got, want)
	}
}

func FuzzParseTxtar(f *testing.F) {
	f.Add([]byte("module=example.com/a\nversion=v1.0.0\n-- go.mod --\nmodule example.com/a\n-- a.go --\npackage a\n"))
	f.Add([]byte("-- a --"))
	f.Add([]byte("x=y\n--  --\n-- b --\r\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := ParseTxtar(data)
		if err != nil {
			return
		}
		for name := range m.Files {
			if name == "" || strings.TrimSpace(name) != name {
				t.Errorf("file name %q", name)
			}
		}
	})
}
