package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"time"

	"github.com/modmirror/modmirror"
	"github.com/modmirror/modmirror/catalog"
	"github.com/modmirror/modmirror/catalog/sqlcatalog"
)

// openCatalogStorage opens the catalog that setting names (--catalog-db):
// an SQLite file, sqlite:///path or postgres://...; empty means the shared
// database if there is one (shared is its URL), else <data>/catalog.db.
func openCatalogStorage(ctx context.Context, setting, shared, data string) (*sqlcatalog.Storage, string, error) {
	if setting == "" {
		setting = shared
	}
	db, err := parseDBSetting(setting, filepath.Join(data, "catalog.db"))
	if err != nil {
		return nil, "", usagef("--catalog-db: %v", err)
	}
	if db.file != "" {
		s, err := sqlcatalog.OpenSQLite(db.file)
		return s, db.file, err
	}
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	s, err := sqlcatalog.OpenPostgres(ctx, db.url)
	if err != nil {
		return nil, "", fmt.Errorf("--catalog-db %s: %w", db.shown, err)
	}
	return s, db.shown, nil
}

// rebuildIfEmpty rebuilds an empty catalog from the store in the
// background, logging how it went: a store copied in, or a catalog lost,
// is indexed without a command. done is closed when it has finished.
func rebuildIfEmpty(ctx context.Context, s catalog.Storage, store modmirror.Store, log *slog.Logger) (done chan struct{}) {
	done = make(chan struct{})
	st, err := s.Stats(ctx)
	w, ok := store.(modmirror.Walker)
	if err != nil || st.Versions > 0 || !ok {
		if err != nil {
			log.Warn("catalog: cannot tell whether it is empty", "err", err)
		}
		close(done)
		return done
	}
	go func() {
		defer close(done)
		start := time.Now()
		log.Info("catalog: empty; rebuilding it from the store in the background")
		n, err := catalog.Rebuild(ctx, s, w)
		if err != nil {
			log.Warn("catalog: rebuilding from the store failed; modmirror catalog rebuild tries again", "files", n, "err", err)
			return
		}
		log.Info("catalog: rebuilt from the store", "files", n, "duration", time.Since(start).Round(time.Millisecond))
	}()
	return done
}

// catalogCommand is "modmirror catalog": the index of stored versions.
type catalogCommand struct {
	storeFlags
}

// Run runs "modmirror catalog rebuild".
func (c *catalogCommand) Run(ctx context.Context, args []string) error {
	if len(args) == 0 || args[0] != "rebuild" {
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help" || args[0] == "help") {
			fmt.Print(catalogUsage)
			return nil
		}
		return usageError{err: errors.New("want a subcommand: rebuild")}
	}
	fs := newFlags("catalog rebuild", "modmirror catalog rebuild [flags]", `
Indexes every module version the store holds in the catalog: its files'
sizes, and their times as first-stored times where the catalog has none
earlier. Nothing is removed; versions the catalog already knows keep their
source. serve does this by itself when it starts with an empty catalog.`)
	c.register(fs, false)
	if _, err := fs.parse(args[1:], noArgs); err != nil {
		return err
	}
	store, s, done, err := c.openTemp(ctx, "catalog")
	if err != nil {
		return err
	}
	defer done()
	w, ok := store.(modmirror.Walker)
	if !ok {
		return fmt.Errorf("the store %v cannot list its files", store)
	}
	start := time.Now()
	n, err := catalog.Rebuild(ctx, s, w)
	if err != nil {
		return err
	}
	st, err := s.Stats(ctx)
	if err != nil {
		return err
	}
	fmt.Printf("indexed %d files in %v: the catalog %s has %d modules, %d versions, %d bytes\n", n, time.Since(start).Round(time.Millisecond), s, st.Modules, st.Versions, st.Bytes)
	return nil
}

const catalogUsage = `Usage: modmirror catalog rebuild [flags]

The catalog is the mirror's index of the module versions it stores: when
each was first stored, where it came from, its files' sizes, when it was
last served. It can always be rebuilt from the store.

Run "modmirror catalog rebuild --help" for its flags.
`
