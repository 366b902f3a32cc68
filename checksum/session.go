package checksum

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"strings"
	"sync"
	"sync/atomic"

	"golang.org/x/mod/sumdb"

	"github.com/modmirror/modmirror"
)

// A session is one sumdb.Client and the sumdb.ClientOps it runs on.
//
// A sumdb.Client remembers the outcome of every lookup and tile read for
// good, failures included, so a single network error would make a module
// version (or, for a tile, a whole range of them) unverifiable until the
// process restarts. A session is therefore discarded as soon as one of its
// lookups fails, and after rotateAfter lookups to bound its memory. Nothing
// of value is lost: verified tiles and records are in the store and the
// latest tree head is in the state file, where the next session finds them.
//
// The session also records what the Client's errors do not carry: the
// Client formats errors with %v, so neither sumdb.ErrSecurity nor
// fs.ErrNotExist survives in them.
type session struct {
	v      *Verifier
	client *sumdb.Client

	// report is the first message passed to SecurityError. Once set,
	// every failed lookup of this session is treated as a security
	// error: the database has been caught lying, and a failure that
	// merely happened at the same time is better refused than trusted.
	report atomic.Pointer[string]

	// notFound holds the remote lookup paths answered "not found".
	notFound sync.Map

	// local is the first failure of the mirror's own storage (the state
	// file): the Client's errors do not say where they come from, and a
	// full disk is not the database's fault.
	local atomic.Pointer[error]

	mu      sync.Mutex
	lookups int  // lookups finished
	running int  // lookups started and not finished
	failed  bool // a lookup has failed
}

// noteLocal records a failure of local storage and returns it.
func (s *session) noteLocal(err error) error {
	s.local.CompareAndSwap(nil, &err)
	return err
}

var _ sumdb.ClientOps = (*session)(nil)

func newSession(v *Verifier) *session {
	s := &session{v: v}
	s.client = sumdb.NewClient(s)
	return s
}

// start notes a lookup begun on s. It reports whether the lookup's
// outcome may be another's: the Client shares one read of a record, or of
// a tile, among the lookups that need it at once, and keeps a failure for
// good, so a lookup begun while others run, or after one failed, can fail
// for a read it did not make.
func (s *session) start() (shared bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	shared = s.running > 0 || s.failed
	s.running++
	return shared
}

// finish records the outcome of one lookup begun by start.
func (s *session) finish(err error) {
	s.mu.Lock()
	s.running--
	s.lookups++
	if err != nil {
		s.failed = true
	}
	done := s.failed || s.lookups >= rotateAfter
	s.mu.Unlock()
	if done {
		s.v.discard(s)
	}
}

// lookupError turns an error from s.client.Lookup into one for Check.
func (s *session) lookupError(q query, err error) error {
	name := s.v.name
	// The Client's message starts with the module; keep only the reason.
	reason := strings.TrimPrefix(err.Error(), q.mod.Path+"@"+q.version+": ")
	if report := s.report.Load(); report != nil || errors.Is(err, sumdb.ErrSecurity) {
		why := " " + reason
		if report != nil {
			// The report says why, with the evidence.
			why = "\n" + strings.TrimPrefix(*report, "SECURITY ERROR\n")
		}
		return q.errorf("%w: checksum database %s is misbehaving:%s", modmirror.ErrSecurity, name, why)
	}
	if local := s.local.Load(); local != nil {
		return q.errorf("%w", *local)
	}
	if _, ok := s.notFound.Load(q.lookup); ok {
		return q.errorf("checksum database %s does not know this version (%s); it cannot be verified, so it is not served: %w", name, reason, modmirror.ErrNotInSumDB)
	}
	return q.errorf("checksum database %s: %s", name, reason)
}

// opContext returns the context for one operation of the sumdb client.
func (s *session) opContext() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), s.v.timeout)
}

// ReadRemote implements sumdb.ClientOps.
func (s *session) ReadRemote(path string) ([]byte, error) {
	ctx, cancel := s.opContext()
	defer cancel()
	data, err := s.v.remote.ReadSumDB(ctx, s.v.name, path)
	if err != nil && errors.Is(err, fs.ErrNotExist) && strings.HasPrefix(path, "/lookup/") {
		s.notFound.Store(path, true)
	}
	return data, err
}

// ReadConfig implements sumdb.ClientOps.
func (s *session) ReadConfig(file string) ([]byte, error) {
	switch file {
	case "key":
		return []byte(s.v.key), nil
	case s.v.name + "/latest":
		ctx, cancel := s.opContext()
		defer cancel()
		data, err := s.v.heads.ReadHead(ctx, s.v.name)
		if err != nil {
			return nil, s.noteLocal(modmirror.StorageError("reading the verified tree head of", s.v.name, err))
		}
		return data, nil
	}
	return nil, fmt.Errorf("checksum: unknown config file %q", file)
}

