package vulndb

import (
	"archive/zip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"golang.org/x/mod/module"

	"github.com/modmirror/modmirror"
)

// DefaultModule is the module that publishes the Go vulnerability
// database.
const DefaultModule = "golang.org/x/vulndb"

// A Source gives module versions: the mirror, which fills and verifies
// them like any other (mirror.Mirror is one).
type Source interface {
	Latest(ctx context.Context, path string) ([]byte, error)
	Info(ctx context.Context, path, query string) (modmirror.File, error)
	Zip(ctx context.Context, path, version string) (modmirror.File, error)
}

// RetryInterval is how soon Run tries again when no database is loaded
// yet.
const RetryInterval = 30 * time.Second

// An Updater keeps Current at the latest version of the database module
// that its source gives.
type Updater struct {
	Module  string // DefaultModule if empty
	Version string // a version to keep to; the latest if empty
	Source  Source
	Current *Current
	TempDir string // for zips from stores that cannot read at offsets
	Logger  *slog.Logger
}

// Update loads the latest version of the module (or the one Version
// names), unless it is the one loaded already. It reports whether it loaded
// a new one. On failure the current database stays.
func (u *Updater) Update(ctx context.Context) (bool, error) {
	mod, query := u.module(), u.Version
	if query == "" {
		query = "latest"
	}
	data, err := u.info(ctx, mod)
	if err != nil {
		return false, fmt.Errorf("vulndb: %s@%s: %w", mod, query, err)
	}
	var info struct {
		Version string
		Time    time.Time
	}
	if err := json.Unmarshal(data, &info); err != nil || module.Check(mod, info.Version) != nil {
		return false, fmt.Errorf("vulndb: %s@%s: the answer names no valid version", mod, query)
	}
	if cur := u.Current.Load(); cur != nil && cur.Module == mod && cur.Version == info.Version {
		return false, nil
	}
	db, err := u.load(ctx, mod, info.Version, info.Time)
	if err != nil {
		return false, err
	}
	u.Current.Store(db)
	u.logger().Info("vulnerability database loaded", "module", mod, "version", info.Version, "entries", db.Len())
	return true, nil
}

// info is the .info of the version to load.
func (u *Updater) info(ctx context.Context, mod string) ([]byte, error) {
	if u.Version == "" {
		return u.Source.Latest(ctx, mod)
	}
	f, err := u.Source.Info(ctx, mod, u.Version)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, 1<<20))
}

func (u *Updater) load(ctx context.Context, mod, version string, t time.Time) (*DB, error) {
	f, err := u.Source.Zip(ctx, mod, version)
	if err != nil {
		return nil, fmt.Errorf("vulndb: %s@%s: %w", mod, version, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("vulndb: %s@%s: %w", mod, version, err)
	}
	ra, ok := f.(io.ReaderAt)
	if !ok {
		// An object store's file reads in order only: copy it to disk.
		tmp, err := os.CreateTemp(u.TempDir, "vulndb-*.zip")
		if err != nil {
			return nil, fmt.Errorf("vulndb: %w", err)
		}
		defer os.Remove(tmp.Name())
		defer tmp.Close()
		if _, err := io.Copy(tmp, f); err != nil {
			return nil, fmt.Errorf("vulndb: %s@%s: copying the zip: %w", mod, version, err)
		}
		ra = tmp
	}
	zr, err := zip.NewReader(ra, fi.Size())
	if err != nil {
		return nil, fmt.Errorf("vulndb: %s@%s: %w", mod, version, err)
	}
	return Load(zr, mod, version, t)
}

// Run updates at once, then every interval, until ctx ends. Failures are
// logged; the database loaded last keeps being served.
func (u *Updater) Run(ctx context.Context, interval time.Duration) {
	for {
		if _, err := u.Update(ctx); err != nil && ctx.Err() == nil {
			msg := "vulnerability database: refresh failed; serving the one loaded last"
			if u.Current.Load() == nil {
				msg = "vulnerability database: loading failed; /vuln/ and vulnerability rules answer 503 until it loads"
			}
			u.logger().Warn(msg, "err", err)
		}
		wait := interval
		if u.Current.Load() == nil {
			wait = min(interval, RetryInterval) // none to serve yet: try again soon
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
	}
}

func (u *Updater) module() string {
	if u.Module == "" {
		return DefaultModule
	}
	return u.Module
}

func (u *Updater) logger() *slog.Logger {
	if u.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return u.Logger
}
