package checksum

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"strings"
	"sync"
	"time"

	"golang.org/x/mod/module"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/modmirror/modmirror"
)

// A Remote reads files of a checksum database. The path starts with "/":
// "/lookup/<escaped path>@<escaped version>", "/tile/8/0/001", "/latest",
// "/supported". An upstream proxy implements it by fetching
// <proxy>/sumdb/<name><path>. Errors that mean the file does not exist
// (404 and 410) must match fs.ErrNotExist. Implementations must be safe for
// concurrent use.
type Remote interface {
	ReadSumDB(ctx context.Context, name, path string) ([]byte, error)
}

// Config configures a [Verifier].
type Config struct {
	// Name is the name of the checksum database, such as "sum.golang.org".
	// It must match the name in Key; if empty, it is taken from Key.
	Name string

	// Key is the database's verifier key, such as
	// "sum.golang.org+033de0ae+Ac4zctda0e5eza+HJyk9SxEdh+s3Ro18akBn8nQSoZMO".
	Key string

	// Remote is where the database's files are read from.
	Remote Remote

	// Store caches verified tiles and lookup records under
	// modmirror.SumDBKey(Name, file).
	Store modmirror.Store

	// Heads keeps the latest verified signed tree head; replicas share
	// one. If nil, it is FileHeads(StateDir).
	Heads HeadStore

	// StateDir holds the latest verified signed tree head, in the file
	// <StateDir>/<Name>/latest, when Heads is nil. It must not be shared
	// between processes.
	StateDir string

	// Logger receives security errors (at error level) and cache write
	// failures. If nil, slog.Default() is used.
	Logger *slog.Logger

	// Timeout bounds each remote or store read made for the sumdb client;
	// zero means 30 seconds. See [Verifier.Check] for why reads do not use
	// the caller's context.
	Timeout time.Duration
}

// rotateAfter is how many lookups one sumdb.Client serves before it is
// replaced: its caches of records and tiles never shrink, and a mirror runs
// for months.
const rotateAfter = 10000

// A Verifier checks go.sum lines against a checksum database, verifying
// everything the database says with golang.org/x/mod/sumdb. It implements
// modmirror.Checker and is safe for concurrent use.
type Verifier struct {
	name      string
	key       string
	verifiers note.Verifiers
	remote    Remote
	store     modmirror.Store
	heads     HeadStore
	log       *slog.Logger
	timeout   time.Duration

	mu  sync.Mutex
	cur *session // the sumdb.Client lookups go to; nil means make a new one

	background sync.WaitGroup // lookups started by Prefetch or left by Check, and writeLater's writes
	prefetches chan struct{}  // a slot per Prefetch lookup running
	writers    chan struct{}  // a token for each writeLater write running
	queued     chan struct{}  // a token for each writeLater write not done
	pendingMu  sync.Mutex
	pending    map[string][]byte // verified files writeLater has not stored yet
}

var _ modmirror.Checker = (*Verifier)(nil)

