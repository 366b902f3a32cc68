package checksum

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"sync"

	"golang.org/x/mod/sumdb"

	"github.com/modmirror/modmirror/internal/atomicfile"
)

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
