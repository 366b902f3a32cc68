// Package sumlog is modmirror's own checksum database: an append-only,
// signed transparent log of go.sum lines that the go command uses as its
// GOSUMDB, so that private modules get the same tamper evidence as public
// ones.
//
// # The log
//
// A [Log] is a Merkle tree of records (golang.org/x/mod/sumdb/tlog), one
// per module version, each holding that version's go.sum lines. It is served
// with golang.org/x/mod/sumdb.Server over the Log's own ServerOps, in tiles of
// height 8, so the go command checks every answer against the signed tree
// head it saw before: a record that changes, disappears or moves makes the go
// command stop with SECURITY ERROR.
//
// # Appends
//
// Records are appended in batches: every record waiting when a batch starts
// goes into one transaction of the [Storage], with its stored hashes and one
// new signed head, and one sync. [Log.Record] returns only once the record is
// durable, and a lookup is answered only after that. A module version is
// recorded once; a second, different record for it is refused as a security
// error.
//
// # Trust in the storage
//
// The signer key never leaves the process, and the storage is checked where
// it is cheap: at [Open] the stored hashes must give the tree hash that the
// stored head signs, and every record read is hashed and compared with its
// stored leaf hash before it is served. A storage changed behind the log's
// back is reported, not served.
package sumlog

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"golang.org/x/mod/module"
	"golang.org/x/mod/sumdb"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
	"golang.org/x/sync/singleflight"

	"github.com/modmirror/modmirror"
)

// Config configures a [Log].
type Config struct {
	// Storage keeps the log. Required.
	Storage Storage

	// SignerKey is the log's signer key, as written by GenerateKey. The
	// log's name is the key's name. Required.
	SignerKey string

	// Fill returns the go.sum lines to record for a module version that a
	// lookup asks for and the log does not have yet: the mirror fetches and
	// verifies the version, then answers. It returns an error matching
	// fs.ErrNotExist for a version that does not exist. Nil means that
	// such lookups are not found. Fill may be called concurrently, but once
	// at a time per module version.
	Fill func(ctx context.Context, path, version string) ([]byte, error)

	// FillTimeout bounds one call of Fill; zero means ten minutes.
	FillTimeout time.Duration

	// MaxBatch bounds the records appended in one transaction; zero means
	// 4096.
	MaxBatch int

	// CacheEntries bounds each of the in-memory caches of ids, records
	// and tiles (about twice this many entries each); zero means 65536, a
	// negative value turns them off.
	CacheEntries int

	// HeadFile, if not empty, is a file outside the storage where the
	// Log keeps the latest head it served. At Open the storage must
	// contain that head's tree, or Open fails with a security error: a
	// database restored from an old backup, or replaced by another log
	// signed with the same key, is refused instead of served.
	HeadFile string

	// Logger receives security errors and failed appends. Nil discards.
	Logger *slog.Logger
}

// Log is a checksum database log. It is safe for concurrent use.
type Log struct {
	storage  Storage
	name     string
	vkey     string
	signer   note.Signer
	verifier note.Verifiers
	fill     func(ctx context.Context, path, version string) ([]byte, error)
	fillTime time.Duration
	maxBatch int
	log      *slog.Logger
	server   *sumdb.Server

	head atomic.Pointer[Head]

	queue     chan *pending
	closing   chan struct{}
	stopped   chan struct{} // closed when appendLoop has returned
	witness   *witness      // nil without Config.HeadFile
	closeOnce sync.Once
	appender  sync.WaitGroup

	fills   singleflight.Group
	ids     *cache[module.Version, int64]
	records *cache[int64, []byte]     // records whose hash was checked
	tiles   *cache[tlog.Tile, []byte] // full hash tiles
	data    *cache[int64, []byte]     // bodies of full data tiles, by tile number

	batches  atomic.Int64
	appended atomic.Int64
}

// ErrClosed is returned by Record after Close.
var ErrClosed = errors.New("sumlog: log closed")

// A pending record waits in the queue for its batch.
type pending struct {
	rec  Record
	done chan result
}

type result struct {
	id  int64
	err error
}

