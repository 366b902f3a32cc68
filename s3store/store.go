// Package s3store implements a modmirror.Store in a bucket of an
// S3-compatible object store (Amazon S3, MinIO, and others that honour
// conditional writes).
//
// # Layout
//
// Store names are object keys below a prefix: the module download cache
// layout, so that copying the prefix ("aws s3 sync s3://bucket/prefix dir")
// gives a GOPROXY=file:// directory, as a filesystem store is one.
//
// # Immutability without a lock server
//
// Create writes with a conditional PUT (If-None-Match: *): of several
// writers of one key, whether replicas or goroutines, exactly one
// succeeds; the others get 412 Precondition Failed, which Create reports
// as fs.ErrExist, and compare contents themselves (see modmirror.Store).
//
// Every object is sent in one PUT, streamed from its source, never as a
// multipart upload: the largest object is a 500 MiB zip, far below S3's 5
// GiB limit for one PUT, and a multipart upload's condition is checked when
// it completes, which MinIO (at the version the tests use) does not do
// atomically: of four writers racing with multipart uploads, all four
// "won" (storetest's ConcurrentCreateLarge caught it).
//
// # Crashes
//
// An object becomes visible only when its PUT succeeds: a writer that dies
// earlier leaves nothing. (Multipart uploads left incomplete by other
// tools take space until aborted; docs/DEPLOY.md has a lifecycle rule.)
//
// # Credentials
//
// Credentials come from the standard AWS environment variables
// (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN) or the
// shared credentials file (AWS_SHARED_CREDENTIALS_FILE, else
// ~/.aws/credentials, profile AWS_PROFILE), never from the store's URL,
// which is logged.
package s3store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/modmirror/modmirror"
	"github.com/modmirror/modmirror/internal/srcerr"
)

// Config says which bucket and prefix a Store uses, and how to reach them.
type Config struct {
	Endpoint string // host[:port]; default s3.amazonaws.com
	Bucket   string
	Prefix   string // key prefix, without leading or trailing slash; may be empty
	Region   string // default us-east-1

	// Insecure reaches the endpoint over plain http (a MinIO on
	// loopback, say).
	Insecure bool

	// CreateBucket makes the bucket if it does not exist; otherwise a
	// missing bucket is an error at Open.
	CreateBucket bool

	// TempDir holds what Create must measure before it can send it (a
	// stream of unknown size). Empty means os.TempDir().
	TempDir string

	// Transport sends the requests; nil means http.DefaultTransport's
	// settings.
	Transport http.RoundTripper
}

// ParseURL parses a store URL, s3://BUCKET[/PREFIX][?options], whose
// options are endpoint=HOST[:PORT], region=R, insecure=true (http) and
// create=true (make the bucket if missing). A URL with credentials in it is
// refused: they would be logged.
func ParseURL(raw string) (Config, error) {
	u, err := url.Parse(raw)
	if err != nil {
		if uerr, ok := err.(*url.Error); ok {
			err = uerr.Err
		}
		return Config{}, fmt.Errorf("s3store: malformed URL: %v", err)
	}
	if u.Scheme != "s3" || u.Host == "" || u.Opaque != "" || u.Fragment != "" {
		return Config{}, errors.New("s3store: want s3://BUCKET[/PREFIX][?endpoint=HOST:PORT&region=R&insecure=true&create=true]")
	}
	if u.User != nil {
		return Config{}, errors.New("s3store: credentials do not belong in the store URL (it is logged); set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or use the shared credentials file")
	}
	c := Config{
		Bucket:   u.Host,
		Prefix:   strings.Trim(u.Path, "/"),
		Endpoint: "s3.amazonaws.com",
		Region:   "us-east-1",
	}
	for k, vs := range u.Query() {
		v := vs[len(vs)-1]
		switch k {
		case "endpoint":
			c.Endpoint = v
		case "region":
			c.Region = v
		case "insecure", "create":
			b, err := strconv.ParseBool(v)
			if err != nil {
				return Config{}, fmt.Errorf("s3store: %s=%q: want true or false", k, v)
			}
			if k == "insecure" {
				c.Insecure = b
			} else {
				c.CreateBucket = b
			}
		default:
			return Config{}, fmt.Errorf("s3store: unknown option %q (endpoint, region, insecure, create)", k)
		}
	}
	if c.Prefix != "" && modmirror.CheckKey(c.Prefix) != nil {
		return Config{}, fmt.Errorf("s3store: prefix %q is not a clean relative path", c.Prefix)
	}
	return c, nil
}

