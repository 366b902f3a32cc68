package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/modmirror/modmirror"
	"github.com/modmirror/modmirror/bundle"
	"github.com/modmirror/modmirror/catalog/sqlcatalog"
	"github.com/modmirror/modmirror/internal/atomicfile"
	"github.com/modmirror/modmirror/internal/datadir"
	"github.com/modmirror/modmirror/sumlog"
)

// storeFlags are the flags of the commands that work on a mirror's store
// and catalog beside serve (catalog rebuild, gc, export, import), which
// name them as serve does.
type storeFlags struct {
	data, store, catalogDB, sharedDB, sumdbDB string
}

func (b *storeFlags) register(fs *commandFlags, withLog bool) {
	fs.StringVar(&b.data, "data", defaultDataDir(), "data `directory` of the mirror")
	fs.StringVar(&b.store, "store", "", "the mirror's store, as serve's --store; default <data>/cache/download")
	fs.StringVar(&b.catalogDB, "catalog-db", "", "the catalog `database`, as serve's --catalog-db")
	fs.StringVar(&b.sharedDB, "shared-db", "", "the replicas' shared PostgreSQL `URL`, as serve's --shared-db")
	fs.fromEnv("data", "store", "catalog-db", "shared-db")
	if withLog {
		fs.StringVar(&b.sumdbDB, "sumdb-db", "", "the own checksum database's `database`, as serve's --sumdb-db; default --shared-db, else <data>/sumdb.db")
		fs.fromEnv("sumdb-db")
	}
}

// openTemp is open with a new temporary directory for the store's
// temporary files; done closes the catalog and removes the directory.
func (b *storeFlags) openTemp(ctx context.Context, name string) (store modmirror.Store, cat *sqlcatalog.Storage, done func(), err error) {
	tmp, err := os.MkdirTemp("", "modmirror-"+name+"-")
	if err != nil {
		return nil, nil, nil, err
	}
	store, cat, err = b.open(ctx, tmp)
	if err != nil {
		os.RemoveAll(tmp)
		return nil, nil, nil, err
	}
	return store, cat, func() { cat.Close(); os.RemoveAll(tmp) }, nil
}

// open opens the store and the catalog; tmp is for the store's temporary
// files.
func (b *storeFlags) open(ctx context.Context, tmp string) (modmirror.Store, *sqlcatalog.Storage, error) {
	store, err := openStore(ctx, b.store, b.data, tmp)
	if err != nil {
		return nil, nil, err
	}
	cat, _, err := openCatalogStorage(ctx, b.catalogDB, b.sharedDB, b.data)
	if err != nil {
		return nil, nil, err
	}
	return store, cat, nil
}

// lock takes the data directory's lock, so that the command does not run
// beside a single serve; replicas (--shared-db) need none.
func (b *storeFlags) lock() (release func(), err error) {
	if b.sharedDB != "" {
		return func() {}, nil
	}
	dir, err := datadir.Lock(b.data)
	if err != nil {
		if errors.Is(err, datadir.ErrLocked) {
			return nil, fmt.Errorf("%w; stop serve first (replicas with --shared-db need not)", err)
		}
		return nil, err
	}
	return func() { dir.Close() }, nil
}

// logSetting returns the own log's database setting, and whether there is
// one to open.
func (b *storeFlags) logSetting() (string, bool) {
	switch {
	case b.sumdbDB != "":
		return b.sumdbDB, true
	case b.sharedDB != "":
		return b.sharedDB, true
	}
	_, err := os.Stat(filepath.Join(b.data, "sumdb.db"))
	return "", err == nil
}

// exportCommand is "modmirror export".
type exportCommand struct {
	storeFlags
	since string
	match string
	out   string
}

