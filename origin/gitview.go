package origin

import (
	"context"
	"io"
	"io/fs"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"golang.org/x/mod/semver"
)

// A commitInfo describes the commit a revision names.
type commitInfo struct {
	Hash  string    // full commit hash
	Short string    // the hash cut to 12 digits, as pseudo-versions have it
	Time  time.Time // committer time
	Tags  []string  // every tag on the commit, sorted
	Ref   string    // the ref the revision was found through ("refs/tags/v1.0.0", "HEAD"), or ""

	// askedTag is the revision asked for, if it is one of Tags.
	askedTag string
}

// A tag is a tag name and its commit.
type tag struct{ Name, Hash string }

// minHashDigits is the shortest hexadecimal revision taken as a commit hash
// prefix; shorter ones are tried as tags and branches only.
const minHashDigits = 7

func allHex(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

func isHashPrefix(s string) bool {
	return len(s) >= minHashDigits && len(s) <= 40 && allHex(s)
}

// tagsWithPrefix returns the tags whose names begin with prefix, sorted by
// name.
func (g *gitView) tagsWithPrefix(prefix string) []tag {
	var list []tag
	for name, hash := range g.tags {
		if strings.HasPrefix(name, prefix) {
			list = append(list, tag{name, hash})
		}
	}
	sort.Slice(list, func(i, j int) bool { return list[i].Name < list[j].Name })
	return list
}

// lookupHash returns the full hash of the commit whose hash begins with the
// hexadecimal rev, with its committer time, if the clone has it.
func (g *gitView) lookupHash(ctx context.Context, rev string) (hash string, t time.Time, ok bool, err error) {
	out, err := g.o.git(ctx, g.r.dir, "log", "-n1", "--no-decorate", "--format=format:%H %ct", "--end-of-options", rev, "--")
	if err != nil {
		if ctx.Err() != nil {
			return "", time.Time{}, false, ctx.Err()
		}
		return "", time.Time{}, false, nil // not a commit here, or an ambiguous prefix
	}
	f := strings.Fields(string(out))
	if len(f) != 2 || !strings.HasPrefix(f[0], rev) {
		return "", time.Time{}, false, nil
	}
	sec, err := strconv.ParseInt(f[1], 10, 64)
	if err != nil {
		return "", time.Time{}, false, nil
	}
	g.hashes[rev] = f[0]
	return f[0], time.Unix(sec, 0).UTC(), true, nil
}

// stat finds the commit that rev names: a commit hash or a prefix of one
// the clone has, else a tag, else a branch, else (for "HEAD") the remote's
// default branch. A hexadecimal name is a hash first, whatever refs have
// the same name, as for the go command. Arbitrary strings never reach git:
// only hexadecimal revisions and hashes found in refs do.
func (g *gitView) stat(ctx context.Context, rev string) (*commitInfo, error) {
	var hash, ref string
	var t time.Time
	if isHashPrefix(rev) {
		h, tm, ok, err := g.lookupHash(ctx, rev)
		if err != nil {
			return nil, err
		}
		if ok {
			hash, t = h, tm
		}
	}
	if hash == "" {
		switch {
		case g.tags[rev] != "":
			hash, ref = g.tags[rev], "refs/tags/"+rev
		case g.heads[rev] != "":
			hash, ref = g.heads[rev], "refs/heads/"+rev
		case rev == "HEAD" && g.head != "":
			hash, ref = g.head, "HEAD"
		default:
			return nil, notFoundf("unknown revision %s", rev)
		}
		h, tm, ok, err := g.lookupHash(ctx, hash)
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, notFoundf("unknown revision %s (commit %s is missing from the clone)", rev, hash)
		}
		hash, t = h, tm
	}
	c := &commitInfo{Hash: hash, Short: hash[:12], Time: t, Tags: g.tagsAt[hash], Ref: ref}
	if slices.Contains(c.Tags, rev) {
		c.askedTag = rev
	}
	return c, nil
}

