package snapshot

import "testing"

func TestGoToolchain(t *testing.T) {
	for _, tt := range []struct {
		goLine, toolchainLine string
		want                  string
		wantErr               bool
	}{
		{"1.21.13", "", "go1.21.13", false},
		{"1.21", "", "go1.21.0", false},
		{"1.22", "go1.22.5", "go1.22.5", false},
		{"1.23.1", "go1.22.5", "go1.23.1", false}, // the go line is newer
		{"1.22rc1", "", "go1.22rc1", false},
		{"1.21.0", "go1.21rc2", "go1.21.0", false},
		{"1.20", "", "", false}, // no toolchain switching before Go 1.21
		{"", "", "", false},
		{"1.16", "go1.21.3", "go1.21.3", false},
		{"1.21", "default", "go1.21.0", false},
		{"1.21", "go1.21.3-custom", "", true},
		{"1.21", "go1.22", "", true}, // a language version is no release
	} {
		got, err := goToolchain(tt.goLine, tt.toolchainLine)
		if got != tt.want || (err != nil) != tt.wantErr {
			t.Errorf("goToolchain(%q, %q) = %q, %v; want %q, error %v", tt.goLine, tt.toolchainLine, got, err, tt.want, tt.wantErr)
		}
	}
}

func TestParsePlatforms(t *testing.T) {
	got, err := ParsePlatforms("linux/amd64, darwin/arm64,")
	if err != nil || len(got) != 2 || got[0] != (Platform{"linux", "amd64"}) || got[1] != (Platform{"darwin", "arm64"}) {
		t.Errorf("ParsePlatforms = %v, %v", got, err)
	}
	for _, bad := range []string{"linux", "linux/", "/amd64", "linux/amd64/v3", "Linux/amd64"} {
		if _, err := ParsePlatforms(bad); err == nil {
			t.Errorf("ParsePlatforms(%q) succeeded", bad)
		}
	}
}
