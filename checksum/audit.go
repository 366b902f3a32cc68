package checksum

import (
	"context"
	"fmt"
	"strings"
	"sync"

	"github.com/modmirror/modmirror"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

// An AuditResult is what Audit found.
type AuditResult struct {
	Old, New tlog.Tree

	// Report, when the database was caught misbehaving, says so for
	// people: both signed tree heads, why they are inconsistent, and the
	// consistency proof, one hash a line, as the go command reports a
	// fork.
	Report string
}

// Audit checks that newMsg, a signed tree head of the database s, is
// consistent with oldMsg, one seen before (named by where, such as the file
// it was kept in, for messages): that the log only grew, proven with a
// consistency proof computed from the database's own hash tiles, read
// through r. It returns an error wrapping modmirror.ErrSecurity, with the
// result's Report set, if the database is caught misbehaving; any other
// error means the check could not be made.
func Audit(ctx context.Context, s Setting, r Remote, where string, oldMsg, newMsg []byte) (AuditResult, error) {
	a := &audit{db: s, state: where, oldMsg: oldMsg, newMsg: newMsg}
	for _, h := range []struct {
		msg  []byte
		tree *tlog.Tree
		what string
	}{{oldMsg, &a.oldTree, where}, {newMsg, &a.newTree, "the new tree head"}} {
		n, err := note.Open(h.msg, note.VerifierList(s.Verifier))
		if err != nil {
			return AuditResult{}, fmt.Errorf("%s: not a tree head signed by %s: %v", h.what, s.Key, err)
		}
		if *h.tree, err = tlog.ParseTree([]byte(n.Text)); err != nil {
			return AuditResult{}, fmt.Errorf("%s: %v", h.what, err)
		}
	}
	err := a.check(ctx, r)
	return AuditResult{Old: a.oldTree, New: a.newTree, Report: a.report}, err
}

// An audit compares two signed tree heads of one database.
type audit struct {
	db               Setting
	state            string
	oldMsg, newMsg   []byte
	oldTree, newTree tlog.Tree

	report string // the SECURITY ERROR report, if check found one
}

// check checks that the new tree contains the old one as a prefix, reading
// the hash tiles of the new tree through r. It returns an error wrapping
// modmirror.ErrSecurity, and sets a.report, if the database is caught
// misbehaving; any other error means that the check could not be made.
func (a *audit) check(ctx context.Context, r Remote) error {
	old, cur := a.oldTree, a.newTree
	if cur.N < old.N {
		a.setReport(fmt.Sprintf("the new tree has %d records, fewer than the %d of the old one: the log was rolled back, or something between serves a stale tree head", cur.N, old.N), nil)
		return a.securityError("tree %d after tree %d", cur.N, old.N)
	}
	// The hashes read through thr are proven to be in the new tree: each
	// tile is authenticated against its signed hash.
	thr := tlog.TileHashReader(cur, &tileReader{ctx: ctx, remote: r, name: a.db.Name})
	h, err := tlog.TreeHash(old.N, thr)
	if err != nil {
		return fmt.Errorf("checksum database %s: checking tree %d against tree %d: %v", a.db.Name, old.N, cur.N, err)
	}
	var proof tlog.TreeProof
	var proofErr error
	if old.N > 0 {
		// Mostly from the tiles that TreeHash read.
		proof, proofErr = tlog.ProveTree(cur.N, old.N, thr)
	}
	if h != old.Hash {
		why := fmt.Sprintf("the first %d records of the new tree hash to\n\t%s\nnot to the old tree's hash\n\t%s", old.N, h, old.Hash)
		if proofErr != nil {
			why += fmt.Sprintf("\n(no consistency proof: %v)", proofErr)
		}
		a.setReport(why, proof)
		return a.securityError("tree %d is not a prefix of tree %d", old.N, cur.N)
	}
	if proofErr != nil {
		return fmt.Errorf("checksum database %s: proving tree %d in tree %d: %v", a.db.Name, old.N, cur.N, proofErr)
	}
	if old.N > 0 {
		// The success claimed is the proof's, not only a comparison.
		if err := tlog.CheckTree(proof, cur.N, cur.Hash, old.N, old.Hash); err != nil {
			a.setReport(fmt.Sprintf("the consistency proof of tree %d in tree %d does not check: %v", old.N, cur.N, err), proof)
			return a.securityError("tree %d is not proven to be a prefix of tree %d", old.N, cur.N)
		}
	}
	return nil
}

func (a *audit) securityError(format string, args ...any) error {
	return fmt.Errorf("%w: checksum database %s is misbehaving: %s; %s left unchanged",
		modmirror.ErrSecurity, a.db.Name, fmt.Sprintf(format, args...), a.state)
}

// setReport sets the SECURITY ERROR report: both signed tree heads, why they
// are inconsistent, and the consistency proof, one hash a line, as the go
// command's sumdb client reports a fork.
func (a *audit) setReport(why string, proof tlog.TreeProof) {
	indent := func(b []byte) string {
		return strings.ReplaceAll(strings.TrimSuffix(string(b), "\n"), "\n", "\n\t")
	}
	var b strings.Builder
	fmt.Fprintf(&b, "SECURITY ERROR\n")
	fmt.Fprintf(&b, "checksum database %s misbehavior detected!\n\n", a.db.Name)
	fmt.Fprintf(&b, "old signed tree head (%s):\n\t%s\n\n", a.state, indent(a.oldMsg))
	fmt.Fprintf(&b, "new signed tree head:\n\t%s\n\n", indent(a.newMsg))
	fmt.Fprintf(&b, "%s\n", why)
	if proof != nil {
		fmt.Fprintf(&b, "\nconsistency proof of tree %d in tree %d (tlog.ProveTree):\n", a.oldTree.N, a.newTree.N)
		for _, h := range proof {
			fmt.Fprintf(&b, "\t%s\n", h)
		}
	}
	a.report = b.String()
}

// A tileReader reads the hash tiles of a checksum database through a Remote,
// as the go command's sumdb client does: a partial tile that is not found,
// because the log has grown since and the server keeps only the full tile,
// is cut from the full one. Nothing is saved: an audit keeps only the tree
// head. Tiles read once are kept in memory, so TreeHash and ProveTree see the
// same data.
type tileReader struct {
	ctx    context.Context
	remote Remote
	name   string

	mu    sync.Mutex
	tiles map[tlog.Tile][]byte
}

// auditTileHeight is the height of the tiles read; sum.golang.org and
// golang.org/x/mod/sumdb.Server serve height 8.
const auditTileHeight = 8

func (r *tileReader) Height() int { return auditTileHeight }

func (r *tileReader) ReadTiles(tiles []tlog.Tile) ([][]byte, error) {
	data := make([][]byte, len(tiles))
	errs := make([]error, len(tiles))
	var wg sync.WaitGroup
	for i, t := range tiles {
		wg.Go(func() { data[i], errs[i] = r.readTile(t) })
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	return data, nil
}

func (r *tileReader) SaveTiles(tiles []tlog.Tile, data [][]byte) {}

func (r *tileReader) readTile(t tlog.Tile) ([]byte, error) {
	r.mu.Lock()
	data, ok := r.tiles[t]
	r.mu.Unlock()
	if ok {
		return data, nil
	}
	data, err := r.fetch(t)
	if err != nil && t.W < 1<<t.H {
		full := t
		full.W = 1 << t.H
		if fdata, ferr := r.fetch(full); ferr == nil {
			data, err = fdata[:t.W*tlog.HashSize], nil
		}
	}
	if err != nil {
		return nil, err
	}
	r.mu.Lock()
	if r.tiles == nil {
		r.tiles = make(map[tlog.Tile][]byte)
	}
	r.tiles[t] = data
	r.mu.Unlock()
	return data, nil
}

// fetch reads tile t from the remote and checks its size.
func (r *tileReader) fetch(t tlog.Tile) ([]byte, error) {
	data, err := r.remote.ReadSumDB(r.ctx, r.name, "/"+t.Path())
	if err != nil {
		return nil, err
	}
	if len(data) != t.W*tlog.HashSize {
		return nil, fmt.Errorf("checksum database %s: %s: %d bytes, want %d", r.name, t.Path(), len(data), t.W*tlog.HashSize)
	}
	return data, nil
}
