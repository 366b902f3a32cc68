package checksum

import (
	"testing"

	"github.com/modmirror/modmirror/internal/testsumdb"
)

func TestParseSetting(t *testing.T) {
	key := testsumdb.NewKey(t, "sum.test.example").Verifier
	for _, tc := range []struct {
		in, name, url string
		ok            bool
	}{
		{"sum.golang.org", "sum.golang.org", "", true},
		{SumGolangOrgKey, "sum.golang.org", "", true},
		{"sum.golang.google.cn", "sum.golang.org", "https://sum.golang.google.cn", true},
		{"sum.golang.org https://sum.example/db/", "sum.golang.org", "https://sum.example/db", true},
		{key + " http://127.0.0.1:1", "sum.test.example", "http://127.0.0.1:1", true},
		{" " + key + " ", "sum.test.example", "", true},
		{key + " https://x/?q=1", "", "", false},
		{key + " file:///db", "", "", false},
		{key + " https://", "", "", false},
		{key + " https://a b", "", "", false},
		{"sum.example+01234567+AbCd", "", "", false}, // not a key
		{"off", "", "", false},
		{"", "", "", false},
	} {
		s, err := ParseSetting(tc.in)
		gotURL := ""
		if s.URL != nil {
			gotURL = s.URL.String()
		}
		if (err == nil) != tc.ok || s.Name != tc.name || gotURL != tc.url {
			t.Errorf("ParseSetting(%q) = %q, %q, %v; want %q, %q, ok=%v", tc.in, s.Name, gotURL, err, tc.name, tc.url, tc.ok)
		}
	}
}