// Open opens the log kept in cfg.Storage, creating an empty one if the
// storage holds none, and checks that the storage agrees with its signed
// head.
func Open(ctx context.Context, cfg Config) (*Log, error) {
	if cfg.Storage == nil {
		return nil, errors.New("sumlog: no storage")
	}
	signer, err := note.NewSigner(strings.TrimSpace(cfg.SignerKey))
	if err != nil {
		return nil, fmt.Errorf("sumlog: signer key: %w", err)
	}
	if err := checkName(signer.Name()); err != nil {
		return nil, err
	}
	vkey, err := VerifierKey(cfg.SignerKey)
	if err != nil {
		return nil, err
	}
	verifier, err := note.NewVerifier(vkey)
	if err != nil {
		return nil, err
	}
	l := &Log{
		storage:  cfg.Storage,
		name:     signer.Name(),
		vkey:     vkey,
		signer:   signer,
		verifier: note.VerifierList(verifier),
		fill:     cfg.Fill,
		fillTime: cfg.FillTimeout,
		maxBatch: cfg.MaxBatch,
		log:      cfg.Logger,
		queue:    make(chan *pending, 1024),
		closing:  make(chan struct{}),
		stopped:  make(chan struct{}),
	}
	if l.fillTime <= 0 {
		l.fillTime = 10 * time.Minute
	}
	if l.maxBatch <= 0 {
		l.maxBatch = 4096
	}
	if l.log == nil {
		l.log = slog.New(slog.DiscardHandler)
	}
	l.log = l.log.With("sumdb", l.name)
	entries := cfg.CacheEntries
	if entries == 0 {
		entries = 65536
	}
	l.ids = newCache[module.Version, int64](entries)
	l.records = newCache[int64, []byte](entries)
	l.tiles = newCache[tlog.Tile, []byte](max(entries/64, 16))
	l.data = newCache[int64, []byte](max(entries/256, 16))
	l.server = sumdb.NewServer(ops{l})

	head, err := l.readHead(ctx)
	if err != nil {
		return nil, err
	}
	if head.Signed == nil {
		// A new log: its first head signs the empty tree, so that
		// clients have something to start from.
		empty, err := tlog.TreeHash(0, hashReader{ctx, l.storage})
		if err != nil {
			return nil, err
		}
		head = Head{Size: 0}
		head.Signed, err = l.sign(0, empty)
		if err != nil {
			return nil, err
		}
		if err := l.storage.Append(ctx, 0, nil, nil, head); err != nil && !errors.Is(err, ErrConflict) {
			return nil, fmt.Errorf("sumlog: creating the log: %w", err)
		}
		if head, err = l.readHead(ctx); err != nil {
			return nil, err
		}
	}
	if cfg.HeadFile != "" {
		l.witness = &witness{file: cfg.HeadFile}
		if err := l.witness.check(ctx, l, head); err != nil {
			return nil, err
		}
		l.witness.record(l, &head)
	}
	l.head.Store(&head)
	l.appender.Add(1)
	go l.appendLoop()
	return l, nil
}

// readHead reads the stored head and checks it: the signature must be this
// log's, and the stored hashes must give the tree hash it signs.
func (l *Log) readHead(ctx context.Context) (Head, error) {
	head, err := l.storage.Head(ctx)
	if err != nil {
		return Head{}, fmt.Errorf("sumlog: reading the head: %w", err)
	}
	if head.Signed == nil {
		return head, nil
	}
	tree, err := l.openHead(head.Signed)
	if err != nil {
		return Head{}, err
	}
	if tree.N != head.Size {
		return Head{}, fmt.Errorf("%w: sumlog %s: the stored head signs %d records but is stored as %d", modmirror.ErrSecurity, l.name, tree.N, head.Size)
	}
	hash, err := tlog.TreeHash(tree.N, hashReader{ctx, l.storage})
	if err != nil {
		return Head{}, fmt.Errorf("sumlog %s: checking the stored hashes: %w", l.name, err)
	}
	if hash != tree.Hash {
		l.log.Error("SECURITY ERROR: the log's storage does not match its signed head", "size", tree.N, "signed", tree.Hash, "stored", hash)
		return Head{}, fmt.Errorf("%w: sumlog %s: the stored hashes give tree hash %v for %d records, but the signed head says %v: the storage was changed", modmirror.ErrSecurity, l.name, hash, tree.N, tree.Hash)
	}
	return head, nil
}

