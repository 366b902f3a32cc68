package checksum

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"

	"golang.org/x/mod/sumdb"

	"github.com/modmirror/modmirror/internal/atomicfile"
)

// A HeadStore keeps the latest verified signed tree head of each checksum
// database. Every verifier that shares one (the replicas of a mirror)
// replaces a head only with a verified successor, so all of them refuse a
// fork or a rollback that any of them has seen. FileHeads keeps the heads
// in files, for one process; pgstate.Heads in PostgreSQL, for replicas.
type HeadStore interface {
	// ReadHead returns the head of the database name, or nil if there is
	// none yet.
	ReadHead(ctx context.Context, name string) ([]byte, error)

	// SwapHead replaces the head of name by new if it is still old (nil:
	// none), and returns sumdb.ErrWriteConflict if it is not.
	SwapHead(ctx context.Context, name string, old, new []byte) error
}

// FileHeads is a HeadStore in a directory: the head of database name is
// the file <dir>/<name>/latest, replaced atomically (temporary file,
// sync, rename, sync of the directory), so a crash leaves the old head or
// the new one. It must not be shared between processes.
type FileHeads string

// ReadHead implements HeadStore.
func (d FileHeads) ReadHead(ctx context.Context, name string) ([]byte, error) {
	return readState(d.file(name))
}

// SwapHead implements HeadStore.
func (d FileHeads) SwapHead(ctx context.Context, name string, old, new []byte) error {
	return swapState(d.file(name), old, new)
}

func (d FileHeads) file(name string) string {
	return filepath.Join(string(d), filepath.FromSlash(name), "latest")
}

// stateMu serializes compare-and-swap updates of state files. One lock for
// the whole process is enough: tree heads change a few times a minute at
// most. Several processes must not share a StateDir (each replica keeps its
// own), since the lock does not reach across processes.
var stateMu sync.Mutex

// maxStateFile bounds what is read back from a state file: a signed tree
// head is a few hundred bytes.
const maxStateFile = 64 << 10

// readState returns the content of the state file, or nothing if it does not
// exist yet; the sumdb client reads an empty tree head as "start afresh".
func readState(file string) ([]byte, error) {
	data, err := os.ReadFile(file)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("checksum: reading state: %w", err)
	}
	if len(data) > maxStateFile {
		return nil, errors.New("checksum: reading state: the state file is too large")
	}
	return data, nil
}

// swapState replaces the content of file by new if it is still old, and
// returns sumdb.ErrWriteConflict otherwise. The new content is written to a
// temporary file, synced, renamed into place and the directory synced, so a
// crash leaves the old tree head or the new one, never a torn one.
func swapState(file string, old, new []byte) error {
	stateMu.Lock()
	defer stateMu.Unlock()

	cur, err := readState(file)
	if err != nil {
		return err
	}
	if !bytes.Equal(cur, old) {
		return sumdb.ErrWriteConflict
	}
	if err := atomicfile.Write(file, new, 0o644); err != nil {
		return fmt.Errorf("checksum: writing state: %w", err)
	}
	return nil
}
