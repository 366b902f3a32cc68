package sumlog_test

// A crash test: a child process appends under load and is killed with
// SIGKILL; the log it leaves must open, hold every record it acknowledged
// and sign a tree consistent with every head it showed.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/modmirror/modmirror/sumlog"
	"github.com/modmirror/modmirror/sumlog/sqlite"
)

// The child's environment: the directory of its log.db, its run number
// (which names its module versions) and the log's signer key.
const (
	crashDirEnv = "SUMLOG_CRASH_CHILD"
	crashRunEnv = "SUMLOG_CRASH_RUN"
	crashKeyEnv = "SUMLOG_CRASH_KEY"
)

// TestCrashChild is the child of TestCrash. It records distinct module
// versions from several goroutines until it is killed, and prints
//
//	ack <id> <path> <version>   once Record returned nil for it
//	head <base64 of the signed head>   every 25 acks
//	error <message>             if Record failed
func TestCrashChild(t *testing.T) {
	dir := os.Getenv(crashDirEnv)
	if dir == "" {
		t.Skip("the child process of TestCrash; runs only when it starts it")
	}
	ctx := context.Background()
	var mu sync.Mutex
	say := func(format string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		// One write per line, so that a kill cuts at most the last one.
		if _, err := os.Stdout.WriteString(fmt.Sprintf(format, args...) + "\n"); err != nil {
			os.Exit(3) // the parent is gone
		}
	}
	st, err := sqlite.Open(filepath.Join(dir, "log.db"))
	if err != nil {
		say("error %v", err)
		return
	}
	l, err := sumlog.Open(ctx, sumlog.Config{Storage: st, SignerKey: os.Getenv(crashKeyEnv)})
	if err != nil {
		say("error %v", err)
		return
	}
	run := os.Getenv(crashRunEnv)
	var acks atomic.Int64
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			// Bounded, though the parent kills the child long before.
			for i := range 100_000 {
				path, version := fmt.Sprintf("example.com/crash/r%s/w%d/m%d", run, w, i), "v1.0.0"
				id, err := l.Record(ctx, path, version, record(path, version))
				if err != nil {
					say("error %v", err)
					return
				}
				say("ack %d %s %s", id, path, version)
				if acks.Add(1)%25 == 0 {
					say("head %s", base64.StdEncoding.EncodeToString(l.Head().Signed))
				}
			}
		})
	}
	wg.Wait()
}

// A crashAck is a record that the child acknowledged.
type crashAck struct {
	id            int64
	path, version string
}

// TestCrash kills a child process that appends to a log three times, at
// different moments, and checks after each kill that the log it leaves
// opens, holds every acknowledged record with its id and data, has a tree
// consistent with every head shown before, holds nothing beyond its head,
// and takes new records.
func TestCrash(t *testing.T) {
	t.Parallel()
	if os.Getenv(crashDirEnv) != "" {
		t.Skip("in the child process")
	}
	dir := t.TempDir()
	skey, vkey := newKey(t)
	verifier, err := note.NewVerifier(vkey)
	if err != nil {
		t.Fatal(err)
	}
	var acked []crashAck
	var heads [][]byte // every head seen, in order
	for run, killAt := range []int{200, 600, 350} {
		acks, printed := runCrashChild(t, dir, skey, run, killAt)
		acked = append(acked, acks...)
		heads = append(heads, printed...)
		heads = append(heads, checkAfterCrash(t, dir, skey, note.VerifierList(verifier), run, acked, heads))
		t.Logf("run %d: killed at ack %d; %d acks and %d heads read in all", run, killAt, len(acks), len(printed))
	}
}

// runCrashChild runs TestCrashChild on the log in dir, kills it once it
// acknowledged killAt records, and returns every record it acknowledged
// (also those read after the kill) and every head it printed.
func runCrashChild(t *testing.T, dir, skey string, run, killAt int) ([]crashAck, [][]byte) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1", "-test.timeout=2m")
	cmd.Env = append(os.Environ(), crashDirEnv+"="+dir, crashRunEnv+"="+strconv.Itoa(run), crashKeyEnv+"="+skey)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill() // if the test fails before the kill

	var acks []crashAck
	var heads [][]byte
	killed := false
	r := bufio.NewReader(out)
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			break // EOF; a last line without its newline was cut by the kill
		}
		kind, rest, _ := strings.Cut(strings.TrimSuffix(line, "\n"), " ")
		switch kind {
		case "ack":
			f := strings.Fields(rest)
			if len(f) != 3 {
				t.Fatalf("child: malformed line %q", line)
			}
			id, err := strconv.ParseInt(f[0], 10, 64)
			if err != nil {
				t.Fatalf("child: malformed line %q", line)
			}
			acks = append(acks, crashAck{id, f[1], f[2]})
		case "head":
			signed, err := base64.StdEncoding.DecodeString(rest)
			if err != nil {
				t.Fatalf("child: malformed line %q", line)
			}
			heads = append(heads, signed)
		case "error":
			t.Errorf("child: %s", rest)
		}
		if !killed && len(acks) >= killAt {
			if err := cmd.Process.Kill(); err != nil {
				t.Fatal(err)
			}
			killed = true
		}
	}
	werr := cmd.Wait()
	if !killed {
		t.Fatalf("the child stopped after %d acks, before it was killed: %v\nstderr:\n%s", len(acks), werr, stderr.Bytes())
	}
	if cmd.ProcessState.Exited() {
		t.Fatalf("the child exited (%v) instead of dying of the kill\nstderr:\n%s", cmd.ProcessState, stderr.Bytes())
	}
	return acks, heads
}

