// Package modmirror holds the domain of the modmirror Go module mirror: the
// store and upstream interfaces that the rest of the program implements, the
// layout of stored files, and the errors that cross package boundaries.
//
// # A module version is three immutable files
//
// Everything modmirror does moves module versions around: (path, version) ->
// .info, .mod and .zip. Stored files use exactly the layout of the go
// command's module download cache ($GOMODCACHE/cache/download), so a copy of a
// filesystem store works as GOPROXY=file://<copy>:
//
//	<escaped path>/@v/list
//	<escaped path>/@v/<escaped version>.info
//	<escaped path>/@v/<escaped version>.mod
//	<escaped path>/@v/<escaped version>.zip
//	sumdb/<checksum database name>/tile/...   (verified tiles, as the go command keeps them)
//
// Keys are slash-separated names relative to the store root and are built only
// by the functions in keys.go, from paths and versions checked by
// golang.org/x/mod/module.
//
// # Errors
//
// "Not found" is a protocol signal, not a failure: every implementation
// reports it with an error that matches [fs.ErrNotExist] (see [NotFound]), and
// the HTTP layer turns it into 404 so clients fall through to their next
// GOPROXY entry. [ErrSecurity] marks content that disagrees with a checksum
// database or with a copy already stored; it is never retried and never
// stored. [ErrInvalid] marks a malformed request, [ErrUpstream] an upstream
// that failed, and [ErrStorage] the mirror's own storage failing: a full
// disk, an unreachable bucket. The HTTP layer answers 400, 502 and 500 for
// them. [ErrBlocked] marks a version the mirror's policy refuses to serve:
// 403, which the go command prints and does not fall through on. Error texts name store keys, never a server's file paths.
package modmirror

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"
	"time"

	"golang.org/x/mod/module"
	"golang.org/x/mod/semver"
)

// ErrSecurity is wrapped by errors that report content which failed
// verification: a hash that does not match the checksum database, or an
// upstream copy that differs from the one already stored.
var ErrSecurity = errors.New("SECURITY ERROR")

// ErrInvalid is wrapped by errors that report a malformed request: a module
// path, version or file name that golang.org/x/mod rejects.
var ErrInvalid = errors.New("invalid request")

// ErrUpstream is wrapped by errors that report an upstream failure other
// than not-found: the mirror could not fill a miss.
var ErrUpstream = errors.New("upstream failure")

// ErrStorage is wrapped by errors that report a failure of the mirror's own
// storage (the store, temporary files, local state), as opposed to the
// upstream's. Their text names what failed by store key and says why (the
// system's reason, such as "no space left on device"), never by server
// path.
var ErrStorage = errors.New("storage failure")

// ErrUnavailable is wrapped by errors that report a service the mirror
// needs that cannot be reached at the moment: an object store or a database
// that is down. The HTTP layer answers 503, with Retry-After: the request
// may succeed later, and clients should not fall through to another proxy
// as for a module that does not exist.
var ErrUnavailable = errors.New("service unavailable")

// ErrBlocked is wrapped by errors that report a module version the
// mirror's policy does not serve. Their text names the rule and why. The
// HTTP layer answers 403 Forbidden: the go command prints the text and,
// unlike for 404 and 410, does not try the next GOPROXY entry, which would
// serve the version all the same.
var ErrBlocked = errors.New("blocked by policy")

// Unavailable returns err as an error matching ErrUnavailable (and, for
// storage, ErrStorage), with the text "<what> unavailable: <err>".
func Unavailable(what string, err error) error {
	return &unavailableError{what: what, err: err}
}

type unavailableError struct {
	what string
	err  error
}

func (e *unavailableError) Error() string { return e.what + " unavailable: " + e.err.Error() }

// UnavailableText returns what a client is told of an error matching
// ErrUnavailable: what is down, without why (the why names hosts,
// buckets and databases, for the log), as "storage unavailable; try
// again later".
func UnavailableText(err error) string {
	var ue *unavailableError
	if errors.As(err, &ue) {
		return ue.what + " unavailable; try again later"
	}
	return "service unavailable; try again later"
}
func (e *unavailableError) Unwrap() error { return e.err }
func (e *unavailableError) Is(target error) bool {
	return target == ErrUnavailable || target == ErrStorage && e.what == "storage"
}