// openHead checks the signature of a signed head and parses it.
func (l *Log) openHead(signed []byte) (tlog.Tree, error) {
	n, err := note.Open(signed, l.verifier)
	if err != nil {
		return tlog.Tree{}, fmt.Errorf("%w: sumlog %s: the stored head is not signed by this log's key: %w", modmirror.ErrSecurity, l.name, err)
	}
	tree, err := tlog.ParseTree([]byte(n.Text))
	if err != nil {
		return tlog.Tree{}, fmt.Errorf("sumlog %s: stored head: %w", l.name, err)
	}
	return tree, nil
}

func (l *Log) sign(n int64, hash tlog.Hash) ([]byte, error) {
	return note.Sign(&note.Note{Text: string(tlog.FormatTree(tlog.Tree{N: n, Hash: hash}))}, l.signer)
}

// Name returns the log's name, the name in its keys.
func (l *Log) Name() string { return l.name }

// VerifierKey returns the log's verifier key: the GOSUMDB setting for it.
func (l *Log) VerifierKey() string { return l.vkey }

// Head returns the latest signed head.
func (l *Log) Head() Head { return *l.head.Load() }

// Stats counts what a Log did since Open.
type Stats struct {
	Size     int64 // records in the log
	Batches  int64 // appends that added records
	Appended int64 // records appended
}

// Stats returns the log's counters.
func (l *Log) Stats() Stats {
	return Stats{Size: l.head.Load().Size, Batches: l.batches.Load(), Appended: l.appended.Load()}
}

// Close stops appending: records still queued are appended first. It does
// not close the storage.
func (l *Log) Close() error {
	l.closeOnce.Do(func() { close(l.closing) })
	l.appender.Wait()
	l.witness.wait()
	return nil
}

// Record records the go.sum lines of a module version, returning its id
// once the record is durable. Recording a version again with the same lines
// returns the first id; with other lines, it returns an error wrapping
// modmirror.ErrSecurity, and the log keeps the first record.
func (l *Log) Record(ctx context.Context, path, version string, data []byte) (int64, error) {
	if err := CheckRecord(path, version, data); err != nil {
		return 0, err
	}
	mv := module.Version{Path: path, Version: version}
	if id, err := l.lookup(ctx, mv); err == nil {
		return id, l.sameRecord(ctx, mv, id, data)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return 0, err
	}
	// After Close, the queue still has room but no appender: check
	// closing first, as a select between the two would pick at random.
	select {
	case <-l.closing:
		return 0, ErrClosed
	default:
	}
	p := &pending{rec: Record{Path: path, Version: version, Data: data}, done: make(chan result, 1)}
	select {
	case l.queue <- p:
	case <-l.closing:
		return 0, ErrClosed
	case <-ctx.Done():
		return 0, context.Cause(ctx)
	}
	select {
	case res := <-p.done:
		return res.id, res.err
	case <-l.stopped:
		// The appender answers every record it takes before it stops;
		// one queued after its last look at the queue is never taken.
		select {
		case res := <-p.done:
			return res.id, res.err
		default:
			return 0, ErrClosed
		}
	case <-ctx.Done():
		// The record is appended all the same.
		return 0, context.Cause(ctx)
	}
}

// sameRecord checks that the record id of mv holds data.
// Recorded returns the record of a module version (its go.sum lines), or
// an error matching fs.ErrNotExist if the log has none. It records
// nothing.
func (l *Log) Recorded(ctx context.Context, path, version string) ([]byte, error) {
	id, err := l.lookup(ctx, module.Version{Path: path, Version: version})
	if err != nil {
		return nil, err
	}
	recs, err := l.readRecords(ctx, id, 1)
	if err != nil {
		return nil, err
	}
	return recs[0], nil
}

func (l *Log) sameRecord(ctx context.Context, mv module.Version, id int64, data []byte) error {
	recs, err := l.readRecords(ctx, id, 1)
	if err != nil {
		return err
	}
	if !bytes.Equal(recs[0], data) {
		l.log.Error("SECURITY ERROR: a module version was offered with other hashes than it is recorded with; keeping the record",
			"module", mv.Path, "version", mv.Version, "id", id, "recorded", string(recs[0]), "offered", string(data))
		return fmt.Errorf("%w: sumlog %s: %s is recorded (record %d) with other hashes:\n%s", modmirror.ErrSecurity, l.name, mv, id, recs[0])
	}
	return nil
}