// Run runs the command.
func (c *exportCommand) Run(ctx context.Context, args []string) error {
	fs := newFlags("export", "modmirror export [--since TIME] [--match PATTERNS] -o BUNDLE", `
Writes the module versions the mirror first stored since a time (and whose
paths match) to one file, for "modmirror import" on a mirror with no
internet: a tar of their files in the module cache layout, with a manifest
of their go.sum lines and, where the mirror keeps its own checksum database,
their records there and inclusion proofs in its signed tree head. The mirror
may keep serving meanwhile.`)
	fs.StringVar(&c.since, "since", "", "the `time` (RFC 3339) of the first versions to export; default all")
	fs.StringVar(&c.match, "match", "", "only module paths matching these `patterns` (GOPRIVATE syntax)")
	fs.StringVar(&c.out, "out", "", "the bundle `file` to write, or - for standard output (required)")
	fs.shortName("out", "o")
	c.register(fs, true)
	if _, err := fs.parse(args, noArgs); err != nil {
		return err
	}
	if c.out == "" {
		return usageError{err: errors.New("no bundle file: use -o BUNDLE")}
	}
	var since time.Time
	if c.since != "" {
		var err error
		if since, err = time.Parse(time.RFC3339Nano, c.since); err != nil {
			return usagef("--since: want an RFC 3339 time, such as 2026-01-02T15:04:05Z")
		}
	}
	match, err := parsePatterns("match", c.match)
	if err != nil {
		return err
	}
	store, cat, done, err := c.openTemp(ctx, "export")
	if err != nil {
		return err
	}
	defer done()
	opts := bundle.ExportOptions{Store: store, Catalog: cat, Since: since}
	if c.match != "" {
		opts.Match = match.Match
	}
	if setting, ok := c.logSetting(); ok {
		st, _, err := openLogStorage(setting, c.data)
		if err != nil {
			return fmt.Errorf("--sumdb-db: %w", err)
		}
		defer st.Close()
		opts.Log = st
	}
	var man *bundle.Manifest
	if c.out == "-" {
		man, err = bundle.Export(ctx, os.Stdout, opts)
	} else {
		// Written whole or not at all.
		err = atomicfile.WriteFunc(c.out, 0o644, func(w io.Writer) error {
			var werr error
			man, werr = bundle.Export(ctx, w, opts)
			return werr
		})
	}
	if err != nil {
		return err
	}
	recorded := 0
	for _, v := range man.Versions {
		if v.Record != nil {
			recorded++
		}
	}
	fmt.Fprintf(os.Stderr, "exported %d module versions (%d with a record and proof of the own checksum database)\n", len(man.Versions), recorded)
	return nil
}

// importCommand is "modmirror import".
type importCommand struct {
	storeFlags
	sumdbKey string
	logKey   string
}

// Run runs the command.
func (c *importCommand) Run(ctx context.Context, args []string) error {
	fs := newFlags("import", "modmirror import [flags] BUNDLE", `
Reads a bundle from "modmirror export" (a file, or - for standard input)
into the mirror's store: every file is checked against the bundle's go.sum
lines (zips as a fill checks them), and, with --log-key, those lines
against the exporting mirror's own checksum database (the signed head and
each version's inclusion proof), before anything is stored; a truncated or
tampered bundle is refused, naming the first bad file, and nothing is
imported. With --sumdb-key, the versions are recorded in this mirror's own
checksum database, for its clients. A single mirror must be stopped: import
takes its data directory's lock (replicas with --shared-db need not).`)
	fs.StringVar(&c.sumdbKey, "sumdb-key", "", "this mirror's signer key `file`, as serve's --sumdb-key: record the versions in its own checksum database")
	fs.StringVar(&c.logKey, "log-key", "", "the exporting mirror's own checksum database's verifier `key` (name+hash+key): check the bundle's lines against it")
	c.register(fs, true)
	rest, err := fs.parse(args, 1)
	if err != nil {
		return err
	}
	if len(rest) != 1 {
		return usageError{err: errors.New("want the bundle file, or - for standard input")}
	}
	release, err := c.lock()
	if err != nil {
		return err
	}
	defer release()
	in := os.Stdin
	if rest[0] != "-" {
		if in, err = os.Open(rest[0]); err != nil {
			return err
		}
		defer in.Close()
	}
	tmp := filepath.Join(c.data, "tmp")
	if err := os.MkdirAll(tmp, 0o700); err != nil {
		return err
	}
	store, cat, err := c.open(ctx, tmp)
	if err != nil {
		return err
	}
	defer cat.Close()
	opts := bundle.ImportOptions{Store: store, TempDir: tmp, LogKey: c.logKey, Catalog: cat}
	if c.sumdbKey != "" {
		skey, err := readKeyFile(c.sumdbKey)
		if err != nil {
			return usagef("--sumdb-key: %v", err)
		}
		setting, _ := c.logSetting()
		st, _, err := openLogStorage(setting, c.data)
		if err != nil {
			return fmt.Errorf("--sumdb-db: %w", err)
		}
		own, err := sumlog.Open(ctx, sumlog.Config{Storage: st, SignerKey: skey, HeadFile: filepath.Join(c.data, "sumdb.head")})
		if err != nil {
			st.Close()
			return err
		}
		defer func() { own.Close(); st.Close() }()
		opts.Record = func(ctx context.Context, path, version string, data []byte) error {
			_, err := own.Record(ctx, path, version, data)
			return err
		}
	}
	res, err := bundle.Import(ctx, in, opts)
	if err != nil {
		return err
	}
	fmt.Printf("imported %d new module versions, %d already there\n", len(res.New), len(res.Present))
	for _, v := range res.New {
		fmt.Printf("\t%s\n", v)
	}
	return nil
}
