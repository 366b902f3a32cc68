package origin

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"
)

// A repo is the bare clone of one origin repository in the cache directory.
// Clones and fetches of a repo happen one at a time: within the process
// under lock, across processes under a flock on <dir>.lock. Reading a clone
// needs no lock: git updates refs atomically, and objects are written before
// the refs that reach them.
type repo struct {
	url    string // the remote, without credentials
	remote *url.URL
	dir    string // CacheDir/<hash of url>

	lock      chan struct{} // held (sent to) during clone and fetch
	cloned    bool          // dir exists; guarded by lock
	lastFetch time.Time     // guarded by lock
}

// stampFile, inside a clone, has the time of the last fetch as its
// modification time, so that processes sharing the cache share the fetch
// interval.
const stampFile = "modmirror-fetched"

// repo returns the repo for the remote URL u, creating it on first use.
func (o *Origin) repo(u *url.URL) *repo {
	key := u.String()
	o.mu.Lock()
	defer o.mu.Unlock()
	if r := o.repos[key]; r != nil {
		return r
	}
	sum := sha256.Sum256([]byte(key))
	r := &repo{
		url:    key,
		remote: u,
		dir:    filepath.Join(o.cfg.CacheDir, hex.EncodeToString(sum[:16])),
		lock:   make(chan struct{}, 1),
	}
	o.repos[key] = r
	return r
}

// maxUpdateTime bounds one clone or fetch.
const maxUpdateTime = 30 * time.Minute

// ensure makes sure r is cloned and, if fresh is set, fetched within the
// last fetch interval. It reports whether it cloned or fetched.
//
// A clone or fetch is not cancelled when ctx ends: others may be waiting for
// it, and a finished clone is useful later, even if the caller gave up (a
// first clone of a large repository may take longer than one request may).
// The caller stops waiting, and the lock stays held until the work is done.
func (o *Origin) ensure(ctx context.Context, r *repo, fresh bool) (fetched bool, err error) {
	select {
	case r.lock <- struct{}{}:
	case <-ctx.Done():
		return false, ctx.Err()
	}
	if r.cloned && (!fresh || o.now().Sub(r.lastFetch) < o.interval) {
		<-r.lock
		return false, nil
	}
	type result struct {
		fetched bool
		err     error
	}
	done := make(chan result, 1)
	go func() {
		defer func() { <-r.lock }()
		uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), maxUpdateTime)
		defer cancel()
		fetched, err := o.update(uctx, r, fresh)
		done <- result{fetched, err}
	}()
	select {
	case res := <-done:
		return res.fetched, res.err
	case <-ctx.Done():
		return false, ctx.Err()
	}
}

// update does ensure's work with r.lock held.
func (o *Origin) update(ctx context.Context, r *repo, fresh bool) (fetched bool, err error) {
	unlock, err := lockFile(ctx, r.dir+".lock")
	if err != nil {
		return false, fmt.Errorf("locking the clone of %s: %w", r.url, err)
	}
	defer unlock()

	if _, err := os.Stat(filepath.Join(r.dir, "objects")); err == nil {
		r.cloned = true
		if st, err := os.Stat(filepath.Join(r.dir, stampFile)); err == nil && st.ModTime().After(r.lastFetch) {
			r.lastFetch = st.ModTime() // another process fetched
		}
		if !fresh || o.now().Sub(r.lastFetch) < o.interval {
			return false, nil
		}
		start := o.now()
		changed, err := o.fetch(ctx, r, r.dir)
		if err != nil {
			return false, err
		}
		o.log.Debug("fetched", "repo", r.url, "changed", changed, "duration", time.Since(start).Round(time.Millisecond))
	} else {
		start := o.now()
		if err := o.clone(ctx, r); err != nil {
			return false, err
		}
		r.cloned = true
		o.log.Info("cloned", "repo", r.url, "duration", time.Since(start).Round(time.Millisecond))
	}
	r.lastFetch = o.now()
	stamp := filepath.Join(r.dir, stampFile)
	if err := os.WriteFile(stamp, nil, 0o600); err == nil {
		os.Chtimes(stamp, r.lastFetch, r.lastFetch)
	}
	return true, nil
}

// clone makes a new bare clone of r in a temporary directory and renames it
// into place, so that a crash never leaves a partial clone behind.
func (o *Origin) clone(ctx context.Context, r *repo) error {
	stale, _ := filepath.Glob(r.dir + ".tmp-*")
	for _, dir := range stale {
		os.RemoveAll(dir)
	}
	tmp, err := os.MkdirTemp(o.cfg.CacheDir, filepath.Base(r.dir)+".tmp-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp) // after a successful rename, there is nothing left
	// git clone writes every ref into one packed-refs file, where a fetch
	// into an empty repository writes a file per ref: on a repository
	// with hundreds of tags that is most of a clone's time. --bare maps
	// branches to branches and configures no fetch refspec, so later
	// fetches (with explicit refspecs) update no remote-tracking refs; no
	// templates: no hooks, no sample files.
	if err := o.run(ctx, gitCmd{remote: r.remote, args: []string{"clone", "--bare", "-q", "--template=", "--", r.url, tmp}}); err != nil {
		return remoteError(r, err)
	}
	// The remote's HEAD (its default branch), which answers @latest for a
	// module without tags; an empty repository has none.
	if head, err := o.git(ctx, tmp, "rev-parse", "-q", "--verify", "HEAD^{commit}"); err == nil {
		if _, err := o.git(ctx, tmp, "update-ref", headRef, strings.TrimSpace(string(head))); err != nil {
			return err
		}
	}
	// No export-subst or export-ignore in git archive, whatever the
	// repository's .gitattributes say: a module zip holds the files as
	// committed, and so has the hash the go command computes.
	if err := os.MkdirAll(filepath.Join(tmp, "info"), 0o700); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(tmp, "info", "attributes"), []byte("* -export-subst -export-ignore\n"), 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, r.dir)
}

