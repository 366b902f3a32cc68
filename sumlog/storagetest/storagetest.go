// Package storagetest is the conformance suite for implementations of
// [sumlog.Storage], in the spirit of golang.org/x/mod/sumdb/storage's
// TestStorage. An implementation's whole test can be one line:
//
//	func TestStorage(t *testing.T) { storagetest.TestStorage(t, openEmpty) }
//
// The suite writes what a [sumlog.Log] would: go.sum lines as records, the
// stored hashes that tlog.StoredHashes gives for them and heads signed with
// golang.org/x/mod/sumdb/note. It checks what the Storage contract
// promises: what is appended reads back, by id and by module version;
// not-found errors match fs.ErrNotExist; an Append with a stale size or a
// module version recorded already returns sumlog.ErrConflict and writes
// nothing of its batch; and concurrent readers only ever see whole appends.
package storagetest

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	mrand "math/rand/v2"
	"slices"
	"sync"
	"testing"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/modmirror/modmirror/sumlog"
)

// TestStorage tests a sumlog.Storage implementation. Each call of open
// must return a new, empty storage; the suite closes it when the subtest
// that opened it ends.
func TestStorage(t *testing.T, open func(t *testing.T) sumlog.Storage) {
	skey, _, err := note.GenerateKey(rand.Reader, "storagetest.example.com")
	if err != nil {
		t.Fatal(err)
	}
	signer, err := note.NewSigner(skey)
	if err != nil {
		t.Fatal(err)
	}
	s := &suite{open: open, signer: signer}
	t.Run("Empty", s.testEmpty)
	t.Run("AppendRead", s.testAppendRead)
	t.Run("NotExist", s.testNotExist)
	t.Run("WrongOldSize", s.testWrongOldSize)
	t.Run("RecordedVersion", s.testRecordedVersion)
	t.Run("HashOrder", s.testHashOrder)
	t.Run("Large", s.testLarge)
	t.Run("CanceledContext", s.testCanceledContext)
	t.Run("ConcurrentReaders", s.testConcurrentReaders)
}

type suite struct {
	open   func(t *testing.T) sumlog.Storage
	signer note.Signer
}