// lookup returns the id of mv's record.
func (l *Log) lookup(ctx context.Context, mv module.Version) (int64, error) {
	if id, ok := l.ids.get(mv); ok {
		return id, nil
	}
	id, err := l.storage.Lookup(ctx, mv.Path, mv.Version)
	if err != nil {
		return 0, err
	}
	// A record appended by another process since this one last read the
	// head is served once the head covers it.
	if ok, err := l.covers(ctx, id+1); err != nil {
		return 0, err
	} else if !ok {
		return 0, fmt.Errorf("sumlog %s: record %d of %s is beyond the signed head", l.name, id, mv)
	}
	l.ids.put(mv, id)
	return id, nil
}

// reload reads the head again, after another writer appended.
func (l *Log) reload(ctx context.Context) error {
	head, err := l.readHead(ctx)
	if err != nil {
		return err
	}
	l.advance(&head)
	return nil
}

// covers reports whether the signed tree has at least n records. Other
// writers (replicas sharing the storage) may have signed a larger tree
// than this process knows, which a client that saw it asks about: the
// head is read again, and checked, before the answer is no; a head that
// fails the checks is an error, never a mere "not there".
func (l *Log) covers(ctx context.Context, n int64) (bool, error) {
	if n <= l.head.Load().Size {
		return true, nil
	}
	if err := l.reload(ctx); err != nil {
		return false, err
	}
	return n <= l.head.Load().Size, nil
}

// advance makes h the latest head, unless the Log knows one as large
// already: heads only grow.
func (l *Log) advance(h *Head) {
	for {
		cur := l.head.Load()
		if h.Size <= cur.Size || l.head.CompareAndSwap(cur, h) {
			return
		}
	}
}

// Ensure makes sure mv is recorded, filling it with Config.Fill if it is
// not, and returns its id. Concurrent calls for one version share one fill.
func (l *Log) Ensure(ctx context.Context, mv module.Version) (int64, error) {
	if err := module.Check(mv.Path, mv.Version); err != nil || module.CanonicalVersion(mv.Version) != mv.Version {
		return 0, notFound(mv, "not a module version")
	}
	id, err := l.lookup(ctx, mv)
	if err == nil || !errors.Is(err, fs.ErrNotExist) {
		return id, err
	}
	if l.fill == nil {
		return 0, notFound(mv, "not recorded")
	}
	ch := l.fills.DoChan(mv.String(), func() (any, error) {
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), l.fillTime)
		defer cancel()
		// A fill that ended between the lookup above and this call
		// recorded mv already: look again, or mv is filled twice.
		if id, err := l.lookup(fctx, mv); err == nil || !errors.Is(err, fs.ErrNotExist) {
			return id, err
		}
		data, err := l.fill(fctx, mv.Path, mv.Version)
		if err != nil {
			return int64(0), err
		}
		return l.Record(fctx, mv.Path, mv.Version, data)
	})
	select {
	case res := <-ch:
		if res.Err != nil {
			return 0, res.Err
		}
		return res.Val.(int64), nil
	case <-ctx.Done():
		return 0, context.Cause(ctx)
	}
}

// notFound returns an error that sumdb.Server reports as 404: it checks with
// os.IsNotExist, which unwraps only *fs.PathError.
func notFound(mv module.Version, why string) error {
	return &fs.PathError{Op: "lookup", Path: mv.String() + ": " + why, Err: fs.ErrNotExist}
}

// appendLoop appends queued records in batches until Close.
func (l *Log) appendLoop() {
	defer l.appender.Done()
	defer close(l.stopped)
	var batch []*pending
	for {
		select {
		case p := <-l.queue:
			batch = l.drain(append(batch[:0], p))
			l.commit(batch)
		case <-l.closing:
			// Append what is still queued, then stop.
			for {
				if batch = l.drain(batch[:0]); len(batch) == 0 {
					return
				}
				l.commit(batch)
			}
		}
	}
}

// drain adds to batch what is queued, without waiting, up to MaxBatch.
func (l *Log) drain(batch []*pending) []*pending {
	for len(batch) < l.maxBatch {
		select {
		case p := <-l.queue:
			batch = append(batch, p)
		default:
			return batch
		}
	}
	return batch
}