// fetch brings the clone in dir up to date with the remote's branches, tags
// and HEAD, deleting those the remote deleted and moving those it moved. It
// asks the remote for its refs first and fetches only if they differ from
// the clone's. It reports whether they differed.
func (o *Origin) fetch(ctx context.Context, r *repo, dir string) (changed bool, err error) {
	var out strings.Builder
	err = o.run(ctx, gitCmd{dir: dir, remote: r.remote, stdout: &out, args: []string{"ls-remote", "-q", "origin"}})
	if err != nil {
		return false, remoteError(r, err)
	}
	remote := make(map[string]string)
	for line := range strings.SplitSeq(out.String(), "\n") {
		hash, ref, ok := strings.Cut(line, "\t")
		if ok && (ref == "HEAD" || strings.HasPrefix(ref, "refs/heads/") || strings.HasPrefix(ref, "refs/tags/")) && !strings.HasSuffix(ref, "^{}") {
			remote[ref] = hash
		}
	}
	localOut, err := o.git(ctx, dir, "for-each-ref", "--format=%(objectname) %(refname)", "refs/heads/", "refs/tags/", headRef)
	if err != nil {
		return false, err
	}
	local := make(map[string]string)
	for line := range strings.SplitSeq(string(localOut), "\n") {
		if hash, ref, ok := strings.Cut(line, " "); ok {
			if ref == headRef {
				ref = "HEAD"
			}
			local[ref] = hash
		}
	}
	if maps.Equal(remote, local) {
		return false, nil
	}
	args := []string{"fetch", "-q", "-f", "--prune", "--no-tags", "--no-write-fetch-head", "origin",
		"+refs/heads/*:refs/heads/*", "+refs/tags/*:refs/tags/*"}
	if remote["HEAD"] != "" {
		args = append(args, "+HEAD:"+headRef)
	}
	if err := o.run(ctx, gitCmd{dir: dir, remote: r.remote, args: args}); err != nil {
		return false, remoteError(r, err)
	}
	if remote["HEAD"] == "" && local["HEAD"] != "" {
		if _, err := o.git(ctx, dir, "update-ref", "-d", headRef); err != nil {
			return false, err
		}
	}
	return true, nil
}

// headRef is where a clone keeps the commit of the remote's HEAD (its
// default branch), which answers @latest for a module without tags.
const headRef = "refs/modmirror/HEAD"

// notFoundStderr matches what git prints for a repository that does not
// exist: over HTTP (a 404), and on common ssh hosts.
var notFoundStderr = regexp.MustCompile(`(?i)repository '[^']*' not found|repository not found|does not appear to be a git repository|repository .* does not exist|project .* not found`)

// remoteError describes a failure to reach the remote of r: a not-found
// error if the repository does not exist, or a plain one with a hint about
// credentials where git asked for them.
func remoteError(r *repo, err error) error {
	var ge *gitError
	if !errors.As(err, &ge) {
		return err
	}
	switch {
	case notFoundStderr.MatchString(ge.stderr):
		return notExist{fmt.Errorf("repository %s not found: %w", r.url, err)}
	case strings.Contains(ge.stderr, "could not read Username"), strings.Contains(ge.stderr, "could not read Password"):
		return fmt.Errorf("repository %s requires authentication, and no credentials are configured for %s: %w", r.url, r.remote.Host, err)
	case strings.Contains(ge.stderr, "Authentication failed"), strings.Contains(ge.stderr, "returned error: 403"):
		return fmt.Errorf("repository %s refused the credentials configured for %s: %w", r.url, r.remote.Host, err)
	}
	return fmt.Errorf("repository %s: %w", r.url, err)
}

// A gitView reads one clone as it was when the view was made: its refs are
// read once, and everything else is looked up in the clone, never fetched.
type gitView struct {
	o      *Origin
	r      *repo
	tags   map[string]string   // tag name -> commit
	heads  map[string]string   // branch name -> commit
	head   string              // the remote's HEAD commit, or ""
	tagsAt map[string][]string // commit -> tags on it, sorted
	hashes map[string]string   // hex revision -> full commit hash, memoized
}

// view returns a gitView of the clone of r, which must exist.
func (o *Origin) view(ctx context.Context, r *repo) (*gitView, error) {
	out, err := o.git(ctx, r.dir, "for-each-ref",
		"--format=%(refname) %(objecttype) %(objectname) %(*objecttype) %(*objectname)",
		"refs/heads/", "refs/tags/", headRef)
	if err != nil {
		return nil, err
	}
	g := &gitView{
		o: o, r: r,
		tags:   make(map[string]string),
		heads:  make(map[string]string),
		tagsAt: make(map[string][]string),
		hashes: make(map[string]string),
	}
	for line := range strings.SplitSeq(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) < 3 {
			continue
		}
		ref, hash := f[0], ""
		switch {
		case f[1] == "commit":
			hash = f[2]
		case f[1] == "tag" && len(f) == 5 && f[3] == "commit":
			hash = f[4]
		default:
			continue // a tag of a tree, a blob or another tag
		}
		switch {
		case ref == headRef:
			g.head = hash
		case strings.HasPrefix(ref, "refs/heads/"):
			g.heads[strings.TrimPrefix(ref, "refs/heads/")] = hash
		case strings.HasPrefix(ref, "refs/tags/"):
			tag := strings.TrimPrefix(ref, "refs/tags/")
			g.tags[tag] = hash
			g.tagsAt[hash] = append(g.tagsAt[hash], tag) // for-each-ref sorts by name
		}
	}
	return g, nil
}
