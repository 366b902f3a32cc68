// Package origin fills module versions straight from their origin git
// repositories, as GOPROXY=direct does in the go command. An [Origin] is a
// [modmirror.Upstream]; a mirror uses it for modules that no proxy has, such
// as private ones.
//
// # Finding a repository
//
// A module path is mapped to a repository by the first of:
//
//   - the first matching [Rule] of the configuration: a GOPRIVATE-style
//     pattern for the repository root and a URL template;
//   - the go command's static patterns: github.com/<owner>/<repo>, and paths
//     with an element ending in ".git" (corp.example/lib.git/sub), whose
//     repository is https://corp.example/lib;
//   - go-import discovery: <meta name="go-import"> in
//     https://<module path>?go-get=1, with plain http only for hosts that
//     Config.Insecure allows, after https fails, as GOINSECURE does. The
//     optional fourth field (a subdirectory) is honoured.
//
// A repository may hold several modules: subdirectory modules
// (corp.example/lib/sub, tagged sub/v1.2.3) and major versions in a
// subdirectory (corp.example/lib/v2 in v2/) or declared by the root go.mod.
//
// # Versions
//
// Versions are computed by the rules of the Go Modules Reference (see
// resolve.go), so that they are the ones the go command computes with
// GOPROXY=direct, which TestGoCommandAgreement checks version by version
// and hash by hash: /@v/list holds the repository's canonical semver tags
// for the module (prefixed with its directory for a module in a
// subdirectory, and +incompatible ones where a module without go.mod is
// at a major version above 1); a branch, a commit hash or prefix and
// "latest" (the default branch) resolve to the tag on the commit or to a
// pseudo-version based on the highest version tag among its ancestors;
// go.mod is made up as "module <path>" when the version has none; zips
// are built from git archive so that their h1: hashes are the go
// command's. Tags that move are reported as they are now: keeping the
// first copy is the mirror's job.
//
// # The clone cache
//
// Each repository is a bare clone in Config.CacheDir, named by a hash of its
// URL, kept across restarts and updated with incremental fetches of all
// branches and tags (never a re-clone). Concurrent requests for a repository
// cause one clone; clones and fetches are serialised per repository within
// the process and, through a flock on a lock file, across processes sharing
// the cache. A list, latest or branch query fetches at most once per
// Config.FetchInterval; a canonical version (tag or pseudo-version) or a full
// hash already in the clone is served without asking the remote, and a miss
// fetches (again at most once per interval) before answering not found.
//
// # Credentials
//
// User names and passwords for origin hosts come from a .netrc file and
// tokens (Config.NetrcFile, Config.Tokens), are looked up by the host of
// each request alone, and are never logged. Git gets them through a
// credential helper that is configured, through the environment of each git
// command, only for the URL of the remote it contacts, and that reads them
// from that environment: they are never on a command line, in the clone's
// configuration or in its remote URL. Git sends them only after the server
// asks (401), and not after a redirect to another host. Discovery requests
// carry them as basic authentication only to the configured host, checked
// again on every redirect. Error messages have them redacted. ssh remotes use
// the ssh configuration of the process (keys, agent), with BatchMode on.
//
// # Errors
//
// Every error begins with "origin: " and names the module. A module with no
// repository, a repository that does not exist, and a version, branch or
// commit that does not exist or is not a valid version of the module are
// reported with errors matching fs.ErrNotExist, so that a mirror answers 404
// and clients fall through. Other failures (git, the network, credentials
// refused) are plain errors, with git's standard error included, redacted.
package origin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"time"

	"golang.org/x/mod/module"
	"golang.org/x/sync/singleflight"

	"github.com/modmirror/modmirror"
	"github.com/modmirror/modmirror/internal/redirect"
)

var _ modmirror.Upstream = (*Origin)(nil)

// DefaultFetchInterval is the fetch interval of a Config that sets none.
const DefaultFetchInterval = 30 * time.Second

