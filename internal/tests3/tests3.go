// Package tests3 gives tests a bucket of their own on the MinIO server that
// scripts/test.sh starts (scripts/minio.sh), named by MODMIRROR_TEST_S3_ENDPOINT,
// with credentials in AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY.
package tests3

import (
	"context"
	"crypto/rand"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/modmirror/modmirror/internal/testenv"
	"github.com/modmirror/modmirror/s3store"
)

// Endpoint returns the test server's host:port. Without one the test is
// skipped, or fails when MODMIRROR_TEST_REQUIRE_S3=1.
func Endpoint(t testing.TB) string {
	t.Helper()
	e := os.Getenv("MODMIRROR_TEST_S3_ENDPOINT")
	if e == "" {
		testenv.Missing(t, "S3", "MODMIRROR_TEST_S3_ENDPOINT is not set; run scripts/test.sh, or scripts/minio.sh start DIR and set what it prints")
	}
	return e
}

// Bucket makes a bucket of its own for t, emptied and removed when t ends,
// and returns a store configuration for it with the given prefix.
func Bucket(t testing.TB, prefix string) s3store.Config {
	t.Helper()
	endpoint := Endpoint(t)
	name := "modmirror-test-" + strings.ToLower(rand.Text()[:16])
	client, err := minio.New(endpoint, &minio.Options{Creds: credentials.NewEnvAWS(), Secure: false})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := client.MakeBucket(ctx, name, minio.MakeBucketOptions{}); err != nil {
		t.Fatalf("making bucket %s: %v", name, err)
	}
	t.Cleanup(func() { RemoveBucket(t, endpoint, name) })
	return s3store.Config{Endpoint: endpoint, Bucket: name, Prefix: prefix, Insecure: true, TempDir: t.TempDir()}
}

// RemoveBucket empties and removes a bucket.
func RemoveBucket(t testing.TB, endpoint, name string) {
	client, err := minio.New(endpoint, &minio.Options{Creds: credentials.NewEnvAWS(), Secure: false})
	if err != nil {
		t.Error(err)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	objs := client.ListObjects(ctx, name, minio.ListObjectsOptions{Recursive: true})
	for err := range client.RemoveObjects(ctx, name, objs, minio.RemoveObjectsOptions{}) {
		t.Errorf("emptying bucket %s: %v", name, err.Err)
	}
	if err := client.RemoveBucket(ctx, name); err != nil {
		t.Errorf("removing bucket %s: %v", name, err)
	}
}

// Env returns the environment a process needs to reach the test server
// with the credentials of this one.
func Env() []string {
	return []string{
		"AWS_ACCESS_KEY_ID=" + os.Getenv("AWS_ACCESS_KEY_ID"),
		"AWS_SECRET_ACCESS_KEY=" + os.Getenv("AWS_SECRET_ACCESS_KEY"),
	}
}

// Objects returns every object of cfg's bucket below its prefix, by key
// (without the prefix), with its content.
func Objects(t testing.TB, cfg s3store.Config) map[string][]byte {
	t.Helper()
	client, err := minio.New(cfg.Endpoint, &minio.Options{Creds: credentials.NewEnvAWS(), Secure: !cfg.Insecure})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	prefix := ""
	if cfg.Prefix != "" {
		prefix = cfg.Prefix + "/"
	}
	out := map[string][]byte{}
	for info := range client.ListObjects(ctx, cfg.Bucket, minio.ListObjectsOptions{Prefix: prefix, Recursive: true}) {
		if info.Err != nil {
			t.Fatalf("listing bucket %s: %v", cfg.Bucket, info.Err)
		}
		obj, err := client.GetObject(ctx, cfg.Bucket, info.Key, minio.GetObjectOptions{})
		if err != nil {
			t.Fatalf("reading %s: %v", info.Key, err)
		}
		data, err := io.ReadAll(obj)
		obj.Close()
		if err != nil {
			t.Fatalf("reading %s: %v", info.Key, err)
		}
		out[strings.TrimPrefix(info.Key, prefix)] = data
	}
	return out
}