// resolve returns the full commit hash for rev, as stat does, without the
// commit's time where it can.
func (g *gitView) resolve(ctx context.Context, rev string) (string, error) {
	if h, ok := g.hashes[rev]; ok {
		return h, nil
	}
	if !isHashPrefix(rev) {
		if h := g.tags[rev]; h != "" {
			return h, nil
		}
	}
	c, err := g.stat(ctx, rev)
	if err != nil {
		return "", err
	}
	return c.Hash, nil
}

// readFile returns the content of file at rev. An unknown revision is an
// error of its own (a not-found, but not fs.ErrNotExist itself); a file
// that git cannot show at a known commit (missing, a directory) is
// fs.ErrNotExist itself, which isNotExist tells apart.
func (g *gitView) readFile(ctx context.Context, rev, file string, maxSize int64) ([]byte, error) {
	hash, err := g.resolve(ctx, rev)
	if err != nil {
		return nil, err
	}
	var out strings.Builder
	lw := &limitedWriter{w: &out, n: maxSize}
	err = g.o.run(ctx, gitCmd{dir: g.r.dir, stdout: lw, args: []string{"cat-file", "blob", hash + ":" + file}})
	switch {
	case ctx.Err() != nil:
		return nil, ctx.Err()
	case lw.n <= 0 && err != nil:
		return nil, &fs.PathError{Op: "read", Path: file, Err: errTooLarge}
	case err != nil:
		return nil, fs.ErrNotExist
	}
	return []byte(out.String()), nil
}

// isNotExist reports whether err from readFile says that the file does not
// exist at a known commit.
func isNotExist(err error) bool { return err == fs.ErrNotExist }

// recentTag returns the highest tag (by the semantic version after prefix)
// with the given prefix that is on rev or one of its ancestors and for which
// allowed reports true, or "". The clone has every commit reachable from the
// remote's branches and tags, so there is never more to fetch.
func (g *gitView) recentTag(ctx context.Context, rev, prefix string, allowed func(tag string) bool) (string, error) {
	hash, err := g.resolve(ctx, rev)
	if err != nil {
		return "", err
	}
	out, err := g.o.git(ctx, g.r.dir, "for-each-ref", "--format=%(refname)", "--merged="+hash, "refs/tags/")
	if err != nil {
		return "", err
	}
	var highest string
	for line := range strings.SplitSeq(string(out), "\n") {
		name, ok := strings.CutPrefix(strings.TrimSpace(line), "refs/tags/")
		if !ok || !strings.HasPrefix(name, prefix) || !allowed(name) {
			continue
		}
		if semtag := name[len(prefix):]; semver.Compare(semtag, highest) > 0 {
			highest = semtag
		}
	}
	if highest == "" {
		return "", nil
	}
	return prefix + highest, nil
}

// descendsFrom reports whether rev descends from (or is) the commit of the
// tag.
func (g *gitView) descendsFrom(ctx context.Context, rev, tag string) (bool, error) {
	tagHash, ok := g.tags[tag]
	if !ok {
		return false, nil
	}
	hash, err := g.resolve(ctx, rev)
	if err != nil {
		return false, err
	}
	_, err = g.o.git(ctx, g.r.dir, "merge-base", "--is-ancestor", tagHash, hash)
	switch {
	case err == nil:
		return true, nil
	case exitCode(err) == 1:
		return false, nil
	}
	return false, err
}

// archive writes git archive's zip of the commit hash (limited to subdir,
// if not empty) to w: every file under "prefix/", with no line-ending
// conversion, and export-subst and export-ignore disabled by the clone's
// info/attributes, so that the files are the commit's as they are.
func (g *gitView) archive(ctx context.Context, hash, subdir string, w io.Writer) error {
	args := []string{"archive", "--format=zip", "--prefix=" + archivePrefix, hash}
	if subdir != "" {
		args = append(args, "--", subdir)
	}
	err := g.o.run(ctx, gitCmd{
		dir:    g.r.dir,
		stdout: w,
		args:   args,
		config: []string{"core.autocrlf=input", "core.eol=lf"},
	})
	if ge, ok := err.(*gitError); ok && strings.Contains(ge.stderr, "did not match any files") {
		return fs.ErrNotExist
	}
	return err
}