// A Pinger says whether a service a mirror depends on (a store, a
// database) can be reached now, for readiness checks. Ping returns nil or
// why not.
type Pinger interface {
	Ping(ctx context.Context) error
}

// ErrNotInSumDB is wrapped by errors that report a module version that a
// checksum database says it does not know (as opposed to one it could not
// be asked about): a module that the database cannot know, such as a
// private one, belongs in a mirror's nosumdb or private patterns.
var ErrNotInSumDB = errors.New("not in the checksum database")

// A MismatchError reports a hash that differs from the one a checksum
// database lists for a module version. It matches ErrSecurity. Its text is
// the go command's, so that users recognise it and its advice.
type MismatchError struct {
	DB      string // the checksum database's name
	Path    string // module path
	Version string // version, with "/go.mod" for the hash of a go.mod file
	Got     string // the hash computed (or found in a go.sum file)
	Want    string // the database's
}

func (e *MismatchError) Error() string {
	// No blank line: the go command prints a server's error text only up
	// to the first one.
	return fmt.Sprintf("checksum mismatch\n\tdownloaded: %s\n\t%s: %s\n%s\n%s", e.Got, e.DB, e.Want, ErrSecurity, mismatchAdvice)
}

func (e *MismatchError) Is(target error) bool { return target == ErrSecurity }

const mismatchAdvice = `This download does NOT match the one reported by the checksum server.
The bits may have been replaced on the origin server, or an attacker may
have intercepted the download attempt.`

// StorageError returns err, from an operation op on the store key (or
// other name that is not a server path) name, as an error matching
// ErrStorage whose text keeps only the reason of any *fs.PathError in err,
// so that no server path shows.
func StorageError(op, name string, err error) error {
	if err == nil {
		return nil
	}
	reason := err
	var pe *fs.PathError
	if errors.As(err, &pe) {
		reason = pe.Err
	}
	var le *os.LinkError
	if errors.As(err, &le) {
		reason = le.Err
	}
	return &storageError{op: op, name: name, reason: reason, err: err}
}

type storageError struct {
	op, name string
	reason   error // what is shown
	err      error // what is wrapped
}

func (e *storageError) Error() string {
	if e.name == "" {
		return fmt.Sprintf("%s: %s: %v", ErrStorage, e.op, e.reason)
	}
	return fmt.Sprintf("%s: %s %s: %v", ErrStorage, e.op, e.name, e.reason)
}
func (e *storageError) Unwrap() error        { return e.err }
func (e *storageError) Is(target error) bool { return target == ErrStorage }

// NotFound returns an error with the formatted message that matches
// [fs.ErrNotExist] under errors.Is.
func NotFound(format string, args ...any) error {
	return &notFoundError{msg: fmt.Sprintf(format, args...)}
}

type notFoundError struct{ msg string }

func (e *notFoundError) Error() string        { return e.msg }
func (e *notFoundError) Is(target error) bool { return target == fs.ErrNotExist }

// PrivateNotFound is the text of every not-found answer for a private
// module path that the mirror does not have or the client may not read: one
// text for all, so that answers do not tell which private modules exist.
const PrivateNotFound = "private module: not stored here, or not readable with the credentials given"

// A File is an open stored file. Its Stat must report the size and
// modification time; Seek lets the HTTP layer serve ranges. A file
// answered before it is stored (a public module's verified go.mod or
// .info, as a fill stores it) has a zero modification time.
type File interface {
	io.ReadSeekCloser
	Stat() (fs.FileInfo, error)
}