// NewVerifier returns a Verifier for the database described by cfg.
func NewVerifier(cfg Config) (*Verifier, error) {
	nv, err := note.NewVerifier(strings.TrimSpace(cfg.Key))
	if err != nil {
		return nil, fmt.Errorf("checksum: verifier key: %w", err)
	}
	name := cfg.Name
	if name == "" {
		name = nv.Name()
	}
	switch {
	case name != nv.Name():
		return nil, fmt.Errorf("checksum: key is for %s, not %s", nv.Name(), name)
	case !fs.ValidPath(name) || strings.Contains(name, `\`):
		// The name becomes part of store names and file paths.
		return nil, fmt.Errorf("checksum: unusable database name %q", name)
	case cfg.Remote == nil || cfg.Store == nil:
		return nil, errors.New("checksum: Remote and Store are required")
	case cfg.StateDir == "" && cfg.Heads == nil:
		return nil, errors.New("checksum: Heads or StateDir is required")
	}
	v := &Verifier{
		name:       name,
		key:        strings.TrimSpace(cfg.Key),
		verifiers:  note.VerifierList(nv),
		remote:     cfg.Remote,
		store:      cfg.Store,
		heads:      cfg.Heads,
		log:        cfg.Logger,
		timeout:    cfg.Timeout,
		writers:    make(chan struct{}, maxWriters),
		queued:     make(chan struct{}, maxQueuedWrites),
		prefetches: make(chan struct{}, maxPrefetches),
		pending:    make(map[string][]byte),
	}
	if v.log == nil {
		v.log = slog.Default()
	}
	v.log = v.log.With("sumdb", name)
	if v.timeout <= 0 {
		v.timeout = 30 * time.Second
	}
	if v.heads == nil {
		v.heads = FileHeads(cfg.StateDir)
	}
	return v, nil
}

// Name returns the name of the checksum database.
func (v *Verifier) Name() string { return v.name }

// Check implements modmirror.Checker. It reports an error wrapping
// modmirror.ErrSecurity if the database lists a different hash for the
// module version, or if the database itself misbehaves (a forked or
// rolled-back log, a bad proof). A version the database does not know is an
// error too, but one that does not match fs.ErrNotExist: it cannot be
// verified, so it must not be served.
//
// The sumdb client's operations take no context, and one remote read may
// serve several concurrent Checks of the same module, so reads run under
// a context of their own, bounded by Config.Timeout, rather than under ctx.
// Check stops waiting, and returns ctx's error, as soon as ctx is done; the
// lookup it started finishes in the background and its verified results are
// cached for the next caller.
func (v *Verifier) Check(ctx context.Context, path, version, hash string) error {
	q, err := newQuery(path, version)
	if err != nil {
		return err
	}
	alg, _, ok := strings.Cut(hash, ":")
	if !ok {
		return q.errorf("%w: malformed hash %q", modmirror.ErrInvalid, hash)
	}

	lines, err := v.lookup(ctx, q)
	if err != nil {
		return err
	}

	have := path + " " + version + " " + hash
	for _, line := range lines {
		if line == have {
			return nil
		}
		want, ok := strings.CutPrefix(line, path+" "+version+" ")
		if ok && strings.HasPrefix(want, alg+":") {
			return q.errorf("%w", &modmirror.MismatchError{DB: v.name, Path: path, Version: version, Got: hash, Want: want})
		}
	}
	// An authenticated record without a hash of this kind: nothing to
	// compare with, so nothing to vouch for.
	return q.errorf("checksum database %s lists no %s hash; refusing unverified content", v.name, alg)
}

// Lines returns the go.sum lines that the checksum database lists for a
// module version, authenticated as for Check: the module's line, then its
// go.mod's, as the database's record has them. A version the database does
// not know is an error matching neither fs.ErrNotExist nor ErrSecurity, as
// for Check.
func (v *Verifier) Lines(ctx context.Context, path, version string) ([]string, error) {
	var lines []string
	for _, vers := range []string{version, version + "/go.mod"} {
		q, err := newQuery(path, vers)
		if err != nil {
			return nil, err
		}
		l, err := v.lookup(ctx, q)
		if err != nil {
			return nil, err
		}
		lines = append(lines, l...)
	}
	if len(lines) == 0 {
		return nil, fmt.Errorf("checksum: %s@%s: checksum database %s lists no hashes", path, version, v.name)
	}
	return lines, nil
}

// lookup returns the authenticated lines for q. The sumdb client's
// operations take no context (see Check), so the lookup runs in the
// background and lookup stops waiting when ctx is done.
//
// A lookup that fails for a reason that may pass (a remote read failed or
// timed out) after sharing its session with other lookups is made once more
// in a new session: the failure may be of a read another lookup started,
// perhaps long before, and not this lookup's own. It is not made again
// when ctx leaves less than half the time of a read (Config.Timeout): that
// read would most likely go on after ctx ends, waited for by no one, and
// the next lookups would join it.
func (v *Verifier) lookup(ctx context.Context, q query) ([]string, error) {
	type result struct {
		lines []string
		err   error
	}
	for again := false; ; again = true {
		if err := context.Cause(ctx); err != nil {
			return nil, q.errorf("%w", err)
		}
		s := v.session()
		shared := s.start()
		done := make(chan result, 1)
		v.background.Go(func() {
			lines, err := s.client.Lookup(q.mod.Path, q.version)
			s.finish(err)
			done <- result{lines, err}
		})
		select {
		case res := <-done:
			if res.err == nil {
				return res.lines, nil
			}
			err := s.lookupError(q, res.err)
			if again || !shared || !retryable(err) || !v.timeLeft(ctx) {
				return nil, err
			}
			v.log.Debug("a lookup failed while sharing its session; looking up again in a new one", "err", err)
		case <-ctx.Done():
			return nil, q.errorf("%w", context.Cause(ctx))
		}
	}
}

// retryable reports whether a lookup that failed with err, as lookupError
// reports it, may succeed if made again in a new session: not when the
// database misbehaved, does not know the version, or the mirror's own
// storage failed.
func retryable(err error) bool {
	return !errors.Is(err, modmirror.ErrSecurity) && !errors.Is(err, modmirror.ErrNotInSumDB) && !errors.Is(err, modmirror.ErrStorage)
}

// timeLeft reports whether ctx leaves at least half the time of one read
// for a lookup made again.
func (v *Verifier) timeLeft(ctx context.Context) bool {
	if ctx.Err() != nil {
		return false
	}
	deadline, ok := ctx.Deadline()
	return !ok || time.Until(deadline) >= v.timeout/2
}

// Prefetch starts looking path@version up in the background, so that a
// Check that follows finds the record already fetched and verified: the
// lookup overlaps the download of the file whose hash is to be checked.
// Errors are left for Check to report. At most maxPrefetches run at once:
// beyond that Prefetch does nothing, and a Check looks the version up then.
func (v *Verifier) Prefetch(path, version string) {
	if _, err := newQuery(path, version); err != nil {
		return
	}
	select {
	case v.prefetches <- struct{}{}:
	default:
		return
	}
	s := v.session()
	s.start()
	v.background.Go(func() {
		defer func() { <-v.prefetches }()
		// The client shares one lookup per record among concurrent
		// callers, so a Check that starts meanwhile waits for this one.
		_, err := s.client.Lookup(path, version)
		s.finish(err)
	})
}

// maxPrefetches bounds the lookups that Prefetch runs at once: the mirror
// prefetches the requirements of every go.mod it fills, and a go.mod may
// list many.
const maxPrefetches = 64

// Close waits for the lookups still running in the background, which may
// still write verified records to the store.
func (v *Verifier) Close() error {
	v.background.Wait()
	return nil
}

// A query is one go.sum line to check, without its hash.
type query struct {
	mod     module.Version // the module version, without "/go.mod"
	version string         // the version as asked, perhaps with "/go.mod"
	noun    string         // what is verified: "module" or "go.mod"
	lookup  string         // the remote path of the lookup
}

func newQuery(path, version string) (query, error) {
	q := query{
		mod:     module.Version{Path: path, Version: strings.TrimSuffix(version, "/go.mod")},
		version: version,
		noun:    "module",
	}
	if q.mod.Version != version {
		q.noun = "go.mod"
	}
	epath, err := module.EscapePath(path)
	if err == nil {
		var evers string
		evers, err = module.EscapeVersion(q.mod.Version)
		q.lookup = "/lookup/" + epath + "@" + evers
	}
	if err != nil {
		return q, q.errorf("%w: %w", modmirror.ErrInvalid, err)
	}
	return q, nil
}

// errorf returns an error naming the module, in the go command's form.
func (q query) errorf(format string, args ...any) error {
	return fmt.Errorf("checksum: %s@%s: verifying %s: "+format,
		append([]any{q.mod.Path, q.mod.Version, q.noun}, args...)...)
}

// session returns the session lookups go to now.
func (v *Verifier) session() *session {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.cur == nil {
		v.cur = newSession(v)
	}
	return v.cur
}

// discard stops sending lookups to s, if that has not happened already.
// Lookups in progress on s finish there.
func (v *Verifier) discard(s *session) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.cur == s {
		v.cur = nil
	}
}

// verifiedTree returns the latest tree head that a sumdb client has
// verified, as persisted in the state file; an empty tree if there is none.
// The client writes the state file only after checking the new head's
// signature and its consistency with the previous one; the signature is
// checked again here because the file is read back from disk.
func (v *Verifier) verifiedTree() (tlog.Tree, error) {
	ctx, cancel := context.WithTimeout(context.Background(), v.timeout)
	defer cancel()
	msg, err := v.heads.ReadHead(ctx, v.name)
	if err != nil || len(msg) == 0 {
		return tlog.Tree{}, err
	}
	n, err := note.Open(msg, v.verifiers)
	if err != nil {
		return tlog.Tree{}, fmt.Errorf("checksum: reading state: %w", err)
	}
	tree, err := tlog.ParseTree([]byte(n.Text))
	if err != nil {
		return tlog.Tree{}, fmt.Errorf("checksum: reading state: %w", err)
	}
	return tree, nil
}

// Tree returns the latest tree of the database that the verifier has
// verified (its size and hash), for the status page; a zero tree if none
// yet.
func (v *Verifier) Tree() (tlog.Tree, error) { return v.verifiedTree() }