// Config configures an Origin. CacheDir is required; everything else has a
// usable zero value.
type Config struct {
	// CacheDir holds the bare clones, one per repository URL, and lock
	// files. It is created if needed, private to the user. Several
	// processes may share it.
	CacheDir string

	// Rules map module paths to repositories; the first match wins. Paths
	// that no rule matches are found as the go command finds them.
	Rules []Rule

	// NetrcFile, if not empty, is a file in .netrc format with credentials
	// for origin hosts. It is read at New (a missing file is an error) and
	// re-read when it changes.
	NetrcFile string

	// Tokens maps a host name (or host:port) to a token, sent as the
	// password of HTTP basic authentication with the user name
	// "x-access-token", which GitHub, GitLab and Gitea accept with a token;
	// a token of the form "user:secret" names its user. Tokens take
	// precedence over NetrcFile.
	Tokens map[string]string

	// Insecure reports whether a host (a host name without port: a module
	// path's first element for discovery, a repository URL's host for git)
	// may be reached over plain http, as GOINSECURE does. Nil means none.
	Insecure func(host string) bool

	// FetchInterval is the least time between two fetches of a repository
	// for list, latest and branch queries. Zero means DefaultFetchInterval;
	// a negative interval fetches every time.
	FetchInterval time.Duration

	// HTTPClient sends go-import discovery requests. Nil means a client
	// with a 30-second timeout. The origin wraps its transport to add
	// credentials, and replaces its redirect policy with the go command's
	// (no https to http), which also applies its own CheckRedirect if set.
	HTTPClient *http.Client

	// GitPath is the git command. Empty means "git" from $PATH.
	GitPath string

	// Env is added to the environment of every git command (after the
	// process's own, before the origin's settings), for example
	// GIT_CONFIG_GLOBAL or GIT_SSH_COMMAND. Variables the origin controls
	// (GIT_DIR, GIT_CONFIG_COUNT and friends, GIT_ASKPASS, GIT_TRACE*,
	// GIT_ALLOW_PROTOCOL, ...) are dropped from both.
	Env []string

	Logger *slog.Logger
}

// An Origin is a modmirror.Upstream that reads modules from their origin
// repositories. It is safe for concurrent use.
type Origin struct {
	cfg      Config
	log      *slog.Logger
	gitPath  string
	env      []string
	tmpDir   string
	interval time.Duration
	client   *http.Client
	creds    *credentials
	rules    []compiledRule
	insecure func(host string) bool
	now      func() time.Time

	discoveries singleflight.Group

	mu         sync.Mutex
	repos      map[string]*repo // by URL
	discovered map[string]discovered
}

// New returns an Origin.
func New(cfg Config) (*Origin, error) {
	if cfg.CacheDir == "" {
		return nil, errors.New("origin: no cache directory")
	}
	dir, err := filepath.Abs(cfg.CacheDir)
	if err != nil {
		return nil, fmt.Errorf("origin: %w", err)
	}
	cfg.CacheDir = dir
	tmpDir := filepath.Join(dir, "tmp")
	if err := os.MkdirAll(tmpDir, 0o700); err != nil {
		return nil, fmt.Errorf("origin: %w", err)
	}
	gitPath := cfg.GitPath
	if gitPath == "" {
		gitPath = "git"
	}
	if gitPath, err = exec.LookPath(gitPath); err != nil {
		return nil, fmt.Errorf("origin: %w", err)
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log = log.WithGroup("origin")
	creds, err := newCredentials(cfg.NetrcFile, cfg.Tokens, log)
	if err != nil {
		return nil, err
	}
	insecure := cfg.Insecure
	if insecure == nil {
		insecure = func(string) bool { return false }
	}
	var rules []compiledRule
	for _, r := range cfg.Rules {
		c, err := compileRule(r)
		if err != nil {
			return nil, fmt.Errorf("origin: rule: %w", err)
		}
		rules = append(rules, c)
	}
	interval := cfg.FetchInterval
	if interval == 0 {
		interval = DefaultFetchInterval
	}

	client := &http.Client{Timeout: 30 * time.Second}
	if cfg.HTTPClient != nil {
		c := *cfg.HTTPClient
		client = &c
	}
	base := client.Transport
	if base == nil {
		base = http.DefaultTransport
	}
	client.Transport = &authTransport{base: base, creds: creds, insecure: insecure}
	userRedirect := client.CheckRedirect
	client.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		if err := redirect.Check(req, via); err != nil {
			return err
		}
		if userRedirect != nil {
			return userRedirect(req, via)
		}
		return nil
	}

	return &Origin{
		cfg:        cfg,
		log:        log,
		gitPath:    gitPath,
		env:        gitEnv(cfg.Env),
		tmpDir:     tmpDir,
		interval:   interval,
		client:     client,
		creds:      creds,
		rules:      rules,
		insecure:   insecure,
		now:        time.Now,
		repos:      make(map[string]*repo),
		discovered: make(map[string]discovered),
	}, nil
}

// String describes the origin for logs.
func (o *Origin) String() string { return "origin" }

// List returns the module's versions named by the repository's tags, in
// semver order, with +incompatible versions last.
func (o *Origin) List(ctx context.Context, path string) ([]string, error) {
	var list []string
	err := o.do(ctx, path, true, func(r *versionResolver) (err error) {
		list, err = r.list(ctx)
		return err
	})
	if err != nil {
		return nil, o.fail(path, "", err)
	}
	return list, nil
}

// Latest returns the .info of the version at the repository's HEAD (its
// default branch): what /@latest answers for a module without tags.
func (o *Origin) Latest(ctx context.Context, path string) ([]byte, error) {
	var data []byte
	err := o.do(ctx, path, true, func(r *versionResolver) error {
		v, err := r.resolve(ctx, "latest")
		if err == nil {
			data, err = r.infoJSON(v)
		}
		return err
	})
	if err != nil {
		return nil, o.fail(path, "latest", err)
	}
	return data, nil
}

