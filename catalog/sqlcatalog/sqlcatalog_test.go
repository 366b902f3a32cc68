package sqlcatalog_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

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

// BenchmarkSQLiteStoredOne records one stored file a time, as each fill
// does before it answers.
func BenchmarkSQLiteStoredOne(b *testing.B) {
	s, err := sqlcatalog.OpenSQLite(filepath.Join(b.TempDir(), "catalog.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	for i := 0; b.Loop(); i++ {
		f := catalog.File{Path: "example.com/m", Version: fmt.Sprintf("v1.0.%d", i), Ext: ".mod", Size: 100, Source: "u", At: time.Now()}
		if err := s.Stored(ctx, []catalog.File{f}); err != nil {
			b.Fatal(err)
		}
	}
}