// URL returns the store URL of c, which ParseURL reads back as c (but for
// TempDir and Transport, which no URL holds).
func (c Config) URL() string {
	q := url.Values{}
	if c.Endpoint != "" && c.Endpoint != "s3.amazonaws.com" {
		q.Set("endpoint", c.Endpoint)
	}
	if c.Region != "" && c.Region != "us-east-1" {
		q.Set("region", c.Region)
	}
	if c.Insecure {
		q.Set("insecure", "true")
	}
	if c.CreateBucket {
		q.Set("create", "true")
	}
	u := url.URL{Scheme: "s3", Host: c.Bucket, RawQuery: q.Encode()}
	if c.Prefix != "" {
		u.Path = "/" + c.Prefix
	}
	return u.String()
}

// Store is a modmirror.Store in an S3 bucket. It is safe for concurrent
// use, by several processes too.
type Store struct {
	client  *minio.Client
	bucket  string
	prefix  string // "" or "prefix/"
	tempDir string
	url     string
}

var _ modmirror.Store = (*Store)(nil)

// Open returns the Store that cfg describes, after checking that the
// bucket exists (making it if cfg says so) and can be reached with the
// credentials at hand.
func Open(ctx context.Context, cfg Config) (*Store, error) {
	if cfg.Bucket == "" {
		return nil, errors.New("s3store: no bucket")
	}
	if cfg.Endpoint == "" {
		cfg.Endpoint = "s3.amazonaws.com"
	}
	creds := credentials.NewChainCredentials([]credentials.Provider{
		&credentials.EnvAWS{},
		&credentials.FileAWSCredentials{},
	})
	client, err := minio.New(cfg.Endpoint, &minio.Options{
		Creds:     creds,
		Secure:    !cfg.Insecure,
		Region:    cfg.Region,
		Transport: cfg.Transport,
		// A blip is tried again, within a second; an outage is
		// answered as one (503) in about that time too, where the
		// client's default of 10 tries keeps every request waiting
		// several seconds for it.
		MaxRetries: 3,
	})
	if err != nil {
		return nil, fmt.Errorf("s3store: %w", err)
	}
	s := &Store{client: client, bucket: cfg.Bucket, tempDir: cfg.TempDir}
	if cfg.Prefix != "" {
		s.prefix = cfg.Prefix + "/"
	}
	scheme := "https"
	if cfg.Insecure {
		scheme = "http"
	}
	s.url = fmt.Sprintf("s3://%s/%s (%s://%s)", cfg.Bucket, cfg.Prefix, scheme, cfg.Endpoint)
	exists, err := client.BucketExists(ctx, cfg.Bucket)
	if err != nil {
		return nil, fmt.Errorf("s3store: bucket %s at %s: %v", cfg.Bucket, cfg.Endpoint, reason(err))
	}
	if !exists {
		if !cfg.CreateBucket {
			return nil, fmt.Errorf("s3store: bucket %s does not exist at %s (create it, or add create=true to the store URL)", cfg.Bucket, cfg.Endpoint)
		}
		if err := client.MakeBucket(ctx, cfg.Bucket, minio.MakeBucketOptions{Region: cfg.Region}); err != nil {
			if code := minio.ToErrorResponse(err).Code; code != "BucketAlreadyOwnedByYou" && code != "BucketAlreadyExists" {
				return nil, fmt.Errorf("s3store: making bucket %s: %v", cfg.Bucket, reason(err))
			}
		}
	}
	return s, nil
}

// String describes the store for logs: bucket, prefix and endpoint, never
// credentials.
func (s *Store) String() string { return s.url }

// key returns the object key of a store name.
func (s *Store) key(name string) (string, error) {
	if err := modmirror.CheckKey(name); err != nil {
		return "", fmt.Errorf("s3store: %w", err)
	}
	return s.prefix + name, nil
}

// Open implements modmirror.Store, with one GET whose answer gives the
// size and the start of the content at once. The object is read as it is
// served: a Seek away from where the body is starts another, ranged GET
// at the next Read.
func (s *Store) Open(ctx context.Context, name string) (modmirror.File, error) {
	key, err := s.key(name)
	if err != nil {
		return nil, err
	}
	body, info, _, err := minio.Core{Client: s.client}.GetObject(ctx, s.bucket, key, minio.GetObjectOptions{})
	if err != nil {
		return nil, s.fail("reading", name, err)
	}
	return &file{
		s: s, ctx: ctx, name: name, key: key, body: body,
		info: objectInfo{name: path.Base(name), size: info.Size, mod: info.LastModified},
	}, nil
}

