// Command rebuildbench measures "modmirror catalog rebuild": it writes a
// store of N module versions (an .info, a .mod and a small .zip each, in
// the module cache layout), then rebuilds an empty catalog from it, in
// SQLite and, when MODMIRROR_TEST_POSTGRES_URL names a server, in
// PostgreSQL, and prints the times. Walking the store alone (a rebuild
// that records nothing) is measured too, as the floor.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/modmirror/modmirror"
	"github.com/modmirror/modmirror/bench/internal/benchutil"
	"github.com/modmirror/modmirror/catalog"
	"github.com/modmirror/modmirror/catalog/sqlcatalog"
	"github.com/modmirror/modmirror/fsstore"
)

func main() {
	n := flag.Int("versions", 100000, "module versions in the store")
	perModule := flag.Int("per-module", 10, "versions per module path")
	keep := flag.Bool("keep", false, "keep the work directory")
	flag.Parse()
	log.SetFlags(0)
	work, err := os.MkdirTemp("", "rebuildbench-")
	if err != nil {
		log.Fatal(err)
	}
	if !*keep {
		defer benchutil.RemoveAll(work)
	}
	root := filepath.Join(work, "store")
	start := time.Now()
	if err := fill(root, *n, *perModule); err != nil {
		log.Fatal(err)
	}
	fmt.Printf("wrote %d versions (%d files) in %v\n", *n, 3**n, time.Since(start).Round(time.Millisecond))
	store, err := fsstore.New(root)
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()

	cells := [][]string{{"catalog", "files", "time", "files/s", "÷ walk alone"}}
	start = time.Now()
	files := 0
	if err := store.Walk(ctx, func(string, int64, time.Time) error { files++; return nil }); err != nil {
		log.Fatal(err)
	}
	walk := time.Since(start)
	cells = append(cells, row("walk alone (floor)", files, walk, walk))

	s, err := sqlcatalog.OpenSQLite(filepath.Join(work, "catalog.db"))
	if err != nil {
		log.Fatal(err)
	}
	start = time.Now()
	got, err := catalog.Rebuild(ctx, s, store)
	if err != nil {
		log.Fatal(err)
	}
	cells = append(cells, row("SQLite", got, time.Since(start), walk))
	check(ctx, s, *n)
	s.Close()

	if url := os.Getenv("MODMIRROR_TEST_POSTGRES_URL"); url != "" {
		db := "rebuildbench_" + fmt.Sprint(time.Now().UnixNano())
		conn, err := pgx.Connect(ctx, url)
		if err != nil {
			log.Fatal(err)
		}
		if _, err := conn.Exec(ctx, "CREATE DATABASE "+db); err != nil {
			log.Fatal(err)
		}
		defer func() { conn.Exec(ctx, "DROP DATABASE "+db+" WITH (FORCE)"); conn.Close(ctx) }()
		cfg, _ := pgx.ParseConfig(url)
		cfg.Database = db
		pg, err := sqlcatalog.OpenPostgres(ctx, cfg.ConnString())
		if err != nil {
			log.Fatal(err)
		}
		start = time.Now()
		got, err := catalog.Rebuild(ctx, pg, store)
		if err != nil {
			log.Fatal(err)
		}
		cells = append(cells, row("PostgreSQL", got, time.Since(start), walk))
		check(ctx, pg, *n)
		pg.Close()
	} else {
		fmt.Println("(PostgreSQL skipped: MODMIRROR_TEST_POSTGRES_URL is not set)")
	}
	fmt.Println()
	benchutil.WriteCells(os.Stdout, cells, false)
	fmt.Println()
	benchutil.WriteCells(os.Stdout, cells, true)
}

func row(name string, files int, d, walk time.Duration) []string {
	return []string{name, fmt.Sprint(files), d.Round(time.Millisecond).String(), fmt.Sprintf("%.0f", float64(files)/d.Seconds()), fmt.Sprintf("%.1f", d.Seconds()/walk.Seconds())}
}

func check(ctx context.Context, s catalog.Storage, n int) {
	st, err := s.Stats(ctx)
	if err != nil {
		log.Fatal(err)
	}
	if st.Versions != int64(n) {
		log.Fatalf("the catalog has %d versions, want %d", st.Versions, n)
	}
}

// fill writes n versions straight to disk (no fsync: the store's own
// Create syncs every file, which would measure the disk, not the rebuild).
func fill(root string, n, perModule int) error {
	for i := range n {
		path := fmt.Sprintf("example.com/org%d/mod%d", i/(perModule*100), i/perModule)
		version := fmt.Sprintf("v1.%d.0", i%perModule)
		for ext, data := range map[string]string{
			modmirror.ExtInfo: `{"Version":"` + version + `","Time":"2024-01-02T03:04:05Z"}`,
			modmirror.ExtMod:  "module " + path + "\n\ngo 1.21\n",
			modmirror.ExtZip:  "PK\x05\x06" + string(make([]byte, 100)),
		} {
			key, err := modmirror.VersionKey(path, version, ext)
			if err != nil {
				return err
			}
			file := filepath.Join(root, filepath.FromSlash(key))
			if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
				return err
			}
			if err := os.WriteFile(file, []byte(data), 0o644); err != nil {
				return err
			}
		}
	}
	return nil
}
