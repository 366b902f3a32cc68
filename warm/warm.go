// Package warm fills a running mirror before its clients need it: it asks
// the mirror for every file that go.sum files, go.mod build lists,
// workspaces, applications or another mirror's index feed name, many at
// once, and sums up what was new, what the mirror had, and what failed
// and why.
//
// It is a client of the mirror's GOPROXY protocol like the go command:
// everything the mirror stores, it verifies as for any client. Whether a
// file was new comes from the mirror's Modmirror-Cache answer header,
// which warm asks for (another mirror does not send it: "fetched" then).
package warm

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/mod/modfile"
	"golang.org/x/mod/module"
	"golang.org/x/sync/errgroup"

	"github.com/modmirror/modmirror/gosum"
	"github.com/modmirror/modmirror/modgraph"
)

// A File is one file of a module version to ask the mirror for.
type File struct {
	Path, Version string
	Ext           string // .info, .mod or .zip
}

func (f File) String() string { return f.Path + "@" + f.Version + " " + f.Ext[1:] }

// A Set is the files to ask for, each once.
type Set struct {
	files map[File]bool
}

// NewSet returns an empty Set.
func NewSet() *Set { return &Set{files: make(map[File]bool)} }

// Add adds the .info and .mod of a version, and its .zip if zip is set.
func (s *Set) Add(path, version string, zip bool) {
	s.files[File{path, version, ".info"}] = true
	s.files[File{path, version, ".mod"}] = true
	if zip {
		s.files[File{path, version, ".zip"}] = true
	}
}

// Files returns the files, sorted.
func (s *Set) Files() []File {
	out := make([]File, 0, len(s.files))
	for f := range s.files {
		out = append(out, f)
	}
	slices.SortFunc(out, func(a, b File) int { return strings.Compare(a.String(), b.String()) })
	return out
}

// Len returns how many files the set has.
func (s *Set) Len() int { return len(s.files) }

// A Client asks a mirror for files.
type Client struct {
	Mirror string // the mirror's GOPROXY URL, without a trailing slash
	HTTP   *http.Client

	// missed are the go.mod files that reading build lists made the
	// mirror fill: new, though Run then finds them there.
	mu     sync.Mutex
	missed map[File]bool
}

func (c *Client) url(f File) (string, error) {
	ep, err := module.EscapePath(f.Path)
	if err != nil {
		return "", err
	}
	ev, err := module.EscapeVersion(f.Version)
	if err != nil {
		return "", err
	}
	return c.Mirror + "/" + ep + "/@v/" + ev + f.Ext, nil
}

// get asks for f, reads the answer, and returns the Modmirror-Cache value.
func (c *Client) get(ctx context.Context, f File) (string, error) {
	u, err := c.url(f)
	if err != nil {
		return "", err
	}
	req, err := http.NewRequestWithContext(ctx, "GET", u, nil)
	if err != nil {
		return "", err
	}
	req.Header.Set("Modmirror-Cache", "?") // tell me whether you had it
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 2048))
		return "", fmt.Errorf("%s: %s", resp.Status, firstLine(string(body)))
	}
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		return "", err
	}
	return resp.Header.Get("Modmirror-Cache"), nil
}

// goMod reads a version's go.mod file through the mirror.
func (c *Client) goMod(ctx context.Context, path, version string) ([]byte, error) {
	u, err := c.url(File{path, version, ".mod"})
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, "GET", u, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Modmirror-Cache", "?")
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s@%s: %s: %s", path, version, resp.Status, firstLine(string(body)))
	}
	if resp.Header.Get("Modmirror-Cache") == "miss" {
		c.mu.Lock()
		if c.missed == nil {
			c.missed = make(map[File]bool)
		}
		c.missed[File{path, version, ".mod"}] = true
		c.mu.Unlock()
	}
	return body, nil
}

// GoMod implements modgraph.Reqs through the mirror, which verifies what
// it serves; directories are read from disk.
func (c *Client) GoMod(ctx context.Context, m module.Version) (*modgraph.ModFile, error) {
	if m.Version == "" {
		file := filepath.Join(m.Path, "go.mod")
		data, err := os.ReadFile(file)
		if err != nil {
			return nil, err
		}
		return modgraph.ParseModFile(file, data)
	}
	data, err := c.goMod(ctx, m.Path, m.Version)
	if err != nil {
		return nil, err
	}
	return modgraph.ParseModFile(m.String()+" go.mod", data)
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(strings.TrimSpace(s), "\n")
	return s
}