// storage opens a new storage and closes it when t ends.
func (s *suite) storage(t *testing.T) sumlog.Storage {
	t.Helper()
	st := s.open(t)
	t.Cleanup(func() {
		if err := st.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return st
}

// newModel returns the model of an empty storage.
func (s *suite) newModel() *model { return &model{signer: s.signer} }

// A model is the log that a storage should hold: everything the suite
// appended to it successfully.
type model struct {
	signer note.Signer
	recs   []sumlog.Record
	hashes []tlog.Hash
	head   sumlog.Head
}

// An appendOp holds the arguments of one Storage.Append.
type appendOp struct {
	oldSize int64
	recs    []sumlog.Record
	hashes  []tlog.Hash
	head    sumlog.Head
}

func (op appendOp) run(ctx context.Context, st sumlog.Storage) error {
	return st.Append(ctx, op.oldSize, op.recs, op.hashes, op.head)
}

// next returns the Append that adds recs to the log m models, as a
// sumlog.Log computes it, without changing m.
func (m *model) next(t *testing.T, recs []sumlog.Record) appendOp {
	t.Helper()
	n := int64(len(m.recs))
	all := slices.Clone(m.hashes)
	r := tlog.HashReaderFunc(func(indexes []int64) ([]tlog.Hash, error) {
		out := make([]tlog.Hash, len(indexes))
		for i, x := range indexes {
			if x < 0 || x >= int64(len(all)) {
				return nil, fmt.Errorf("storagetest: hash %d not computed", x)
			}
			out[i] = all[x]
		}
		return out, nil
	})
	for i, rec := range recs {
		h, err := tlog.StoredHashes(n+int64(i), rec.Data, r)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, h...)
	}
	size := n + int64(len(recs))
	th, err := tlog.TreeHash(size, r)
	if err != nil {
		t.Fatal(err)
	}
	signed, err := note.Sign(&note.Note{Text: string(tlog.FormatTree(tlog.Tree{N: size, Hash: th}))}, m.signer)
	if err != nil {
		t.Fatal(err)
	}
	return appendOp{oldSize: n, recs: recs, hashes: all[len(m.hashes):], head: sumlog.Head{Size: size, Signed: signed}}
}

// apply records in m that op was appended.
func (m *model) apply(op appendOp) {
	m.recs = append(m.recs, op.recs...)
	m.hashes = append(m.hashes, op.hashes...)
	m.head = op.head
}

// clone returns a copy of m that can be changed independently.
func (m *model) clone() *model {
	return &model{signer: m.signer, recs: slices.Clone(m.recs), hashes: slices.Clone(m.hashes), head: m.head}
}

// prefix returns the model of the first n records of m, as a writer that
// read the log when it had n records sees it.
func (m *model) prefix(t *testing.T, n int) *model {
	t.Helper()
	p := &model{signer: m.signer}
	p.apply(p.next(t, m.recs[:n]))
	return p
}

// mustAppend appends recs to st and to m.
func mustAppend(t *testing.T, st sumlog.Storage, m *model, recs []sumlog.Record) {
	t.Helper()
	op := m.next(t, recs)
	if err := op.run(t.Context(), st); err != nil {
		t.Fatalf("Append(%d, %d records): %v", op.oldSize, len(recs), err)
	}
	m.apply(op)
}

// newRecord returns the record of a module version: its go.sum lines, with
// hashes that look like (and are as random as) real ones.
func newRecord(path, version string) sumlog.Record {
	h := func(s string) string {
		sum := sha256.Sum256([]byte(s))
		return "h1:" + base64.StdEncoding.EncodeToString(sum[:])
	}
	data := fmt.Sprintf("%s %s %s\n%s %s/go.mod %s\n", path, version, h(path+"@"+version+".zip"), path, version, h(path+"@"+version+".mod"))
	return sumlog.Record{Path: path, Version: version, Data: []byte(data)}
}

// records returns n records of distinct module versions named after
// prefix: three versions of each module path, so that the storage must
// key records by path and version together.
func records(prefix string, n int) []sumlog.Record {
	recs := make([]sumlog.Record, n)
	for i := range recs {
		recs[i] = newRecord(fmt.Sprintf("example.com/%s/m%d", prefix, i/3), fmt.Sprintf("v1.0.%d", i%3))
	}
	return recs
}

// check checks that st holds exactly what m models.
func check(t *testing.T, st sumlog.Storage, m *model) {
	t.Helper()
	if err := checkErr(t.Context(), st, m); err != nil {
		t.Fatal(err)
	}
}

// checkErr is check for use outside the test's goroutine.
func checkErr(ctx context.Context, st sumlog.Storage, m *model) error {
	head, err := st.Head(ctx)
	if err != nil {
		return fmt.Errorf("Head: %v", err)
	}
	if m.head.Signed == nil {
		if head.Size != 0 || head.Signed != nil {
			return fmt.Errorf("Head of an empty storage = {Size: %d, Signed: %q}, want {Size: 0, Signed: nil}", head.Size, head.Signed)
		}
	} else if head.Size != m.head.Size || !bytes.Equal(head.Signed, m.head.Signed) {
		return fmt.Errorf("Head = {Size: %d, Signed: %q}, want {Size: %d, Signed: %q}", head.Size, head.Signed, m.head.Size, m.head.Signed)
	}
	n := int64(len(m.recs))
	if n > 0 {
		data, err := st.ReadRecords(ctx, 0, n)
		if err != nil {
			return fmt.Errorf("ReadRecords(0, %d): %v", n, err)
		}
		if err := sameRecords(data, m.recs, 0); err != nil {
			return fmt.Errorf("ReadRecords(0, %d): %v", n, err)
		}
	}
	for i, rec := range m.recs {
		id, err := st.Lookup(ctx, rec.Path, rec.Version)
		if err != nil {
			return fmt.Errorf("Lookup(%s, %s): %v", rec.Path, rec.Version, err)
		}
		if id != int64(i) {
			return fmt.Errorf("Lookup(%s, %s) = %d, want %d", rec.Path, rec.Version, id, i)
		}
	}
	count := int64(len(m.hashes))
	if want := tlog.StoredHashCount(n); count != want {
		return fmt.Errorf("storagetest: model has %d hashes for %d records, want %d", count, n, want)
	}
	if count > 0 {
		indexes := make([]int64, count)
		for i := range indexes {
			indexes[i] = int64(i)
		}
		got, err := st.ReadHashes(ctx, indexes)
		if err != nil {
			return fmt.Errorf("ReadHashes(0..%d): %v", count-1, err)
		}
		if !slices.Equal(got, m.hashes) {
			return fmt.Errorf("ReadHashes(0..%d) differs from the hashes appended", count-1)
		}
	}
	// Nothing beyond the end.
	if _, err := st.ReadRecords(ctx, n, 1); !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("ReadRecords(%d, 1) beyond the end: err = %v, want one matching fs.ErrNotExist", n, err)
	}
	if _, err := st.ReadHashes(ctx, []int64{count}); !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("ReadHashes([%d]) beyond the end: err = %v, want one matching fs.ErrNotExist", count, err)
	}
	return nil
}

