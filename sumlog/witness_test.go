package sumlog_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/modmirror/modmirror"
	"github.com/modmirror/modmirror/sumlog"
	"github.com/modmirror/modmirror/sumlog/sqlite"
)

// openWitnessed opens the log in dir/log.db with the witness dir/head.
func openWitnessed(t *testing.T, dir, skey string) (*sumlog.Log, func(), error) {
	t.Helper()
	st, err := sqlite.Open(filepath.Join(dir, "log.db"))
	if err != nil {
		t.Fatal(err)
	}
	l, err := sumlog.Open(context.Background(), sumlog.Config{Storage: st, SignerKey: skey, HeadFile: filepath.Join(dir, "head")})
	if err != nil {
		st.Close()
		return nil, nil, err
	}
	return l, func() { l.Close(); st.Close() }, nil
}

func recordN(t *testing.T, l *sumlog.Log, from, to int) {
	t.Helper()
	for i := from; i < to; i++ {
		path := "example.com/w" + strings.Repeat("x", i%3) + "/m" + string(rune('a'+i%26))
		version := "v1.0." + strconv.Itoa(i)
		if _, err := l.Record(context.Background(), path, version, record(path, version)); err != nil {
			t.Fatal(err)
		}
	}
}

// TestWitness: an honest restart opens; a database rolled back to an older
// copy, or replaced by another log signed with the same key, is refused
// with a security error that says how to proceed; without the witness
// file, the same database opens.
func TestWitness(t *testing.T) {
	skey, _ := newKey(t)
	dir := t.TempDir()
	l, closeLog, err := openWitnessed(t, dir, skey)
	if err != nil {
		t.Fatal(err)
	}
	recordN(t, l, 0, 10)
	closeLog()
	backup := copyDB(t, dir)

	l, closeLog, err = openWitnessed(t, dir, skey)
	if err != nil {
		t.Fatalf("honest restart: %v", err)
	}
	recordN(t, l, 10, 20)
	closeLog()

	// Rolled back to the copy of 10 records.
	restoreDB(t, dir, backup)
	_, _, err = openWitnessed(t, dir, skey)
	if !errors.Is(err, modmirror.ErrSecurity) || !strings.Contains(err.Error(), "rolled back") || !strings.Contains(err.Error(), "remove ") {
		t.Fatalf("open of a rolled-back database = %v, want a security error", err)
	}

	// Another log with the same key and as many records, in another order.
	other := t.TempDir()
	l2, close2, err := openWitnessed(t, other, skey)
	if err != nil {
		t.Fatal(err)
	}
	recordN(t, l2, 5, 25)
	close2()
	restoreDB(t, dir, copyDB(t, other))
	_, _, err = openWitnessed(t, dir, skey)
	if !errors.Is(err, modmirror.ErrSecurity) || !strings.Contains(err.Error(), "differ") {
		t.Fatalf("open of a replaced database = %v, want a security error", err)
	}

	// The operator's way out: remove the witness file.
	os.Remove(filepath.Join(dir, "head"))
	l, closeLog, err = openWitnessed(t, dir, skey)
	if err != nil {
		t.Fatalf("open without the witness: %v", err)
	}
	if got := l.Head().Size; got != 20 {
		t.Errorf("head size %d, want 20", got)
	}
	closeLog()
}

func copyDB(t *testing.T, dir string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, "log.db"))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func restoreDB(t *testing.T, dir string, data []byte) {
	t.Helper()
	for _, s := range []string{"-wal", "-shm"} {
		os.Remove(filepath.Join(dir, "log.db"+s))
	}
	if err := os.WriteFile(filepath.Join(dir, "log.db"), data, 0o644); err != nil {
		t.Fatal(err)
	}
}