// AddArg adds what one argument names: a go.sum file (every line), a
// go.mod or go.work file (its build list), a directory (its go.work, else
// its go.sum, else its go.mod), or module@version (the version, and its
// build list).
func (c *Client) AddArg(ctx context.Context, s *Set, arg string) error {
	if p, v, ok := strings.Cut(arg, "@"); ok && module.CheckPath(p) == nil && !exists(arg) {
		if err := module.Check(p, v); err != nil {
			return err
		}
		if module.CanonicalVersion(v) != v {
			return fmt.Errorf("%s is not a canonical version (such as v1.2.3)", v)
		}
		s.Add(p, v, true)
		data, err := c.goMod(ctx, p, v)
		if err != nil {
			return err
		}
		f, err := modfile.ParseLax(arg+" go.mod", data, nil)
		if err != nil {
			return err
		}
		return c.addBuildList(ctx, s, requirements(f), goVersion(f), nil)
	}
	fi, err := os.Stat(arg)
	if err != nil {
		return err
	}
	if fi.IsDir() {
		for _, name := range []string{"go.work", "go.sum", "go.mod"} {
			if exists(filepath.Join(arg, name)) {
				return c.AddArg(ctx, s, filepath.Join(arg, name))
			}
		}
		return fmt.Errorf("%s: no go.work, go.sum or go.mod file", arg)
	}
	data, err := os.ReadFile(arg)
	if err != nil {
		return err
	}
	switch base := filepath.Base(arg); {
	case strings.HasSuffix(base, ".sum"):
		for _, l := range gosum.Parse(arg, data) {
			if l.Err != nil {
				return fmt.Errorf("%s: %w", l.Pos(), l.Err)
			}
			s.Add(l.Path, l.Version, !l.GoMod)
		}
		return nil
	case base == "go.work" || strings.HasSuffix(base, ".work"):
		wf, err := modfile.ParseWork(arg, data, nil)
		if err != nil {
			return err
		}
		var roots []module.Version
		var dirs []string
		for _, u := range wf.Use {
			dir := filepath.Join(filepath.Dir(arg), filepath.FromSlash(u.Path))
			mdata, err := os.ReadFile(filepath.Join(dir, "go.mod"))
			if err != nil {
				return err
			}
			mf, err := modfile.Parse(filepath.Join(dir, "go.mod"), mdata, nil)
			if err != nil {
				return err
			}
			roots = append(roots, requirements(mf)...)
			dirs = append(dirs, mf.Module.Mod.Path)
		}
		return c.addBuildList(ctx, s, roots, "1.21", dirs)
	default:
		f, err := modfile.Parse(arg, data, nil)
		if err != nil {
			return err
		}
		var self []string
		if f.Module != nil {
			self = []string{f.Module.Mod.Path}
		}
		return c.addBuildList(ctx, s, requirements(f), goVersion(f), self)
	}
}

func exists(name string) bool {
	_, err := os.Stat(name)
	return err == nil
}

func requirements(f *modfile.File) []module.Version {
	var out []module.Version
	for _, r := range f.Require {
		out = append(out, r.Mod)
	}
	return out
}

func goVersion(f *modfile.File) string {
	if f.Go != nil {
		return f.Go.Version
	}
	return ""
}

// addBuildList adds the build list of a main module with the requirements
// roots: the zips of the selected versions and the go.mod files of every
// version the graph read. Paths in skip (main modules) are left out.
func (c *Client) addBuildList(ctx context.Context, s *Set, roots []module.Version, goVersion string, skip []string) error {
	g, _, err := modgraph.Resolve(ctx, modgraph.NewCache(c), roots, modgraph.Pruned(goVersion), nil)
	if err != nil {
		return err
	}
	for _, n := range g.Nodes() {
		if g.Read(n) && !slices.Contains(skip, n.Path) {
			s.Add(n.Path, n.Version, false)
		}
	}
	for _, m := range g.BuildList() {
		if !slices.Contains(skip, m.Path) {
			s.Add(m.Path, m.Version, true)
		}
	}
	return nil
}