// Create implements modmirror.Store, with a conditional PUT.
func (s *Store) Create(ctx context.Context, name string, r io.Reader) error {
	opts := minio.PutObjectOptions{}
	opts.SetMatchETagExcept("*")
	return s.put(ctx, name, r, opts)
}

// Replace implements modmirror.Store.
func (s *Store) Replace(ctx context.Context, name string, r io.Reader) error {
	return s.put(ctx, name, r, minio.PutObjectOptions{})
}

// put stores the content of r under name in one PUT, streamed.
func (s *Store) put(ctx context.Context, name string, r io.Reader, opts minio.PutObjectOptions) error {
	key, err := s.key(name)
	if err != nil {
		return err
	}
	body, size, cleanup, err := s.sized(name, r)
	if err != nil {
		return err
	}
	defer cleanup()
	opts.DisableMultipart = true     // see the package documentation
	opts.DisableContentSha256 = true // no second pass over the content
	src := &srcerr.Reader{R: body}
	_, err = s.client.PutObject(ctx, s.bucket, key, src, size, opts)
	switch {
	case err == nil:
		return nil
	case src.Err != nil:
		return src.Err // the caller's reader failed: nothing was stored
	case isPreconditionFailed(err):
		return &fs.PathError{Op: "create", Path: name, Err: fs.ErrExist}
	}
	return s.fail("writing", name, err)
}

// sized returns r with its size: as it is, for readers that know their
// length (files, bytes and strings readers), else spooled to a temporary
// file first, which cleanup removes. Memory use does not depend on the
// size.
func (s *Store) sized(name string, r io.Reader) (body io.Reader, size int64, cleanup func(), err error) {
	nothing := func() {}
	switch v := r.(type) {
	case *os.File:
		fi, err := v.Stat()
		if err == nil && fi.Mode().IsRegular() {
			off, err := v.Seek(0, io.SeekCurrent)
			if err == nil {
				return io.NewSectionReader(v, off, fi.Size()-off), fi.Size() - off, nothing, nil
			}
		}
	case *bytes.Reader:
		return v, int64(v.Len()), nothing, nil
	case *strings.Reader:
		return v, int64(v.Len()), nothing, nil
	case *bytes.Buffer:
		return bytes.NewReader(v.Bytes()), int64(v.Len()), nothing, nil
	}
	tmp, err := os.CreateTemp(s.tempDir, "s3-spool-*")
	if err != nil {
		return nil, 0, nil, modmirror.StorageError("spooling", name, err)
	}
	cleanup = func() {
		tmp.Close()
		os.Remove(tmp.Name())
	}
	src := &srcerr.Reader{R: r}
	n, err := io.Copy(tmp, src)
	switch {
	case src.Err != nil:
		cleanup()
		return nil, 0, nil, src.Err
	case err != nil:
		cleanup()
		return nil, 0, nil, modmirror.StorageError("spooling", name, err)
	}
	return io.NewSectionReader(tmp, 0, n), n, cleanup, nil
}

// List implements modmirror.Store.
func (s *Store) List(ctx context.Context, dir string) ([]string, error) {
	prefix := s.prefix
	if dir != "." {
		key, err := s.key(dir)
		if err != nil {
			return nil, err
		}
		prefix = key + "/"
	}
	var names []string
	for obj := range s.client.ListObjects(ctx, s.bucket, minio.ListObjectsOptions{Prefix: prefix}) {
		if obj.Err != nil {
			return nil, s.fail("listing", dir, obj.Err)
		}
		name := strings.TrimPrefix(obj.Key, prefix)
		// Not recursive: "directories" come back as common prefixes,
		// ending in a slash.
		if name == "" || strings.Contains(name, "/") || strings.HasPrefix(name, ".") {
			continue
		}
		names = append(names, name)
	}
	return names, nil // S3 lists keys in byte order
}

// fail returns err, from S3 for an operation on name, as the error the
// modmirror.Store contract asks for: not-found for a missing object or
// bucket, else a storage error.
func (s *Store) fail(op, name string, err error) error {
	resp := minio.ToErrorResponse(err)
	switch {
	case resp.Code == "NoSuchKey" || resp.StatusCode == http.StatusNotFound && resp.Code != "NoSuchBucket":
		return &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
	case resp.Code == "" || resp.StatusCode >= 500:
		// No answer, or the server says it is failing: the store is
		// down rather than wrong.
		return modmirror.Unavailable("storage", fmt.Errorf("%s %s: %w", op, name, reason(err)))
	}
	return modmirror.StorageError(op, name, reason(err))
}

