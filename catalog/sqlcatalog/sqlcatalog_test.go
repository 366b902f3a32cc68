package sqlcatalog_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/modmirror/modmirror/catalog"
	"github.com/modmirror/modmirror/catalog/catalogtest"
	"github.com/modmirror/modmirror/catalog/sqlcatalog"
	"github.com/modmirror/modmirror/internal/testpostgres"
)

func TestSQLite(t *testing.T) {
	catalogtest.Run(t, func(t *testing.T) catalog.Storage {
		s, err := sqlcatalog.OpenSQLite(filepath.Join(t.TempDir(), "catalog.db"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	})
}

func TestPostgres(t *testing.T) {
	catalogtest.Run(t, func(t *testing.T) catalog.Storage {
		s, err := sqlcatalog.OpenPostgres(context.Background(), testpostgres.Database(t))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	})
}