// sameRecords checks that data holds the data of recs, which start at id.
func sameRecords(data [][]byte, recs []sumlog.Record, id int64) error {
	if len(data) != len(recs) {
		return fmt.Errorf("%d records, want %d", len(data), len(recs))
	}
	for i := range data {
		if !bytes.Equal(data[i], recs[i].Data) {
			return fmt.Errorf("record %d = %q, want %q", id+int64(i), data[i], recs[i].Data)
		}
	}
	return nil
}

// wantNotExist checks that err matches fs.ErrNotExist.
func wantNotExist(t *testing.T, what string, err error) {
	t.Helper()
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("%s: err = %v, want one matching fs.ErrNotExist", what, err)
	}
}

// wantAbsent checks that none of recs is in st.
func wantAbsent(t *testing.T, st sumlog.Storage, recs []sumlog.Record) {
	t.Helper()
	for _, rec := range recs {
		id, err := st.Lookup(t.Context(), rec.Path, rec.Version)
		if !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("Lookup(%s, %s) of a version never appended = %d, %v; want an error matching fs.ErrNotExist", rec.Path, rec.Version, id, err)
		}
	}
}

func (s *suite) testEmpty(t *testing.T) {
	st := s.storage(t)
	ctx := t.Context()
	head, err := st.Head(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if head.Size != 0 || head.Signed != nil {
		t.Fatalf("Head of an empty storage = {Size: %d, Signed: %q}, want {Size: 0, Signed: nil}", head.Size, head.Signed)
	}
	_, err = st.ReadRecords(ctx, 0, 1)
	wantNotExist(t, "ReadRecords(0, 1) of an empty storage", err)
	_, err = st.ReadHashes(ctx, []int64{0})
	wantNotExist(t, "ReadHashes([0]) of an empty storage", err)
	_, err = st.Lookup(ctx, "example.com/m", "v1.0.0")
	wantNotExist(t, "Lookup of an empty storage", err)
	check(t, st, s.newModel())
}

func (s *suite) testAppendRead(t *testing.T) {
	st := s.storage(t)
	ctx := t.Context()
	m := s.newModel()

	// A new log first stores the signed head of the empty tree.
	mustAppend(t, st, m, nil)
	check(t, st, m)
	if h, _ := st.Head(ctx); h.Signed == nil {
		t.Fatal("Head after appending the empty tree's head has no Signed note")
	}

	all := records("append", 1+2+7+300)
	for _, n := range []int{1, 2, 7, 300} {
		batch, rest := all[:n], all[n:]
		all = rest
		mustAppend(t, st, m, batch)
		check(t, st, m)
	}

	// Ranges inside the log, one by one and in runs.
	for id := range int64(len(m.recs)) {
		data, err := st.ReadRecords(ctx, id, 1)
		if err != nil {
			t.Fatalf("ReadRecords(%d, 1): %v", id, err)
		}
		if err := sameRecords(data, m.recs[id:id+1], id); err != nil {
			t.Fatalf("ReadRecords(%d, 1): %v", id, err)
		}
	}
	for _, r := range [][2]int64{{0, 1}, {1, 2}, {3, 7}, {5, 256}, {255, 2}, {256, 54}} {
		data, err := st.ReadRecords(ctx, r[0], r[1])
		if err != nil {
			t.Fatalf("ReadRecords(%d, %d): %v", r[0], r[1], err)
		}
		if err := sameRecords(data, m.recs[r[0]:r[0]+r[1]], r[0]); err != nil {
			t.Fatalf("ReadRecords(%d, %d): %v", r[0], r[1], err)
		}
	}
}

func (s *suite) testNotExist(t *testing.T) {
	st := s.storage(t)
	ctx := t.Context()
	m := s.newModel()
	mustAppend(t, st, m, nil)
	mustAppend(t, st, m, records("notexist", 10))
	count := int64(len(m.hashes))

	for _, r := range [][2]int64{{10, 1}, {9, 2}, {0, 11}, {11, 1}, {1000, 5}} {
		_, err := st.ReadRecords(ctx, r[0], r[1])
		wantNotExist(t, fmt.Sprintf("ReadRecords(%d, %d) of a log of 10", r[0], r[1]), err)
	}
	for _, idx := range [][]int64{{count}, {0, count, 1}, {count + 100}, {count - 1, count}} {
		_, err := st.ReadHashes(ctx, idx)
		wantNotExist(t, fmt.Sprintf("ReadHashes(%v) of %d hashes", idx, count), err)
	}
	known := m.recs[4]
	for _, mv := range [][2]string{
		{"example.com/unknown", "v1.0.0"},
		{known.Path, "v1.9.9"},                   // known path, other version
		{known.Path + "/sub", known.Version},     // other path, known version
		{known.Path, known.Version + "+unknown"}, // a longer version
	} {
		_, err := st.Lookup(ctx, mv[0], mv[1])
		wantNotExist(t, fmt.Sprintf("Lookup(%s, %s)", mv[0], mv[1]), err)
	}
	check(t, st, m)
}

func (s *suite) testWrongOldSize(t *testing.T) {
	st := s.storage(t)
	ctx := t.Context()
	m := s.newModel()
	mustAppend(t, st, m, nil)
	mustAppend(t, st, m, records("size", 10))
	extra := records("size-extra", 2)

	// A writer that read the head before the last record.
	stale := m.prefix(t, 9).next(t, extra)
	// A writer that believes in an eleventh record that is not there.
	phantom := m.clone()
	phantom.apply(phantom.next(t, records("size-phantom", 1)))
	ahead := phantom.next(t, extra)
	// A writer that starts a new log over the existing one.
	fresh := s.newModel().next(t, extra)

	for _, c := range []struct {
		name string
		op   appendOp
	}{{"stale", stale}, {"ahead", ahead}, {"fresh", fresh}} {
		err := c.op.run(ctx, st)
		if !errors.Is(err, sumlog.ErrConflict) {
			t.Fatalf("%s: Append(%d, ...) to a log of 10: err = %v, want one matching sumlog.ErrConflict", c.name, c.op.oldSize, err)
		}
		if err := checkErr(ctx, st, m); err != nil {
			t.Fatalf("after the refused %s Append: %v", c.name, err)
		}
		wantAbsent(t, st, extra)
	}

	// The right size still appends.
	mustAppend(t, st, m, extra)
	check(t, st, m)
}

func (s *suite) testRecordedVersion(t *testing.T) {
	st := s.storage(t)
	ctx := t.Context()
	m := s.newModel()
	mustAppend(t, st, m, nil)
	mustAppend(t, st, m, records("dup", 10))

	rec3 := m.recs[3]
	other := newRecord(rec3.Path, rec3.Version)
	other.Data = bytes.ReplaceAll(other.Data, []byte("h1:"), []byte("h1:X"))
	newA, newB := newRecord("example.com/dup/new-a", "v1.0.0"), newRecord("example.com/dup/new-b", "v2.0.0+incompatible")
	many := records("dup-many", 600)

	for _, c := range []struct {
		name string
		recs []sumlog.Record
	}{
		{"same record again", []sumlog.Record{rec3}},
		{"other data in the middle", []sumlog.Record{newA, other, newB}},
		{"first of the batch", []sumlog.Record{m.recs[0], newA}},
		{"last of a large batch", append(slices.Clone(many), m.recs[9])},
		{"twice in the batch's own new records", []sumlog.Record{newA, newB, m.recs[5], newB}},
	} {
		op := m.next(t, c.recs)
		err := op.run(ctx, st)
		if !errors.Is(err, sumlog.ErrConflict) {
			t.Fatalf("%s: Append of a batch with a recorded version: err = %v, want one matching sumlog.ErrConflict", c.name, err)
		}
		// Nothing of the batch: records, hashes and head unchanged.
		if err := checkErr(ctx, st, m); err != nil {
			t.Fatalf("after the refused Append (%s): %v", c.name, err)
		}
		wantAbsent(t, st, []sumlog.Record{newA, newB})
		wantAbsent(t, st, many)
	}

	// The new versions of the refused batches append, with the next ids:
	// the refused appends left nothing behind.
	mustAppend(t, st, m, []sumlog.Record{newA, newB})
	mustAppend(t, st, m, many)
	check(t, st, m)
}

func (s *suite) testHashOrder(t *testing.T) {
	st := s.storage(t)
	ctx := t.Context()
	m := s.newModel()
	mustAppend(t, st, m, nil)
	mustAppend(t, st, m, records("order", 40))
	count := int64(len(m.hashes))

	rng := mrand.New(mrand.NewPCG(1, 2))
	random := make([]int64, 300)
	for i := range random {
		random[i] = rng.Int64N(count)
	}
	reversed := make([]int64, count)
	for i := range reversed {
		reversed[i] = count - 1 - int64(i)
	}
	for _, indexes := range [][]int64{
		{0},
		{count - 1},
		{5, 0, 5, 3, count - 1, 0, 1, 1},
		{7, 7, 7},
		{2, 1},
		reversed,
		random,
	} {
		got, err := st.ReadHashes(ctx, indexes)
		if err != nil {
			t.Fatalf("ReadHashes(%v): %v", indexes, err)
		}
		if len(got) != len(indexes) {
			t.Fatalf("ReadHashes(%v) returned %d hashes, want %d", indexes, len(got), len(indexes))
		}
		for i, x := range indexes {
			if got[i] != m.hashes[x] {
				t.Fatalf("ReadHashes(%v)[%d] (hash %d) = %v, want %v", indexes, i, x, got[i], m.hashes[x])
			}
		}
	}
	got, err := st.ReadHashes(ctx, []int64{})
	if err != nil || len(got) != 0 {
		t.Fatalf("ReadHashes([]) = %d hashes, %v; want none, nil", len(got), err)
	}
}

func (s *suite) testLarge(t *testing.T) {
	st := s.storage(t)
	ctx := t.Context()
	m := s.newModel()
	mustAppend(t, st, m, nil)
	mustAppend(t, st, m, records("large", 1500))
	check(t, st, m)
	count := int64(len(m.hashes))

	// More indexes than a database takes as parameters of one query, in
	// no useful order: reversed, and every third one.
	for _, step := range []int64{1, 3} {
		var indexes []int64
		for x := count - 1; x >= 0; x -= step {
			indexes = append(indexes, x)
		}
		got, err := st.ReadHashes(ctx, indexes)
		if err != nil {
			t.Fatalf("ReadHashes of %d indexes: %v", len(indexes), err)
		}
		for i, x := range indexes {
			if got[i] != m.hashes[x] {
				t.Fatalf("ReadHashes of %d indexes: [%d] (hash %d) = %v, want %v", len(indexes), i, x, got[i], m.hashes[x])
			}
		}
	}
	mustAppend(t, st, m, records("large-after", 3))
	check(t, st, m)
}

func (s *suite) testCanceledContext(t *testing.T) {
	st := s.storage(t)
	m := s.newModel()
	mustAppend(t, st, m, nil)
	mustAppend(t, st, m, records("cancel", 5))

	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	op := m.next(t, records("cancel-more", 5))
	// Either all of it or none: a storage may or may not look at the
	// context before it commits.
	if err := op.run(ctx, st); err == nil {
		m.apply(op)
	} else {
		wantAbsent(t, st, op.recs)
	}
	check(t, st, m)
	mustAppend(t, st, m, records("cancel-after", 2))
	check(t, st, m)
}

func (s *suite) testConcurrentReaders(t *testing.T) {
	st := s.storage(t)
	ctx := t.Context()

	// Every append is known in advance, so readers can check what they
	// see against the final log.
	final := s.newModel()
	var ops []appendOp
	heads := map[int64][]byte{}
	all := records("concurrent", 400)
	for i := 0; len(all) > 0 || i == 0; i++ {
		n := 0 // the first append stores the empty tree's head
		if i > 0 {
			n = min(i%7+1, len(all))
		}
		op := final.next(t, all[:n])
		all = all[n:]
		final.apply(op)
		ops = append(ops, op)
		heads[op.head.Size] = op.head.Signed
	}

	done := make(chan struct{})
	var wg sync.WaitGroup
	const readers = 4
	iterations := make([]int, readers)
	for r := range readers {
		wg.Go(func() {
			for {
				finished := false
				select {
				case <-done:
					finished = true // one last look at the final log
				default:
				}
				iterations[r]++
				if err := readWhole(ctx, st, final, heads); err != nil {
					t.Errorf("reader %d, iteration %d: %v", r, iterations[r], err)
					return
				}
				if finished {
					return
				}
			}
		})
	}
	for _, op := range ops {
		if err := op.run(ctx, st); err != nil {
			t.Errorf("Append(%d, %d records): %v", op.oldSize, len(op.recs), err)
			break
		}
	}
	close(done)
	wg.Wait()
	check(t, st, final)
	t.Logf("%d appends; reader iterations %v", len(ops), iterations)
}

// readWhole reads st as a client of a log would and checks that it sees
// whole appends only: a head that was appended, all the records and hashes
// it covers, and no record or hash beyond it without a head that covers
// them too.
func readWhole(ctx context.Context, st sumlog.Storage, final *model, heads map[int64][]byte) error {
	h, err := st.Head(ctx)
	if err != nil {
		return fmt.Errorf("Head: %v", err)
	}
	if h.Signed == nil {
		if h.Size != 0 {
			return fmt.Errorf("Head = {Size: %d, Signed: nil}", h.Size)
		}
	} else if want, ok := heads[h.Size]; !ok || !bytes.Equal(h.Signed, want) {
		return fmt.Errorf("Head = {Size: %d, Signed: %q}: not a head that was appended", h.Size, h.Signed)
	}
	if h.Size > 0 {
		data, err := st.ReadRecords(ctx, 0, h.Size)
		if err != nil {
			return fmt.Errorf("ReadRecords(0, %d) after Head.Size %d: %v", h.Size, h.Size, err)
		}
		if err := sameRecords(data, final.recs[:h.Size], 0); err != nil {
			return fmt.Errorf("ReadRecords(0, %d): %v", h.Size, err)
		}
		last := final.recs[h.Size-1]
		if id, err := st.Lookup(ctx, last.Path, last.Version); err != nil || id != h.Size-1 {
			return fmt.Errorf("Lookup of record %d after Head.Size %d = %d, %v", h.Size-1, h.Size, id, err)
		}
	}
	count := tlog.StoredHashCount(h.Size)
	indexes := make([]int64, count)
	for i := range indexes {
		indexes[i] = int64(i)
	}
	hashes, err := st.ReadHashes(ctx, indexes)
	if err != nil {
		return fmt.Errorf("ReadHashes of the %d hashes of Head.Size %d: %v", count, h.Size, err)
	}
	if !slices.Equal(hashes, final.hashes[:count]) {
		return fmt.Errorf("ReadHashes of the %d hashes of Head.Size %d differ from those appended", count, h.Size)
	}

	// Anything of a later append that is visible now must come with the
	// rest of it.
	_, recErr := st.ReadRecords(ctx, h.Size, 1)
	_, hashErr := st.ReadHashes(ctx, []int64{count})
	if recErr == nil || hashErr == nil {
		h2, err := st.Head(ctx)
		if err != nil {
			return fmt.Errorf("Head: %v", err)
		}
		if h2.Size <= h.Size {
			return fmt.Errorf("record %d (err %v) or hash %d (err %v) is visible, but Head.Size is still %d", h.Size, recErr, count, hashErr, h2.Size)
		}
		if _, err := st.ReadRecords(ctx, h.Size, 1); err != nil {
			return fmt.Errorf("ReadRecords(%d, 1) after Head.Size %d: %v", h.Size, h2.Size, err)
		}
		if _, err := st.ReadHashes(ctx, []int64{tlog.StoredHashCount(h2.Size) - 1}); err != nil {
			return fmt.Errorf("last hash of Head.Size %d: %v", h2.Size, err)
		}
	} else if !errors.Is(recErr, fs.ErrNotExist) || !errors.Is(hashErr, fs.ErrNotExist) {
		return fmt.Errorf("reading beyond Head.Size %d: %v; %v; want errors matching fs.ErrNotExist", h.Size, recErr, hashErr)
	}
	return nil
}