// commit appends one batch and answers everyone waiting in it.
func (l *Log) commit(batch []*pending) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	// One record per module version: a version queued twice (two
	// fills racing) shares one id, unless its lines differ.
	var recs []Record
	var waiters [][]*pending
	index := map[module.Version]int{}
	for _, p := range batch {
		mv := module.Version{Path: p.rec.Path, Version: p.rec.Version}
		if i, ok := index[mv]; ok {
			if !bytes.Equal(recs[i].Data, p.rec.Data) {
				p.done <- result{err: fmt.Errorf("%w: sumlog %s: %s offered twice with different hashes", modmirror.ErrSecurity, l.name, mv)}
				continue
			}
			waiters[i] = append(waiters[i], p)
			continue
		}
		index[mv] = len(recs)
		recs = append(recs, p.rec)
		waiters = append(waiters, []*pending{p})
	}

	var err error
	for stuck := 0; ; {
		var size int64
		before := l.head.Load().Size
		size, err = l.appendBatch(ctx, recs)
		if err == nil {
			for i := range recs {
				for _, p := range waiters[i] {
					p.done <- result{id: size + int64(i)}
				}
			}
			return
		}
		if !errors.Is(err, ErrConflict) {
			break
		}
		// Another writer appended, perhaps some of these versions: read
		// the head again, answer the versions recorded meanwhile, and
		// try again with the rest.
		if err = l.reload(ctx); err != nil {
			break
		}
		keep := 0
		for i, rec := range recs {
			mv := module.Version{Path: rec.Path, Version: rec.Version}
			id, lerr := l.lookup(ctx, mv)
			if lerr == nil {
				lerr = l.sameRecord(ctx, mv, id, rec.Data)
			}
			if lerr != nil && errors.Is(lerr, fs.ErrNotExist) {
				recs[keep], waiters[keep] = rec, waiters[i]
				keep++
				continue
			}
			for _, p := range waiters[i] {
				p.done <- result{id: id, err: lerr}
			}
		}
		// Another writer that keeps appending makes every try conflict:
		// try again as long as it does (ctx bounds the whole), but
		// not forever when a conflict changes nothing.
		progress := l.head.Load().Size > before || keep < len(recs)
		recs, waiters = recs[:keep], waiters[:keep]
		if keep == 0 {
			return
		}
		if !progress {
			if stuck++; stuck == 3 {
				break
			}
		}
	}
	l.log.Error("append failed", "records", len(recs), "err", err)
	for i := range recs {
		for _, p := range waiters[i] {
			p.done <- result{err: fmt.Errorf("sumlog %s: appending: %w", l.name, err)}
		}
	}
}

// appendBatch appends recs after the current head and returns the id of
// the first.
func (l *Log) appendBatch(ctx context.Context, recs []Record) (int64, error) {
	head := l.head.Load()
	n := head.Size
	hr := &batchHashReader{ctx: ctx, storage: l.storage, start: tlog.StoredHashCount(n)}
	for i, rec := range recs {
		hashes, err := tlog.StoredHashes(n+int64(i), rec.Data, hr)
		if err != nil {
			return 0, err
		}
		hr.added = append(hr.added, hashes...)
	}
	size := n + int64(len(recs))
	hash, err := tlog.TreeHash(size, hr)
	if err != nil {
		return 0, err
	}
	signed, err := l.sign(size, hash)
	if err != nil {
		return 0, err
	}
	next := &Head{Size: size, Signed: signed}
	if err := l.storage.Append(ctx, n, recs, hr.added, *next); err != nil {
		return 0, err
	}
	// The append is durable. A lookup that found one of these records
	// in the storage before this line may have installed this head (or,
	// with other writers, a later one) already: that is no failure.
	l.advance(next)
	l.witness.record(l, next)
	for i, rec := range recs {
		l.ids.put(module.Version{Path: rec.Path, Version: rec.Version}, n+int64(i))
	}
	l.batches.Add(1)
	l.appended.Add(int64(len(recs)))
	return n, nil
}

