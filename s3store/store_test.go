package s3store_test

import (
	"context"
	"strings"
	"testing"

	"github.com/modmirror/modmirror/internal/tests3"
	"github.com/modmirror/modmirror/s3store"
	"github.com/modmirror/modmirror/storetest"
)

func TestStore(t *testing.T) {
	s, err := s3store.Open(context.Background(), tests3.Bucket(t, "mirror/store"))
	if err != nil {
		t.Fatal(err)
	}
	storetest.Run(t, s)
}

func TestMissingBucket(t *testing.T) {
	cfg := tests3.Bucket(t, "")
	cfg.Bucket += "-missing"
	_, err := s3store.Open(context.Background(), cfg)
	if err == nil || !strings.Contains(err.Error(), "does not exist") || !strings.Contains(err.Error(), "create=true") {
		t.Errorf("Open of a missing bucket: %v; want a clear error", err)
	}
	cfg.CreateBucket = true
	if _, err := s3store.Open(context.Background(), cfg); err != nil {
		t.Fatalf("Open with CreateBucket: %v", err)
	}
	tests3.RemoveBucket(t, cfg.Endpoint, cfg.Bucket)
}

func TestParseURL(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want s3store.Config
		err  string
	}{
		{in: "s3://mods", want: s3store.Config{Bucket: "mods", Endpoint: "s3.amazonaws.com", Region: "us-east-1"}},
		{in: "s3://mods/go/cache/?endpoint=127.0.0.1:9000&insecure=true&create=1&region=eu",
			want: s3store.Config{Bucket: "mods", Prefix: "go/cache", Endpoint: "127.0.0.1:9000", Region: "eu", Insecure: true, CreateBucket: true}},
		{in: "s3://key:secret@mods", err: "credentials do not belong"},
		{in: "s3://mods?bogus=1", err: "unknown option"},
		{in: "s3://mods/a/../b", err: "not a clean relative path"},
		{in: "http://mods", err: "want s3://"},
	} {
		got, err := s3store.ParseURL(tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("ParseURL(%q) = %+v, %v; want an error containing %q", tc.in, got, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("ParseURL(%q) = %+v, %v; want %+v", tc.in, got, err, tc.want)
		}
		if back, err := s3store.ParseURL(got.URL()); err != nil || back != got {
			t.Errorf("ParseURL(%q) = %+v, %v; want %+v", got.URL(), back, err, got)
		}
	}
}
