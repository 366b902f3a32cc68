package sumlog

import (
	"context"
	"errors"
	"fmt"
	"io/fs"

	"golang.org/x/mod/sumdb/tlog"
)

// A Record is one entry of the log: the go.sum lines of one module version.
type Record struct {
	Path    string // module path
	Version string // canonical version
	Data    []byte // go.sum lines, each ending in "\n"
}

// A Head is a signed tree head: the note that signs the tree of the first
// Size records (tlog.FormatTree, signed with golang.org/x/mod/sumdb/note).
type Head struct {
	Size   int64
	Signed []byte
}

// ErrConflict is returned by [Storage.Append] when the log changed since
// the caller read its head, or when a module version in the batch is
// recorded already. Nothing was written.
var ErrConflict = errors.New("sumlog: conflicting append")

// A Storage keeps a log durably: its records, keyed by id and by module
// version, the stored hashes of its Merkle tree (indexed by
// tlog.StoredHashIndex) and its latest signed head. It knows nothing of
// hashing or signing; the [Log] does that.
//
// Every method must be safe for concurrent use. Reads must only ever see
// whole appends: records, hashes and head of one Append become visible
// together. Not-found errors match fs.ErrNotExist.
type Storage interface {
	// Head returns the latest signed head, or a Head with Size 0 and no
	// Signed note if nothing was ever appended.
	Head(ctx context.Context) (Head, error)

	// ReadRecords returns the data of records id through id+n-1. It
	// returns an error matching fs.ErrNotExist if any of them is not in
	// the log.
	ReadRecords(ctx context.Context, id, n int64) ([][]byte, error)

	// Lookup returns the id of the record of a module version, or an error
	// matching fs.ErrNotExist.
	Lookup(ctx context.Context, path, version string) (int64, error)

	// ReadHashes returns the stored hashes at the given indexes, in the
	// same order. It returns an error matching fs.ErrNotExist if any of
	// them is not stored.
	ReadHashes(ctx context.Context, indexes []int64) ([]tlog.Hash, error)

	// Append adds, in one durable transaction, the records recs with ids
	// oldSize, oldSize+1, ..., the stored hashes that they add (the
	// indexes tlog.StoredHashCount(oldSize) on, in order), and the new
	// head. When Append returns nil, all of it survives a crash; when it
	// returns an error, none of it was written. It returns ErrConflict if
	// the stored head's size is not oldSize or a module version in recs is
	// recorded already.
	Append(ctx context.Context, oldSize int64, recs []Record, hashes []tlog.Hash, head Head) error

	// Close releases the storage.
	Close() error
}

// The not-found errors of a Storage, for its implementations. They are
// *fs.PathError values wrapping fs.ErrNotExist: sumdb.Server answers 404
// only for errors that os.IsNotExist recognises, and it does not unwrap
// further.

// RecordsNotExist reports that records id..id+n-1 are not all in the log.
func RecordsNotExist(id, n int64) error {
	return &fs.PathError{Op: "read", Path: fmt.Sprintf("records %d-%d", id, id+n-1), Err: fs.ErrNotExist}
}

// VersionNotExist reports that a module version has no record.
func VersionNotExist(path, version string) error {
	return &fs.PathError{Op: "lookup", Path: path + "@" + version, Err: fs.ErrNotExist}
}

// HashesInOrder returns the hashes found (by stored hash index, in
// whatever order a storage's queries read them) at indexes, in the order
// of indexes, duplicates included, as ReadHashes must; or the not-found
// error for the first index not found.
func HashesInOrder(indexes []int64, found map[int64]tlog.Hash) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(indexes))
	for i, x := range indexes {
		h, ok := found[x]
		if !ok {
			return nil, &fs.PathError{Op: "read", Path: fmt.Sprintf("hash %d", x), Err: fs.ErrNotExist}
		}
		out[i] = h
	}
	return out, nil
}
