package checksum

import (
	"context"
	"errors"
	"fmt"

	"golang.org/x/mod/sumdb/tlog"
	"golang.org/x/sync/errgroup"

	"github.com/modmirror/modmirror/internal/sumdbpath"
)

// errTreeTooSmall reports that the latest verified tree does not yet cover a
// tile, so the tile cannot be authenticated now.
var errTreeTooSmall = errors.New("checksum: tile not covered by the latest verified tree")

// checkTile authenticates data as the content of the full hash tile t, using
// the latest tree head verified by the sumdb client, and the other tiles
// needed for the proof, read from the store or the remote.
//
// The proof is the one the sumdb client uses: asking a tlog.TileHashReader
// for the last hash of t makes it load t itself (at full width, since that
// hash is t's last) together with the tiles above it, and hash them up to
// the tree head, failing unless every tile it loaded is consistent with it.
func (v *Verifier) checkTile(ctx context.Context, t tlog.Tile, data []byte) error {
	if t.H != sumdbpath.TileHeight || t.L < 0 || t.W != 1<<t.H {
		return fmt.Errorf("checksum: %s is not a full hash tile", t.Path())
	}
	if len(data) != t.W*tlog.HashSize {
		return fmt.Errorf("checksum: %s: %d bytes, want %d", t.Path(), len(data), t.W*tlog.HashSize)
	}
	tree, err := v.verifiedTree()
	if err != nil {
		return err
	}
	// The tree covers t if it has at least (t.N+1)<<H hashes at t's
	// level; written so that it cannot overflow.
	if t.N >= tree.N>>(t.L*t.H)>>t.H {
		return errTreeTooSmall
	}
	r := &proofReader{ctx: ctx, v: v, tile: t, data: data}
	last := tlog.StoredHashIndex(t.L*t.H, (t.N+1)<<t.H-1)
	if _, err := tlog.TileHashReader(tree, r).ReadHashes([]int64{last}); err != nil {
		return fmt.Errorf("checksum: %s: %w", t.Path(), err)
	}
	if !r.used {
		// Cannot happen given the coverage check above, but the
		// conclusion rests on it, so make sure.
		return fmt.Errorf("checksum: %s: proof did not use the tile", t.Path())
	}
	return nil
}

// A proofReader is the tlog.TileReader of checkTile: it offers the tile
// under test and reads all others.
type proofReader struct {
	ctx  context.Context
	v    *Verifier
	tile tlog.Tile
	data []byte
	used bool
}

func (r *proofReader) Height() int { return sumdbpath.TileHeight }

func (r *proofReader) ReadTiles(tiles []tlog.Tile) ([][]byte, error) {
	data := make([][]byte, len(tiles))
	var g errgroup.Group
	for i, t := range tiles {
		if t == r.tile {
			data[i], r.used = r.data, true
			continue
		}
		g.Go(func() (err error) {
			data[i], err = r.v.readTile(r.ctx, t)
			return err
		})
	}
	return data, g.Wait()
}

// SaveTiles does nothing: checkTile's caller stores the one tile it asked
// about.
func (r *proofReader) SaveTiles(tiles []tlog.Tile, data [][]byte) {}

// readTile reads the hash tile t the way the sumdb client does: from the
// store, where the full tile also serves for a partial one, then from the
// remote, where a partial tile that is no longer served is cut from the
// full one. The result is not authenticated: it is for tlog to check.
func (v *Verifier) readTile(ctx context.Context, t tlog.Tile) ([]byte, error) {
	want := t.W * tlog.HashSize
	full := t
	full.W = 1 << t.H
	paths := []string{t.Path()}
	if full != t {
		paths = append(paths, full.Path())
	}
	for _, p := range paths {
		if data, err := v.readStore(ctx, p); err == nil && len(data) >= want {
			return data[:want], nil
		}
	}
	var first error
	for _, p := range paths {
		data, err := v.remote.ReadSumDB(ctx, v.name, "/"+p)
		if err == nil && len(data) >= want {
			return data[:want], nil
		}
		if err == nil {
			err = fmt.Errorf("%d bytes, want at least %d", len(data), want)
		}
		if first == nil {
			first = err
		}
	}
	return nil, fmt.Errorf("checksum: reading %s: %w", t.Path(), first)
}
