package sumlog

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"sync"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/modmirror/modmirror"
	"github.com/modmirror/modmirror/internal/atomicfile"
)

// A witness keeps, in a file beside the storage, the latest head this log
// served. At Open the storage must contain that head's tree: a database
// restored from an old backup, replaced, or rebuilt in another order would
// otherwise be served, and every client that saw the newer head would
// report the log as misbehaving. The file lags the storage by at most the
// writes in flight, which is harmless: any earlier head is a prefix.
type witness struct {
	file string

	mu      sync.Mutex
	pending *Head // the newest head not written yet
	writing bool
	wg      sync.WaitGroup
}

// check verifies that the storage, whose checked head is head, contains
// the tree of the head in the witness file, if there is one.
func (w *witness) check(ctx context.Context, l *Log, head Head) error {
	if w == nil {
		return nil
	}
	signed, err := os.ReadFile(w.file)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("sumlog: reading %s: %w", w.file, err)
	}
	seen, err := l.openHead(signed)
	if err != nil {
		return fmt.Errorf("sumlog: %s: %w", w.file, err)
	}
	bad := func(why string) error {
		l.log.Error("SECURITY ERROR: the log's storage does not contain the head this mirror served", "witness", w.file, "served", seen.N, "stored", head.Size, "reason", why)
		return fmt.Errorf("%w: sumlog %s: the storage does not contain the log this mirror served (%s holds a head of %d records; the storage has %d): %s. "+
			"If the database was restored from a backup on purpose, clients that saw the newer head will report the log as misbehaving; remove %s to serve it anyway",
			modmirror.ErrSecurity, l.name, w.file, seen.N, head.Size, why, w.file)
	}
	if seen.N > head.Size {
		return bad("records were lost (rolled back)")
	}
	hash, err := tlog.TreeHash(seen.N, hashReader{ctx, l.storage})
	if err != nil {
		return fmt.Errorf("sumlog %s: checking the stored hashes against %s: %w", l.name, w.file, err)
	}
	if hash != seen.Hash {
		return bad("its first records differ (replaced or reordered)")
	}
	return nil
}

// record schedules h to be written to the witness file. Writes happen in
// the background, one at a time, always of the newest head.
func (w *witness) record(l *Log, h *Head) {
	if w == nil {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.pending != nil && w.pending.Size >= h.Size {
		return
	}
	w.pending = h
	if w.writing {
		return
	}
	w.writing = true
	w.wg.Go(func() {
		for {
			w.mu.Lock()
			next := w.pending
			w.pending = nil
			if next == nil {
				w.writing = false
				w.mu.Unlock()
				return
			}
			w.mu.Unlock()
			if err := atomicfile.Write(w.file, next.Signed, 0o644); err != nil {
				l.log.Warn("writing the witness head", "file", w.file, "err", err)
			}
		}
	})
}

// wait waits for the writes in flight.
func (w *witness) wait() {
	if w != nil {
		w.wg.Wait()
	}
}