// WriteConfig implements sumdb.ClientOps. The client calls it only with a
// tree head it has verified as a successor of old.
func (s *session) WriteConfig(file string, old, new []byte) error {
	if file != s.v.name+"/latest" {
		return fmt.Errorf("checksum: cannot write config file %q", file)
	}
	ctx, cancel := s.opContext()
	defer cancel()
	err := s.v.heads.SwapHead(ctx, s.v.name, old, new)
	if err != nil && !errors.Is(err, sumdb.ErrWriteConflict) {
		return s.noteLocal(modmirror.StorageError("writing the verified tree head of", s.v.name, err))
	}
	return err
}

// ReadCache implements sumdb.ClientOps. What it returns is trusted without
// checks, which is why only verified data is written to the store's
// sumdb/<name>/ namespace.
func (s *session) ReadCache(file string) ([]byte, error) {
	rest, ok := strings.CutPrefix(file, s.v.name+"/")
	if !ok {
		return nil, fs.ErrNotExist
	}
	ctx, cancel := s.opContext()
	defer cancel()
	return s.v.readStore(ctx, rest)
}

// WriteCache implements sumdb.ClientOps. The client calls it only with
// tiles and records it has verified.
func (s *session) WriteCache(file string, data []byte) {
	rest, ok := strings.CutPrefix(file, s.v.name+"/")
	if !ok {
		return
	}
	s.v.writeLater(rest, data)
}

// Log implements sumdb.ClientOps.
func (s *session) Log(msg string) {
	s.v.log.Info(msg)
}

// SecurityError implements sumdb.ClientOps. The client returns an error
// after calling it; the message is kept so the lookup's caller can tell
// that error apart and report it.
func (s *session) SecurityError(msg string) {
	s.v.log.Error("checksum database misbehaving", "report", msg)
	s.report.CompareAndSwap(nil, &msg)
}

// maxCacheFile bounds what is read from the store's sumdb namespace: a tile
// is 8 KiB, a lookup record far less.
const maxCacheFile = 1 << 20

// readStore reads the database file (such as "tile/8/0/001") from the store.
func (v *Verifier) readStore(ctx context.Context, file string) ([]byte, error) {
	v.pendingMu.Lock()
	data, ok := v.pending[file]
	v.pendingMu.Unlock()
	if ok {
		return data, nil
	}
	f, err := v.store.Open(ctx, modmirror.SumDBKey(v.name, file))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err = io.ReadAll(io.LimitReader(f, maxCacheFile+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxCacheFile {
		return nil, fmt.Errorf("checksum: stored %s is too large", file)
	}
	return data, nil
}

// writeLater stores the verified database file in the background, so that
// the fill waiting for the verification does not wait for the store too
// (two PUTs of about 3 ms each on S3 for every new module version). Until
// it is stored, readStore finds it in memory: a client's lookup right after
// the fill (the go command's own check) is still answered without the
// remote.
//
// It is called by a lookup in progress, which a fill may be waiting for,
// so it waits only when maxQueuedWrites files are not yet stored; at most
// maxWriters of them are written at once, and the rest wait for a writer
// in their own goroutines.
func (v *Verifier) writeLater(file string, data []byte) {
	data = bytes.Clone(data)
	v.queued <- struct{}{}
	v.pendingMu.Lock()
	v.pending[file] = data
	v.pendingMu.Unlock()
	v.background.Go(func() {
		defer func() { <-v.queued }()
		v.writers <- struct{}{}
		defer func() { <-v.writers }()
		ctx, cancel := context.WithTimeout(context.Background(), v.timeout)
		defer cancel()
		v.writeStore(ctx, file, data)
		v.pendingMu.Lock()
		delete(v.pending, file)
		v.pendingMu.Unlock()
	})
}

// maxWriters bounds the store writes writeLater runs at once.
const maxWriters = 16

// maxQueuedWrites bounds the files writeLater holds that are not stored
// yet, tiles of 8 KiB at most. A cold build of a large module graph
// verifies hundreds of new records and tiles in seconds, while a disk
// busy with the zips being filled takes milliseconds a file: with the
// lookups waiting once maxWriters files were queued, as they did, a cold
// "go mod download all" of bench/testdata/k8s had 38 of 325 writes wait,
// 236 ms in all, each holding up a lookup (docs/BENCHMARKS.md).
const maxQueuedWrites = 512

// writeStore stores the verified database file. A file that is already
// there is left alone: verified files never change. Failures only cost a
// later download, so they are logged, not returned.
func (v *Verifier) writeStore(ctx context.Context, file string, data []byte) {
	err := v.store.Create(ctx, modmirror.SumDBKey(v.name, file), bytes.NewReader(data))
	if err != nil && !errors.Is(err, fs.ErrExist) {
		v.log.Warn("caching verified file", "file", file, "err", err)
	}
}