// A Store keeps files under slash-separated names in the module download
// cache layout. Implementations must be safe for concurrent use, by several
// goroutines and, where the backend allows, by several processes.
type Store interface {
	// Open opens the named file for reading. It returns an error matching
	// fs.ErrNotExist if there is no such file.
	Open(ctx context.Context, name string) (File, error)

	// Create stores the content of r under name if name does not exist yet.
	// The write is atomic and durable: until Create returns, readers see no
	// file, and after it returns successfully the file survives a crash.
	// If name already exists, Create leaves it untouched and returns an error
	// matching fs.ErrExist; it is the caller's job to compare contents.
	// If r fails, nothing is stored.
	Create(ctx context.Context, name string, r io.Reader) error

	// Replace atomically and durably stores the content of r under name,
	// replacing any earlier content. It is used only for files that are
	// derived from others (such as @v/list), never for .info, .mod or .zip.
	Replace(ctx context.Context, name string, r io.Reader) error

	// List returns the base names of the files directly inside the
	// directory dir, sorted; "." is the store's root. A directory that
	// does not exist has no files.
	List(ctx context.Context, dir string) ([]string, error)
}

// WriteList rewrites the stored version list of a module (its @v/list)
// from the .mod files stored, as the go command keeps the list of its
// module cache, so that the store works as a GOPROXY=file:// directory.
// The caller keeps others from writing the list at the same time.
func WriteList(ctx context.Context, s Store, path string) error {
	dir, err := ModuleDir(path)
	if err != nil {
		return err
	}
	names, err := s.List(ctx, dir)
	if err != nil {
		return err
	}
	var versions []string
	for _, name := range names {
		if ev, ok := strings.CutSuffix(name, ExtMod); ok {
			if v, err := module.UnescapeVersion(ev); err == nil {
				versions = append(versions, v)
			}
		}
	}
	semver.Sort(versions)
	var buf bytes.Buffer
	for _, v := range versions {
		buf.WriteString(v)
		buf.WriteByte('\n')
	}
	return s.Replace(ctx, dir+"/list", &buf)
}

// A Deleter is a Store that can delete files, for "modmirror gc": the
// only way a stored version goes, by the operator's decision. Delete
// removes the named file; a file that is not there is no error.
type Deleter interface {
	Delete(ctx context.Context, name string) error
}

// A Walker is a Store that can list every file it holds, for rebuilding
// an index of it (package catalog). Walk calls fn for each file, with its
// store name, size and modification time, in no particular order, and
// stops at fn's first error, which it returns. Temporary files are not
// listed.
type Walker interface {
	Walk(ctx context.Context, fn func(name string, size int64, modTime time.Time) error) error
}

// An Upstream is where a mirror fills its store from on a miss. Paths and
// versions are unescaped and already validated. Every method returns an
// error matching fs.ErrNotExist when the upstream does not have what was
// asked for, so that callers can fall through to another source.
// Implementations must be safe for concurrent use.
type Upstream interface {
	// List returns the versions listed by /@v/list, one per element, in
	// the upstream's order. The list may be empty.
	List(ctx context.Context, path string) ([]string, error)

	// Latest returns the raw JSON served by /@latest.
	Latest(ctx context.Context, path string) ([]byte, error)

	// Info returns the raw JSON served by /@v/<query>.info. The query may
	// be a canonical version or anything the go command accepts in its
	// place (a branch, a tag, a commit prefix).
	Info(ctx context.Context, path, query string) ([]byte, error)

	// Mod returns the go.mod file of a canonical version.
	Mod(ctx context.Context, path, version string) ([]byte, error)

	// Zip returns the module zip of a canonical version as a stream. The
	// caller must close it and must not trust its size.
	Zip(ctx context.Context, path, version string) (io.ReadCloser, error)

	// String describes the upstream for logs and error messages, with any
	// credentials redacted.
	String() string
}

// A Checker checks go.sum lines against a checksum database.
type Checker interface {
	// Check reports whether the checksum database lists hash for the
	// module path at version. A version ending in "/go.mod" names the
	// hash of the go.mod file; otherwise it names the hash of the zip.
	// A mismatch returns an error wrapping ErrSecurity that names the
	// module and both hashes. Checking several versions at once is safe.
	Check(ctx context.Context, path, version, hash string) error
}

// A Prefetcher is a Checker that can start looking a module version up
// before the hash to check is known, so that the lookup overlaps the
// download. Prefetch must return at once; errors are left for Check.
type Prefetcher interface {
	Prefetch(path, version string)
}
