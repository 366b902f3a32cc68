package snapshot

import (
	"strings"
	"testing"
)

func TestParseGoSum(t *testing.T) {
	for _, tc := range []struct {
		in      string
		want    []string // sumKey.String() + " " + hash, sorted
		wantErr string
	}{
		{in: "", want: nil},
		{
			in: "example.com/a v1.0.0 h1:zip=\nexample.com/a v1.0.0/go.mod h1:mod=\n\nexample.com/a v0.9.0/go.mod h1:old=\n",
			want: []string{
				"example.com/a v0.9.0/go.mod h1:old=",
				"example.com/a v1.0.0 h1:zip=",
				"example.com/a v1.0.0/go.mod h1:mod=",
			},
		},
		{in: "example.com/a v1.0.0 h2:future=\n", want: nil},
		{in: "example.com/a v1.0.0\n", wantErr: "go.sum:1: malformed"},
		{in: "example.com/a v1.0.0 h1:x=\nexample.com/a v1.0.0 h1:y=\n", wantErr: "conflicting go.sum lines"},
		{in: "example.com/a v1.0.0 h1:x=\nexample.com/a v1.0.0 h1:x=\n", want: []string{"example.com/a v1.0.0 h1:x="}},
		{in: "../evil v1.0.0 h1:x=\n", wantErr: "go.sum:1:"},
		{in: "example.com/a 1.0 h1:x=\n", wantErr: "go.sum:1:"},
	} {
		s := newSumSet()
		err := parseGoSum(s, "go.sum", []byte(tc.in))
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("%q: err = %v, want %q", tc.in, err, tc.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("%q: %v", tc.in, err)
			continue
		}
		var got []string
		for _, k := range sortedKeys(s.hash) {
			got = append(got, k.String()+" "+s.hash[k])
		}
		if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
			t.Errorf("%q:\ngot  %q\nwant %q", tc.in, got, tc.want)
		}
	}
}

// FuzzParseGoSum checks that every line parseGoSum accepts names a file
// that the snapshot layout accepts.
func FuzzParseGoSum(f *testing.F) {
	f.Add("example.com/a v1.0.0 h1:zip=\nexample.com/a v1.0.0/go.mod h1:mod=\n")
	f.Add("example.com/Upper v2.0.0+incompatible h1:x=\n")
	f.Fuzz(func(t *testing.T, in string) {
		s := newSumSet()
		if err := parseGoSum(s, "go.sum", []byte(in)); err != nil {
			return
		}
		for _, v := range collectVersions(s) {
			for _, ext := range []string{".info", ".mod", ".zip"} {
				key, err := (&fetcher{}).target(v, ext)
				if err != nil {
					t.Fatalf("%v: %v", v, err)
				}
				if !isSnapshotFile(key) {
					t.Fatalf("%s is not a snapshot file name", key)
				}
			}
		}
	})
}

func TestIsSnapshotFile(t *testing.T) {
	for _, tc := range []struct {
		name string
		ok   bool
	}{
		{"example.com/a/@v/list", true},
		{"example.com/a/@v/v1.0.0.zip", true},
		{"example.com/!capital/@v/v1.0.0-!r!c1.info", true},
		{"example.com/a/@v/v1.0.0.ziphash", false},
		{"example.com/a/@v/v1.0.0.lock", false},
		{"example.com/a/@v/v1.0.0.partial", false},
		{"example.com/a/@v/sub/v1.0.0.zip", false},
		{"example.com/Capital/@v/v1.0.0.zip", false},
		{"sumdb/sum.golang.org/latest", false},
		{"notes.txt", false},
		{"example.com/a/@v/master.info", false},
	} {
		if got := isSnapshotFile(tc.name); got != tc.ok {
			t.Errorf("isSnapshotFile(%q) = %v, want %v", tc.name, got, tc.ok)
		}
	}
}
