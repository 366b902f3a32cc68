package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/modmirror/modmirror"
	"github.com/modmirror/modmirror/checksum"
	"github.com/modmirror/modmirror/internal/atomicfile"
	"github.com/modmirror/modmirror/internal/goenv"
	"github.com/modmirror/modmirror/internal/netrc"
)

// auditCommand is "modmirror sumdb audit": it checks that a checksum
// database's signed tree head is consistent with the one it saw last time.
type auditCommand struct {
	sumdb string
	proxy string
	netrc string
	state string

	// stdout defaults to os.Stdout; tests set it.
	stdout io.Writer
}

func (c *auditCommand) flags() *commandFlags {
	fs := newFlags("sumdb audit", "modmirror sumdb audit [flags]", `
Checks that the checksum database's current signed tree head is consistent
with the one seen on the last run: that the log only grew, proven with a
consistency proof computed from the database's own hash tiles. On success the
new tree head replaces the old one in the state file; on a first run it is
recorded.

A log that forked or shrank is reported as a SECURITY ERROR with both signed
tree heads and the proof, which anyone holding the database's key can check;
the state file is then left as it was, and the exit status is 1.`)
	fs.StringVar(&c.sumdb, "sumdb", goenv.Get("GOSUMDB"), "checksum database to audit, as GOSUMDB: a verifier `key` (name+hash+key) or known name, optionally followed by a space and the database's URL; default $GOSUMDB")
	fs.StringVar(&c.proxy, "proxy", defaultUpstream(), "proxies in GOPROXY `syntax` through whose /sumdb/<name>/ endpoint the database is read, unless --sumdb gives its URL; default $GOPROXY")
	fs.StringVar(&c.netrc, "netrc", netrc.DefaultFile(), "credentials for the proxy or the database, a .netrc `file` (sent over HTTPS only, to the host they name); default $NETRC or ~/.netrc")
	fs.StringVar(&c.state, "state", "", "`file` holding the signed tree head seen last time; default $XDG_CONFIG_HOME/modmirror/audit/<name>/latest")
	return fs
}

// Run audits the database once.
func (c *auditCommand) Run(ctx context.Context, args []string) error {
	if c.stdout == nil {
		c.stdout = os.Stdout
	}
	if _, err := c.flags().parse(args, noArgs); err != nil {
		return err
	}
	if strings.TrimSpace(c.sumdb) == "" {
		return usageError{err: errors.New("no checksum database: set --sumdb or $GOSUMDB")}
	}
	db, err := parseSumDB(c.sumdb)
	if err != nil {
		return usageError{err: fmt.Errorf("--sumdb: %w", err)}
	}
	state := c.state
	if state == "" {
		if state = defaultAuditState(db.name); state == "" {
			return usageError{err: errors.New("no state file: set --state, $XDG_CONFIG_HOME or $HOME")}
		}
	}
	remote, err := db.remote(c.proxy, c.netrc)
	if err != nil {
		return usageError{err: fmt.Errorf("--proxy: %w", err)}
	}

	newMsg, newNote, err := db.readLatest(ctx, remote)
	if err != nil {
		return err
	}
	newTree, err := tlog.ParseTree([]byte(newNote.Text))
	if err != nil {
		return fmt.Errorf("checksum database %s: signed tree head: %v", db.name, err)
	}

	oldMsg, err := os.ReadFile(state)
	if errors.Is(err, fs.ErrNotExist) {
		if err := atomicfile.Write(state, newMsg, 0o644); err != nil {
			return err
		}
		fmt.Fprintf(c.stdout, "first head recorded: tree %d (%s) of checksum database %s in %s\n", newTree.N, newTree.Hash, db.name, state)
		return nil
	}
	if err != nil {
		return err
	}
	oldNote, err := note.Open(oldMsg, note.VerifierList(db.verifier))
	if err != nil {
		return fmt.Errorf("state file %s: not a tree head signed by %s: %v", state, db.key, err)
	}
	oldTree, err := tlog.ParseTree([]byte(oldNote.Text))
	if err != nil {
		return fmt.Errorf("state file %s: %v", state, err)
	}

	a := &audit{db: db, state: state, oldMsg: oldMsg, oldTree: oldTree, newMsg: newMsg, newTree: newTree}
	if err := a.check(ctx, remote); err != nil {
		if errors.Is(err, modmirror.ErrSecurity) {
			fmt.Fprint(c.stdout, a.report)
		}
		return err
	}
	if err := atomicfile.Write(state, newMsg, 0o644); err != nil {
		return err
	}
	fmt.Fprintf(c.stdout, "ok: tree %d -> %d consistent (checksum database %s)\n", oldTree.N, newTree.N, db.name)
	return nil
}

// An audit compares two signed tree heads of one database.
type audit struct {
	db               sumdbSetting
	state            string
	oldMsg, newMsg   []byte
	oldTree, newTree tlog.Tree

	report string // the SECURITY ERROR report, if check found one
}

// check checks that the new tree contains the old one as a prefix, reading
// the hash tiles of the new tree through r. It returns an error wrapping
// modmirror.ErrSecurity, and sets a.report, if the database is caught
// misbehaving; any other error means that the check could not be made.
func (a *audit) check(ctx context.Context, r checksum.Remote) error {
	old, cur := a.oldTree, a.newTree
	if cur.N < old.N {
		a.setReport(fmt.Sprintf("the new tree has %d records, fewer than the %d of the old one: the log was rolled back, or something between serves a stale tree head", cur.N, old.N), nil)
		return a.securityError("tree %d after tree %d", cur.N, old.N)
	}
	// The hashes read through thr are proven to be in the new tree: each
	// tile is authenticated against its signed hash.
	thr := tlog.TileHashReader(cur, &tileReader{ctx: ctx, remote: r, name: a.db.name})
	h, err := tlog.TreeHash(old.N, thr)
	if err != nil {
		return fmt.Errorf("checksum database %s: checking tree %d against tree %d: %v", a.db.name, old.N, cur.N, err)
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
		return fmt.Errorf("checksum database %s: proving tree %d in tree %d: %v", a.db.name, old.N, cur.N, proofErr)
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
		modmirror.ErrSecurity, a.db.name, fmt.Sprintf(format, args...), a.state)
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
	fmt.Fprintf(&b, "checksum database %s misbehavior detected!\n\n", a.db.name)
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
	remote checksum.Remote
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

// defaultAuditState is $XDG_CONFIG_HOME/modmirror/audit/<name>/latest, else
// the same under the user's configuration directory.
func defaultAuditState(name string) string {
	dir := os.Getenv("XDG_CONFIG_HOME")
	if dir == "" {
		d, err := os.UserConfigDir()
		if err != nil {
			return ""
		}
		dir = d
	}
	return filepath.Join(dir, "modmirror", "audit", filepath.FromSlash(name), "latest")
}