// Info returns the .info of the version a query names: a canonical
// version, a tag, a branch, a commit hash or prefix, or "latest".
func (o *Origin) Info(ctx context.Context, path, query string) ([]byte, error) {
	var data []byte
	err := o.do(ctx, path, !immutable(query), func(r *versionResolver) error {
		v, err := r.resolve(ctx, query)
		if err == nil {
			data, err = r.infoJSON(v)
		}
		return err
	})
	if err != nil {
		return nil, o.fail(path, query, err)
	}
	return data, nil
}

// Mod returns the go.mod file of a canonical version.
func (o *Origin) Mod(ctx context.Context, path, version string) ([]byte, error) {
	if err := checkCanonical(path, version); err != nil {
		return nil, err
	}
	var data []byte
	err := o.do(ctx, path, false, func(r *versionResolver) (err error) {
		data, err = r.goMod(ctx, version)
		return err
	})
	if err != nil {
		return nil, o.fail(path, version, err)
	}
	return data, nil
}

// Zip returns the module zip of a canonical version as a stream; the caller
// must close it. Everything that can be checked before the first byte
// (the version exists, git archive succeeded) is; a later failure, such as a
// module too large for golang.org/x/mod/zip, is a read error.
func (o *Origin) Zip(ctx context.Context, path, version string) (io.ReadCloser, error) {
	if err := checkCanonical(path, version); err != nil {
		return nil, err
	}
	var rc io.ReadCloser
	err := o.do(ctx, path, false, func(r *versionResolver) (err error) {
		rc, err = r.zip(ctx, version)
		return err
	})
	if err != nil {
		return nil, o.fail(path, version, err)
	}
	return rc, nil
}

// immutable reports whether a query always names the same commit: a
// canonical version or a full commit hash. Those are looked up in the clone
// before the remote is asked.
func immutable(query string) bool {
	return query != "" && module.CanonicalVersion(query) == query || len(query) == 40 && allHex(query)
}

func checkCanonical(path, version string) error {
	if err := module.Check(path, version); err != nil {
		return fmt.Errorf("origin: %w: %w", modmirror.ErrInvalid, err)
	}
	if module.CanonicalVersion(version) != version {
		return fmt.Errorf("origin: %w: %s@%s: version is not canonical", modmirror.ErrInvalid, path, version)
	}
	return nil
}

// do runs f on the module's code in its repository's clone, cloning first if
// needed and, if fresh is set, fetching if the last fetch is older than the
// interval. If f reports not found and nothing was fetched, it fetches (if
// the interval allows) and tries once more: what the clone lacks may have
// appeared since.
func (o *Origin) do(ctx context.Context, path string, fresh bool, f func(*versionResolver) error) error {
	if err := module.CheckPath(path); err != nil {
		return fmt.Errorf("%w: %w", modmirror.ErrInvalid, err)
	}
	loc, err := o.locate(ctx, path)
	if err != nil {
		return err
	}
	place, err := newPlace(loc.root, loc.subdir, path)
	if err != nil {
		return notExist{fmt.Errorf("%s (found by %s): %w", loc.url.Redacted(), loc.source, err)}
	}
	r := o.repo(loc.url)
	fetched, err := o.ensure(ctx, r, fresh)
	if err != nil {
		return err
	}
	err = o.try(ctx, r, place, f)
	if err == nil || fetched || !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	if fetched, ferr := o.ensure(ctx, r, true); ferr != nil {
		return ferr
	} else if fetched {
		err = o.try(ctx, r, place, f)
	}
	return err
}

func (o *Origin) try(ctx context.Context, r *repo, place *modulePlace, f func(*versionResolver) error) error {
	g, err := o.view(ctx, r)
	if err != nil {
		return err
	}
	return versionError(f(newResolver(place, g)))
}

// infoJSON is the .info file the go command writes for a version fetched
// from its origin: Version, Time and where the version came from.
type infoJSON struct {
	Version string
	Time    time.Time
	Origin  *originJSON `json:",omitempty"`
}

type originJSON struct {
	VCS    string `json:",omitempty"`
	URL    string `json:",omitempty"`
	Subdir string `json:",omitempty"`
	Hash   string `json:",omitempty"`
	Ref    string `json:",omitempty"`
}

func (r *versionResolver) infoJSON(v *resolvedVersion) ([]byte, error) {
	return json.Marshal(infoJSON{
		Version: v.Version,
		Time:    v.Time.UTC(),
		Origin: &originJSON{
			VCS:    "git",
			URL:    r.repo.r.remote.Redacted(),
			Subdir: r.dir,
			Hash:   v.Hash,
			Ref:    v.Ref,
		},
	})
}
