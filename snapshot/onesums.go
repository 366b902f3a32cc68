package snapshot

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"golang.org/x/mod/module"

	"github.com/modmirror/modmirror"
	"github.com/modmirror/modmirror/gosum"
	"github.com/modmirror/modmirror/modgraph"
)

// A LineSource gives the go.sum lines of a module version from a checksum
// database, authenticated: a checksum.Verifier.
type LineSource interface {
	Lines(ctx context.Context, path, version string) ([]string, error)
}

// hashes finds the go.sum hashes of module versions: from the checksum
// database (sumdb), or, for what it does not know and for paths it must
// not be asked about (private), from the projects' own go.sum lines. Never
// from a download alone.
type hashes struct {
	sumdb    LineSource
	private  func(path string) bool // never sent to sumdb; nil for none
	fallback *sumSet                // the projects' go.sum lines

	mu   sync.Mutex
	memo map[module.Version]*hashEntry
}

type hashEntry struct {
	done chan struct{}
	sums versionSums
	err  error
}

// versionSums are the hashes of a module version's files.
type versionSums struct {
	zip, mod string // "h1:..."; zip is "" if no source has it
	from     string // where they come from: the checksum database, or a go.sum file
}

// get returns the hashes of the zip and go.mod file of m.
func (h *hashes) get(ctx context.Context, m module.Version) (versionSums, error) {
	h.mu.Lock()
	e, ok := h.memo[m]
	if !ok {
		e = &hashEntry{done: make(chan struct{})}
		h.memo[m] = e
	}
	h.mu.Unlock()
	if ok {
		select {
		case <-e.done:
			return e.sums, e.err
		case <-ctx.Done():
			return versionSums{}, ctx.Err()
		}
	}
	e.sums, e.err = h.lookup(ctx, m)
	close(e.done)
	return e.sums, e.err
}

func (h *hashes) lookup(ctx context.Context, m module.Version) (versionSums, error) {
	var zip, mod string
	if h.private == nil || !h.private(m.Path) {
		lines, err := h.sumdb.Lines(ctx, m.Path, m.Version)
		switch {
		case err == nil:
			for _, l := range gosum.Parse("checksum database", []byte(strings.Join(lines, "\n")+"\n")) {
				switch {
				case l.Err != nil || l.Path != m.Path || l.Version != m.Version || l.Alg() != "h1":
				case l.GoMod:
					mod = l.Hash
				default:
					zip = l.Hash
				}
			}
			if mod == "" {
				return versionSums{}, fmt.Errorf("snapshot: %s: the checksum database lists no go.mod hash", m)
			}
			return versionSums{zip: zip, mod: mod, from: "checksum database"}, nil
		case errors.Is(err, modmirror.ErrNotInSumDB):
			// Perhaps a project's go.sum vouches for it.
		default:
			return versionSums{}, fmt.Errorf("snapshot: %s: %w", m, err)
		}
	}
	modKey := sumKey{Path: m.Path, Version: m.Version, GoMod: true}
	zip = h.fallback.hash[sumKey{Path: m.Path, Version: m.Version}]
	mod = h.fallback.hash[modKey]
	if mod == "" {
		return versionSums{}, fmt.Errorf("snapshot: %s: neither the checksum database nor any project's go.sum has its hashes; add it to a project's go.sum (go mod download %s in the project), or use a database that knows it (--sumdb)", m, m)
	}
	return versionSums{zip: zip, mod: mod, from: h.fallback.file[modKey]}, nil
}

// verifiedReqs is a modgraph.Reqs that reads go.mod files from the
// upstream, each checked against its hash before its requirements count,
// and those of directories from the file system.
type verifiedReqs struct {
	up      modmirror.Upstream // nil: only what out holds
	out     string             // the output directory
	hashes  *hashes
	fetched sync.Map // module.Version -> []byte: go.mod files read from the upstream
}

// GoMod implements modgraph.Reqs.
func (r *verifiedReqs) GoMod(ctx context.Context, m module.Version) (*modgraph.ModFile, error) {
	if m.Version == "" {
		file := filepath.Join(m.Path, "go.mod")
		data, err := os.ReadFile(file)
		if err != nil {
			return nil, fmt.Errorf("snapshot: %w", err)
		}
		return modgraph.ParseModFile(file, data)
	}
	data, err := r.read(ctx, m)
	if err != nil {
		return nil, err
	}
	return modgraph.ParseModFile(m.String()+" go.mod", data)
}

// read returns the verified go.mod file of m: the one in the output
// directory if it is there and matches, else the upstream's. Each is kept
// for the fetch that fills the snapshot.
func (r *verifiedReqs) read(ctx context.Context, m module.Version) ([]byte, error) {
	sums, err := r.hashes.get(ctx, m)
	if err != nil {
		return nil, err
	}
	want := sums.mod
	if r.out != "" {
		if key, err := modmirror.VersionKey(m.Path, m.Version, modmirror.ExtMod); err == nil {
			if data, err := os.ReadFile(filepath.Join(r.out, filepath.FromSlash(key))); err == nil {
				if got, err := modmirror.HashGoMod(data); err == nil && got == want {
					return data, nil
				}
			}
		}
	}
	if r.up == nil {
		return nil, fmt.Errorf("snapshot: %s: not in the output directory, and no upstream to fetch its go.mod file from", m)
	}
	data, err := r.up.Mod(ctx, m.Path, m.Version)
	if err != nil {
		return nil, fmt.Errorf("snapshot: %w", err)
	}
	got, err := modmirror.HashGoMod(data)
	if err != nil {
		return nil, err
	}
	if got != want {
		return nil, &modmirror.MismatchError{DB: sums.from, Path: m.Path, Version: m.Version + "/go.mod", Got: got, Want: want}
	}
	r.fetched.Store(m, data)
	return data, nil
}