// Ping implements modmirror.Pinger: the bucket can be reached.
func (s *Store) Ping(ctx context.Context) error {
	exists, err := s.client.BucketExists(ctx, s.bucket)
	if err != nil {
		return modmirror.Unavailable("storage", fmt.Errorf("bucket %s: %w", s.bucket, reason(err)))
	}
	if !exists {
		return modmirror.Unavailable("storage", fmt.Errorf("bucket %s: %w", s.bucket, errNoBucket))
	}
	return nil
}

// errNoBucket says the store's bucket is gone.
var errNoBucket = errors.New("the bucket does not exist")

// reason returns a short error for err from S3: its code and message, or
// the transport's error, without the request's URL or credentials.
func reason(err error) error {
	resp := minio.ToErrorResponse(err)
	if resp.Code != "" {
		return fmt.Errorf("%s: %s", resp.Code, resp.Message)
	}
	var uerr *url.Error
	if errors.As(err, &uerr) {
		return uerr.Err
	}
	return err
}

func isPreconditionFailed(err error) bool {
	resp := minio.ToErrorResponse(err)
	return resp.StatusCode == http.StatusPreconditionFailed || resp.Code == "PreconditionFailed"
}

// A file is an object being read, as a modmirror.File.
type file struct {
	s         *Store
	ctx       context.Context
	name, key string
	info      objectInfo

	body    io.ReadCloser // a GET's body, at offset bodyPos; nil when there is none
	bodyPos int64
	pos     int64 // where the next Read reads
}

func (f *file) Stat() (fs.FileInfo, error) { return f.info, nil }

func (f *file) Read(p []byte) (int, error) {
	if f.body != nil && f.bodyPos != f.pos {
		f.body.Close()
		f.body = nil
	}
	if f.pos >= f.info.size {
		return 0, io.EOF
	}
	if f.body == nil {
		opts := minio.GetObjectOptions{}
		if err := opts.SetRange(f.pos, 0); err != nil {
			return 0, err
		}
		body, _, _, err := minio.Core{Client: f.s.client}.GetObject(f.ctx, f.s.bucket, f.key, opts)
		if err != nil {
			return 0, f.s.fail("reading", f.name, err)
		}
		f.body, f.bodyPos = body, f.pos
	}
	n, err := f.body.Read(p)
	f.pos += int64(n)
	f.bodyPos = f.pos
	if err == io.EOF && f.pos < f.info.size {
		err = f.s.fail("reading", f.name, io.ErrUnexpectedEOF)
	}
	return n, err
}

// Seek only moves the offset: ServeContent seeks to the end and back to
// learn the size, which must not cost a request.
func (f *file) Seek(offset int64, whence int) (int64, error) {
	switch whence {
	case io.SeekStart:
	case io.SeekCurrent:
		offset += f.pos
	case io.SeekEnd:
		offset += f.info.size
	default:
		return f.pos, errors.New("s3store: bad whence")
	}
	if offset < 0 {
		return f.pos, errors.New("s3store: negative position")
	}
	f.pos = offset
	return offset, nil
}

func (f *file) Close() error {
	if f.body != nil {
		f.body.Close()
		f.body = nil
	}
	return nil
}

type objectInfo struct {
	name string
	size int64
	mod  time.Time
}

func (i objectInfo) Name() string       { return i.name }
func (i objectInfo) Size() int64        { return i.size }
func (i objectInfo) Mode() fs.FileMode  { return 0o444 }
func (i objectInfo) ModTime() time.Time { return i.mod }
func (i objectInfo) IsDir() bool        { return false }
func (i objectInfo) Sys() any           { return nil }

// Walk implements modmirror.Walker: one recursive listing of the prefix.
func (s *Store) Walk(ctx context.Context, fn func(name string, size int64, modTime time.Time) error) error {
	for obj := range s.client.ListObjects(ctx, s.bucket, minio.ListObjectsOptions{Prefix: s.prefix, Recursive: true}) {
		if obj.Err != nil {
			return s.fail("listing", ".", obj.Err)
		}
		name := strings.TrimPrefix(obj.Key, s.prefix)
		if name == "" || strings.HasPrefix(name, ".") || strings.Contains(name, "/.") {
			continue
		}
		if err := fn(name, obj.Size, obj.LastModified); err != nil {
			return err
		}
	}
	return nil
}

// Delete implements modmirror.Deleter.
func (s *Store) Delete(ctx context.Context, name string) error {
	key, err := s.key(name)
	if err != nil {
		return err
	}
	if err := s.client.RemoveObject(ctx, s.bucket, key, minio.RemoveObjectOptions{}); err != nil {
		if resp := minio.ToErrorResponse(err); resp.Code == "NoSuchKey" {
			return nil
		}
		return s.fail("deleting", name, err)
	}
	return nil
}