// readRecords reads records id..id+n-1 and checks each against its stored
// leaf hash, so that a record changed in the storage is never served.
func (l *Log) readRecords(ctx context.Context, id, n int64) ([][]byte, error) {
	if n == 1 {
		if data, ok := l.records.get(id); ok {
			return [][]byte{data}, nil
		}
	}
	ok := id >= 0 && n >= 0
	if ok {
		var err error
		if ok, err = l.covers(ctx, id+n); err != nil {
			return nil, err
		}
	}
	if !ok {
		return nil, RecordsNotExist(id, n)
	}
	recs, err := l.storage.ReadRecords(ctx, id, n)
	if err != nil {
		return nil, err
	}
	indexes := make([]int64, n)
	for i := range indexes {
		indexes[i] = tlog.StoredHashIndex(0, id+int64(i))
	}
	hashes, err := l.storage.ReadHashes(ctx, indexes)
	if err != nil {
		return nil, err
	}
	for i, data := range recs {
		if tlog.RecordHash(data) != hashes[i] {
			l.log.Error("SECURITY ERROR: a stored record does not match its hash in the log; not serving it", "id", id+int64(i))
			return nil, fmt.Errorf("%w: sumlog %s: record %d in storage does not match the log: the storage was changed", modmirror.ErrSecurity, l.name, id+int64(i))
		}
	}
	if n == 1 {
		l.records.put(id, recs[0])
	}
	return recs, nil
}

// CheckRecord checks that data is a record for path@version that the go
// command accepts: one or more go.sum lines for that version (or its
// go.mod), each "path version hash" and ending in a newline.
func CheckRecord(path, version string, data []byte) error {
	if err := module.Check(path, version); err != nil {
		return fmt.Errorf("%w: sumlog: %w", modmirror.ErrInvalid, err)
	}
	if module.CanonicalVersion(version) != version {
		return fmt.Errorf("%w: sumlog: %s@%s: version is not canonical", modmirror.ErrInvalid, path, version)
	}
	bad := func(why string) error {
		return fmt.Errorf("%w: sumlog: record for %s@%s: %s", modmirror.ErrInvalid, path, version, why)
	}
	if len(data) == 0 || data[len(data)-1] != '\n' {
		return bad("it must be go.sum lines ending in a newline")
	}
	if !utf8.Valid(data) {
		return bad("not UTF-8")
	}
	for _, line := range strings.Split(string(data[:len(data)-1]), "\n") {
		f := strings.Split(line, " ")
		if len(f) != 3 || f[0] != path || (f[1] != version && f[1] != version+"/go.mod") {
			return bad(fmt.Sprintf("line %q is not a go.sum line for this version", line))
		}
		alg, hash, ok := strings.Cut(f[2], ":")
		if !ok || alg == "" || hash == "" || strings.ContainsFunc(f[2], func(r rune) bool { return r < 0x21 || r > 0x7e }) {
			return bad(fmt.Sprintf("line %q has a malformed hash", line))
		}
	}
	return nil
}

// hashReader reads stored hashes from the storage.
type hashReader struct {
	ctx     context.Context
	storage Storage
}

func (r hashReader) ReadHashes(indexes []int64) ([]tlog.Hash, error) {
	return r.storage.ReadHashes(r.ctx, indexes)
}

// batchHashReader reads stored hashes from the storage and from the batch
// being appended, whose hashes start at index start.
type batchHashReader struct {
	ctx     context.Context
	storage Storage
	start   int64
	added   []tlog.Hash
}

func (r *batchHashReader) ReadHashes(indexes []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(indexes))
	var old []int64
	for i, x := range indexes {
		if x >= r.start {
			if x-r.start >= int64(len(r.added)) {
				return nil, fmt.Errorf("sumlog: hash %d is not computed yet", x)
			}
			out[i] = r.added[x-r.start]
		} else {
			old = append(old, x)
		}
	}
	if len(old) == 0 {
		return out, nil
	}
	hashes, err := r.storage.ReadHashes(r.ctx, old)
	if err != nil {
		return nil, err
	}
	j := 0
	for i, x := range indexes {
		if x < r.start {
			out[i] = hashes[j]
			j++
		}
	}
	return out, nil
}

// Ping implements modmirror.Pinger, for its storage.
func (l *Log) Ping(ctx context.Context) error {
	if p, ok := l.storage.(modmirror.Pinger); ok {
		return p.Ping(ctx)
	}
	return nil
}