// AddIndex adds every version another mirror's index feed (index URL
// such as https://mirror.example/index) lists from since on, page after
// page, and returns the time of the last entry, for the next --since.
func (c *Client) AddIndex(ctx context.Context, s *Set, index string, since time.Time) (time.Time, error) {
	last := since
	for page := 0; ; page++ {
		u, err := url.Parse(index)
		if err != nil {
			return last, err
		}
		q := u.Query()
		q.Set("since", last.UTC().Format(time.RFC3339Nano))
		q.Set("limit", "2000")
		u.RawQuery = q.Encode()
		req, err := http.NewRequestWithContext(ctx, "GET", u.String(), nil)
		if err != nil {
			return last, err
		}
		resp, err := c.HTTP.Do(req)
		if err != nil {
			return last, err
		}
		n, newest, err := readIndex(resp, s)
		resp.Body.Close()
		if err != nil {
			return last, fmt.Errorf("%s: %w", u.Redacted(), err)
		}
		// A page of entries all at one time as the cursor (or none) is
		// the end: the next would be the same.
		if n == 0 || !newest.After(last) || n < 2000 {
			if newest.After(last) {
				last = newest
			}
			return last, nil
		}
		last = newest
	}
}

func readIndex(resp *http.Response, s *Set) (int, time.Time, error) {
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 2048))
		return 0, time.Time{}, fmt.Errorf("%s: %s", resp.Status, firstLine(string(body)))
	}
	var newest time.Time
	n := 0
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		var e struct {
			Path, Version string
			Timestamp     time.Time
		}
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			return n, newest, fmt.Errorf("line %d: %w", n+1, err)
		}
		if err := module.Check(e.Path, e.Version); err != nil {
			return n, newest, fmt.Errorf("line %d: %w", n+1, err)
		}
		s.Add(e.Path, e.Version, true)
		n++
		if e.Timestamp.After(newest) {
			newest = e.Timestamp
		}
	}
	return n, newest, sc.Err()
}

// A Result is what asking for the files did.
type Result struct {
	New, Present, Fetched int // answered 200: a miss, a hit, unknown
	Failed                []Failure
	Duration              time.Duration
}

// A Failure is a file the mirror could not give.
type Failure struct {
	File File
	Err  error
}

// Run asks the mirror for every file of s, jobs at once, reporting progress
// to progress (if not nil) every second.
func (c *Client) Run(ctx context.Context, s *Set, jobs int, progress func(done, total, failed int)) *Result {
	files := s.Files()
	res := &Result{}
	start := time.Now()
	var mu sync.Mutex
	var done, failed atomic.Int64
	stop := make(chan struct{})
	var reported sync.WaitGroup
	if progress != nil {
		reported.Go(func() {
			t := time.NewTicker(time.Second)
			defer t.Stop()
			for {
				select {
				case <-stop:
					return
				case <-t.C:
					progress(int(done.Load()), len(files), int(failed.Load()))
				}
			}
		})
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(max(jobs, 1))
	// .info and .mod first, then the zips: the mirror verifies zips
	// against lookups the .mod fills already made.
	slices.SortStableFunc(files, func(a, b File) int { return boolInt(a.Ext == ".zip") - boolInt(b.Ext == ".zip") })
	for _, f := range files {
		g.Go(func() error {
			cache, err := c.get(gctx, f)
			mu.Lock()
			defer mu.Unlock()
			c.mu.Lock()
			if c.missed[f] {
				cache = "miss" // filled while reading a build list
			}
			c.mu.Unlock()
			switch {
			case err != nil:
				res.Failed = append(res.Failed, Failure{f, err})
				failed.Add(1)
			case cache == "miss":
				res.New++
			case cache == "hit":
				res.Present++
			default:
				res.Fetched++
			}
			done.Add(1)
			return nil
		})
	}
	g.Wait()
	close(stop)
	reported.Wait()
	if progress != nil {
		progress(int(done.Load()), len(files), int(failed.Load()))
	}
	slices.SortFunc(res.Failed, func(a, b Failure) int { return strings.Compare(a.File.String(), b.File.String()) })
	res.Duration = time.Since(start)
	if err := ctx.Err(); err != nil {
		res.Failed = append(res.Failed, Failure{Err: err})
	}
	return res
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// Err returns an error if anything failed.
func (r *Result) Err() error {
	if len(r.Failed) == 0 {
		return nil
	}
	return errors.New("warm: " + fmt.Sprint(len(r.Failed)) + " files failed")
}