// storageHashes reads stored hashes from a storage.
type storageHashes struct{ st sumlog.Storage }

func (h storageHashes) ReadHashes(indexes []int64) ([]tlog.Hash, error) {
	return h.st.ReadHashes(context.Background(), indexes)
}

// checkAfterCrash reopens the log in dir, checks it against what the
// killed child acknowledged and showed, appends one record and returns
// the new head.
func checkAfterCrash(t *testing.T, dir, skey string, verifier note.Verifiers, run int, acked []crashAck, heads [][]byte) []byte {
	t.Helper()
	ctx := context.Background()
	file := filepath.Join(dir, "log.db")
	st, err := sqlite.Open(file)
	if err != nil {
		t.Fatalf("run %d: reopening the database after the kill: %v", run, err)
	}
	defer st.Close()
	l, err := sumlog.Open(ctx, sumlog.Config{Storage: st, SignerKey: skey})
	if err != nil {
		t.Fatalf("run %d: reopening the log after the kill: %v", run, err)
	}
	defer l.Close()

	parse := func(signed []byte) tlog.Tree {
		t.Helper()
		n, err := note.Open(signed, verifier)
		if err != nil {
			t.Fatalf("run %d: head %q: %v", run, signed, err)
		}
		tree, err := tlog.ParseTree([]byte(n.Text))
		if err != nil {
			t.Fatalf("run %d: head %q: %v", run, signed, err)
		}
		return tree
	}
	head := l.Head()
	tree := parse(head.Signed)
	if tree.N != head.Size {
		t.Fatalf("run %d: head of size %d signs %d records", run, head.Size, tree.N)
	}

	// Every acknowledged record is there, with its id and its data.
	for _, a := range acked {
		id, err := st.Lookup(ctx, a.path, a.version)
		if err != nil || id != a.id {
			t.Fatalf("run %d: acknowledged record %d (%s@%s): Lookup = %d, %v", run, a.id, a.path, a.version, id, err)
		}
		if id >= tree.N {
			t.Fatalf("run %d: acknowledged record %d is beyond the head of %d records", run, id, tree.N)
		}
		data, err := st.ReadRecords(ctx, id, 1)
		if err != nil || !bytes.Equal(data[0], record(a.path, a.version)) {
			t.Fatalf("run %d: acknowledged record %d (%s@%s): ReadRecords = %q, %v", run, id, a.path, a.version, data, err)
		}
	}

	// The tree extends every head shown before: none was forgotten or
	// forked by the kill.
	for _, signed := range heads {
		old := parse(signed)
		if old.N > tree.N {
			t.Fatalf("run %d: a head of %d records was shown, but the log has %d after the kill", run, old.N, tree.N)
		}
		proof, err := tlog.ProveTree(tree.N, old.N, storageHashes{st})
		if err != nil {
			t.Fatalf("run %d: proving tree %d from tree %d: %v", run, tree.N, old.N, err)
		}
		if err := tlog.CheckTree(proof, tree.N, tree.Hash, old.N, old.Hash); err != nil {
			t.Fatalf("run %d: the tree of %d records after the kill is not consistent with the head of %d shown before: %v", run, tree.N, old.N, err)
		}
	}

	// Nothing beyond the head: the append cut by the kill left no part.
	for _, c := range []struct {
		query string
		want  int64
	}{
		{"SELECT COUNT(*) FROM records", tree.N},
		{"SELECT COALESCE(MAX(id), -1) FROM records", tree.N - 1},
		{"SELECT COUNT(*) FROM hashes", tlog.StoredHashCount(tree.N)},
	} {
		if got := queryInt(t, file, c.query); got != c.want {
			t.Fatalf("run %d: %s = %d, want %d", run, c.query, got, c.want)
		}
	}

	t.Logf("run %d: after the kill, the log has %d records, %d of them acknowledged", run, tree.N, len(acked))

	// The log goes on.
	path, version := fmt.Sprintf("example.com/crash/after%d", run), "v1.0.0"
	id, err := l.Record(ctx, path, version, record(path, version))
	if err != nil || id != tree.N {
		t.Fatalf("run %d: Record after the kill = %d, %v; want %d, nil", run, id, err, tree.N)
	}
	return l.Head().Signed
}
