// Package testgit builds real git repositories for tests and serves them on
// 127.0.0.1 the way a code host does: the smart HTTP protocol through
// git http-backend, go-import <meta> pages for ?go-get=1, optional basic
// authentication, and a log of every request.
//
// # Repositories
//
// [Init] and [Server.Repo] create a repository with a work tree in a
// directory the test owns. Commits get fixed, increasing author and committer
// dates (the first at [Date], each further one an hour later), so commit
// hashes and pseudo-versions are the same on every run.
//
// # Serving
//
// A [Server] answers these kinds of request:
//
//   - redirects registered with [Server.Redirect];
//   - git's smart HTTP protocol for the repositories under [Server.Root],
//     at <URL>/<name>, through git http-backend run with net/http/cgi;
//   - ?go-get=1 on any path, for any Host: a page with the go-import tags
//     registered with [Server.GoImport] whose prefix is a path prefix of the
//     requested host and path;
//   - CONNECT, refused with 405, so that an HTTPS request sent through the
//     server as a proxy fails at once instead of reaching the network.
//
// Because the go-import page is chosen by the request's Host, the server is
// also an HTTP proxy for invented host names: a client whose proxy is the
// server (see [Server.Client] and [Server.GoEnv]) finds the tags for
// "corp.example/lib" at http://corp.example/lib?go-get=1 with no DNS and no
// network.
package testgit

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// Date is the author and committer date of the first commit of every
// repository; each further commit is an hour later.
var Date = time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)

// A Repo is a git repository with a work tree, on the default branch "main".
// Its methods fail the test on any error. They are safe for concurrent use,
// but commits are made one at a time.
type Repo struct {
	// Dir is the work tree; the repository is Dir/.git.
	Dir string

	t    testing.TB
	mu   sync.Mutex
	next time.Time // date of the next commit
}

// Init creates a repository in dir, which must not exist or be empty.
func Init(t testing.TB, dir string) *Repo {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	r := &Repo{Dir: dir, t: t, next: Date}
	r.Git("init", "-q", "-b", "main")
	return r
}

// Env returns the environment in which Repo runs git: no system or global
// configuration, fixed identities, no signing, no prompts.
func Env() []string {
	return append(os.Environ(),
		"GIT_CONFIG_NOSYSTEM=1",
		"GIT_CONFIG_GLOBAL="+os.DevNull,
		"GIT_AUTHOR_NAME=testgit", "GIT_AUTHOR_EMAIL=testgit@example.com",
		"GIT_COMMITTER_NAME=testgit", "GIT_COMMITTER_EMAIL=testgit@example.com",
		"GIT_TERMINAL_PROMPT=0",
	)
}

// Git runs git with args in the work tree and returns its standard output
// with surrounding space trimmed.
func (r *Repo) Git(args ...string) string {
	r.t.Helper()
	return r.gitEnv(nil, args...)
}

func (r *Repo) gitEnv(env []string, args ...string) string {
	r.t.Helper()
	cmd := exec.Command("git", append([]string{"-c", "commit.gpgsign=false", "-c", "tag.gpgsign=false"}, args...)...)
	cmd.Dir = r.Dir
	cmd.Env = append(Env(), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		r.t.Fatalf("testgit: git %s in %s: %v\n%s", strings.Join(args, " "), r.Dir, err, stderr.Bytes())
	}
	return strings.TrimSpace(stdout.String())
}

// Write writes files into the work tree, creating directories as needed. A
// file whose content is empty is removed instead.
func (r *Repo) Write(files map[string]string) {
	r.t.Helper()
	for name, content := range files {
		file := filepath.Join(r.Dir, filepath.FromSlash(name))
		if content == "" {
			if err := os.Remove(file); err != nil {
				r.t.Fatalf("testgit: %v", err)
			}
			continue
		}
		if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
			r.t.Fatal(err)
		}
		if err := os.WriteFile(file, []byte(content), 0o644); err != nil {
			r.t.Fatal(err)
		}
	}
}

// WriteExecutable writes an executable file into the work tree.
func (r *Repo) WriteExecutable(name, content string) {
	r.t.Helper()
	r.Write(map[string]string{name: content})
	if err := os.Chmod(filepath.Join(r.Dir, filepath.FromSlash(name)), 0o755); err != nil {
		r.t.Fatal(err)
	}
}

// Symlink creates a symbolic link named name pointing to target.
func (r *Repo) Symlink(name, target string) {
	r.t.Helper()
	file := filepath.Join(r.Dir, filepath.FromSlash(name))
	if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
		r.t.Fatal(err)
	}
	if err := os.Symlink(target, file); err != nil {
		r.t.Fatal(err)
	}
}

// Commit writes files (as [Repo.Write] does), commits everything in the work
// tree on the current branch with the next fixed date, and returns the
// commit's full hash.
func (r *Repo) Commit(msg string, files map[string]string) string {
	r.t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	r.Write(files)
	r.Git("add", "-A")
	date := r.next.Format(time.RFC3339)
	r.next = r.next.Add(time.Hour)
	r.gitEnv([]string{"GIT_AUTHOR_DATE=" + date, "GIT_COMMITTER_DATE=" + date},
		"commit", "-q", "--allow-empty", "-m", msg)
	return r.Head()
}

// Head returns the full hash of the commit checked out.
func (r *Repo) Head() string {
	r.t.Helper()
	return r.Git("rev-parse", "HEAD")
}

// Tag creates a lightweight tag name at rev, or moves it there if it exists.
func (r *Repo) Tag(name, rev string) {
	r.t.Helper()
	r.Git("tag", "-f", name, rev)
}

// AnnotatedTag creates an annotated tag name at rev, or moves it there. The
// tag object is dated like the next commit.
func (r *Repo) AnnotatedTag(name, rev, msg string) {
	r.t.Helper()
	r.mu.Lock()
	date := r.next.Format(time.RFC3339)
	r.mu.Unlock()
	r.gitEnv([]string{"GIT_COMMITTER_DATE=" + date}, "tag", "-f", "-a", "-m", msg, name, rev)
}

// DeleteTag deletes a tag.
func (r *Repo) DeleteTag(name string) {
	r.t.Helper()
	r.Git("tag", "-d", name)
}

// Branch creates a branch name at rev, or moves it there, without checking
// it out.
func (r *Repo) Branch(name, rev string) {
	r.t.Helper()
	r.Git("branch", "-f", name, rev)
}

// Checkout checks out a branch, creating it at the current commit if it
// does not exist.
func (r *Repo) Checkout(branch string) {
	r.t.Helper()
	if _, err := r.tryGit("rev-parse", "--verify", "-q", "refs/heads/"+branch); err != nil {
		r.Git("checkout", "-q", "-b", branch)
		return
	}
	r.Git("checkout", "-q", branch)
}

func (r *Repo) tryGit(args ...string) (string, error) {
	cmd := exec.Command("git", args...)
	cmd.Dir = r.Dir
	cmd.Env = Env()
	out, err := cmd.Output()
	return strings.TrimSpace(string(out)), err
}

// String returns the work tree's directory.
func (r *Repo) String() string { return fmt.Sprintf("testgit.Repo(%s)", r.Dir) }
