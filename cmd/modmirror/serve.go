package main

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/modmirror/modmirror"
	"github.com/modmirror/modmirror/access"
	"github.com/modmirror/modmirror/accesslog"
	"github.com/modmirror/modmirror/cachestore"
	"github.com/modmirror/modmirror/catalog"
	"github.com/modmirror/modmirror/checksum"
	"github.com/modmirror/modmirror/diskcache"
	"github.com/modmirror/modmirror/fsstore"
	"github.com/modmirror/modmirror/internal/activity"
	"github.com/modmirror/modmirror/internal/datadir"
	"github.com/modmirror/modmirror/internal/gcfloor"
	"github.com/modmirror/modmirror/internal/goenv"
	"github.com/modmirror/modmirror/internal/metrics"
	"github.com/modmirror/modmirror/mirror"
	"github.com/modmirror/modmirror/pgstate"
	"github.com/modmirror/modmirror/policy"
	"github.com/modmirror/modmirror/proxy"
	"github.com/modmirror/modmirror/s3store"
	"github.com/modmirror/modmirror/sumlog"
	"github.com/modmirror/modmirror/upstream"
	"github.com/modmirror/modmirror/vulndb"
	"github.com/modmirror/modmirror/web"
)

type serveCommand struct {
	listen       string
	data         string
	dataPerm     string
	store        string
	upstream     string
	private      string
	nosumdb      string
	sumdb        string
	sumdbKey     string
	sumdbDB      string
	sharedDB     string
	tokensDB     string
	catalogDB    string
	accessLog    string
	trusted      string
	offline      bool
	listTTL      time.Duration
	fillAhead    bool
	basePath     string
	fetchTimeout time.Duration
	idleTimeout  time.Duration
	memoryCache  int64
	diskCache    int64
	logFormat    string
	logLevel     string
	tls          tlsFlags    // tls.go
	origin       originFlags // originflags.go
	access       accessFlags // token.go
	policy       policyFlags // policyflags.go
}

func (c *serveCommand) flags() *commandFlags {
	f := newFlags("serve", "modmirror serve [flags]", `
Runs the mirror: a GOPROXY server that fills its store from the upstream,
verifies every public module against the checksum database before storing
or serving it, and proxies that checksum database for clients.

Point the go command at it with GOPROXY=http://<listen address>
(https:// with --tls-cert).
The store is a GOPROXY=file:// directory: <data>/cache/download.

The defaults of --upstream, --sumdb, --private, --nosumdb and
--origin-insecure come from GOPROXY, GOSUMDB, GOPRIVATE and GONOPROXY,
GONOSUMDB and GOINSECURE, read as the go command reads them: from the
environment, else from the file "go env -w" writes.`)
	f.group("Listening")
	f.StringVar(&c.listen, "listen", "127.0.0.1:3000", "`address` to listen on")
	f.StringVar(&c.basePath, "base-path", "", "serve the GOPROXY protocol under this `path` prefix, such as /go")
	c.tls.register(f.FlagSet)

	f.group("Store")
	f.StringVar(&c.data, "data", defaultDataDir(), "data `directory`: the store is its cache/download subdirectory; one serve process at a time")
	f.StringVar(&c.dataPerm, "data-perm", string(datadir.Private), "who besides the mirror's user may read the data directory: `private` (directories 0700, files 0600), group (0750, 0640) or world (0755, 0644), for a backup user or a web server serving the store; existing files are changed to match at start")
	f.StringVar(&c.store, "store", "", "where module files are stored: `URL` file:///path, or s3://BUCKET/PREFIX?endpoint=HOST:PORT&region=R (insecure=true for http, create=true to make the bucket), with credentials from AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY or ~/.aws/credentials; default file://<data>/cache/download")
	f.Int64Var(&c.diskCache, "disk-cache-mb", 1024, "`MiB` of local disk (in the data directory, emptied at start) for copies of the files of an S3 store too large for the memory cache, served by sendfile rather than streamed from the bucket; 0 turns it off")
	f.Int64Var(&c.memoryCache, "memory-cache-mb", 64, "`MiB` of memory for keeping small stored files (up to 64 KiB each in front of the data directory, whose larger files go out by sendfile; up to 128 KiB over TLS, which has no sendfile, and in front of an S3 store), so hits skip the store; 0 turns it off")
	f.BoolVar(&c.offline, "offline", false, "serve from the store only, never asking the upstream")
	f.StringVar(&c.catalogDB, "catalog-db", "", "`database` of the catalog, the index of stored versions (first stored, source, sizes, last served): sqlite:///path/file.db, a file path, or postgres://user:pass@host/db; default --shared-db, else <data>/catalog.db; off for none")

	f.group("Upstream")
	f.StringVar(&c.upstream, "upstream", defaultUpstream(), "upstream proxies in GOPROXY `syntax` (\",\" falls through on not-found, \"|\" on any error); default $GOPROXY")
	f.DurationVar(&c.fetchTimeout, "fetch-timeout", 10*time.Minute, "time limit for fetching one module zip from the upstream; other files, and each checksum database request, get a tenth of it")
	f.DurationVar(&c.idleTimeout, "upstream-idle-timeout", upstream.DefaultIdleTimeout, "an upstream answer that goes this long without a byte fails the fill, so a stalled upstream does not hold clients until --fetch-timeout")
	f.DurationVar(&c.listTTL, "list-ttl", time.Minute, "how long an upstream /@v/list or /@latest answer is reused")
	f.BoolVar(&c.fillAhead, "fill-ahead", true, "when a version's .info is missed and its go.mod is stored or asked for, fill its zip too, as \"go mod download\" asks for it next (verified and stored as any fill, served only when asked for)")

	f.group("Private modules")
	f.StringVar(&c.private, "private", joinPatterns(goenv.Get("GOPRIVATE"), goenv.Get("GONOPROXY")), "comma-separated module path `patterns` (GOPRIVATE syntax) never sent upstream or to the checksum database; default $GOPRIVATE,$GONOPROXY")
	c.origin.register(f.FlagSet)

	f.group("Checksum databases")
	f.StringVar(&c.sumdb, "sumdb", defaultSumDB(), "checksum database that verifies public modules, as GOSUMDB (`name[+key]`), or off; default $GOSUMDB")
	f.StringVar(&c.nosumdb, "nosumdb", goenv.Get("GONOSUMDB"), "module path `patterns` fetched from the upstream without a checksum database check; default $GONOSUMDB")
	f.StringVar(&c.sumdbKey, "sumdb-key", "", "signer key `file` (from \"modmirror sumdb keygen\"): serve the mirror's own checksum database, which records every module version served, at /sumdb/<name>/")
	f.StringVar(&c.sumdbDB, "sumdb-db", "", "`database` of the own checksum database: sqlite:///path/file.db, a file path, or postgres://user:pass@host/db (shared by replicas); default --shared-db, else <data>/sumdb.db")

	f.group("Policy")
	c.policy.register(f.FlagSet)

	f.group("Replicas")
	f.StringVar(&c.sharedDB, "shared-db", "", "PostgreSQL `URL` (postgres://user:pass@host/db) of what replicas share: tokens, the verified tree heads of the checksum databases, the locks that make one replica fill a missing file, and the own checksum database; without it, they are in the data directory")

	f.group("Access")
	c.access.register(f.FlagSet)
	f.StringVar(&c.tokensDB, "tokens-db", "", "`database` of the client tokens: sqlite:///path/file.db, a file path, or postgres://user:pass@host/db; default --shared-db, else <data>/tokens.db")

	f.group("Logging")
	f.StringVar(&c.accessLog, "access-log", "off", "where the access log goes, a line per request (client, token name, method, path, status, bytes, duration, hit or miss): off, log (the mirror's log), or a `file` to append to, in --log-format; it is the audit trail of who read which private module, and costs about 1.6 µs a hit")
	f.StringVar(&c.trusted, "trusted-proxies", "", "comma-separated `addresses` and CIDR prefixes of proxies in front of the mirror whose X-Forwarded-For names the client in the access log; anyone else's is ignored")
	f.StringVar(&c.logFormat, "log-format", "text", "log `format`: text or json")
	f.StringVar(&c.logLevel, "log-level", "info", "log `level`: debug, info, warn or error")
	f.fromEnv()
	return f
}

// Run runs the mirror until ctx is done, then shuts down gracefully.
func (c *serveCommand) Run(ctx context.Context, args []string) error {
	if _, err := c.flags().parse(args, noArgs); err != nil {
		return err
	}
	log, err := newLogger(os.Stderr, c.logFormat, c.logLevel)
	if err != nil {
		return usageError{err: err}
	}
	if err := c.tls.load(); err != nil {
		return err
	}
	handler, metrics, closeAll, err := c.handler(ctx, log)
	if err != nil {
		return err
	}
	defer closeAll()
	if gcfloor.Enabled() {
		// Hits allocate a few KiB each, and a small heap would be
		// collected dozens of times a second (package gcfloor).
		gctx, stop := context.WithCancel(ctx)
		defer stop()
		go gcfloor.Run(gctx)
		log.Debug("garbage collection: GOGC is unset, so a cycle waits for the heap to grow by a floor while the live heap is small, then GOGC=100",
			"floor MiB", gcfloor.Floor>>20, "max GOGC", gcfloor.MaxPercent)
	}
	ln, err := net.Listen("tcp", c.listen)
	if err != nil {
		return err
	}
	if metrics != nil {
		mln, err := net.Listen("tcp", c.access.metricsListen)
		if err != nil {
			ln.Close()
			return fmt.Errorf("--metrics-listen: %w", err)
		}
		msrv := &http.Server{Handler: metrics, ReadHeaderTimeout: 10 * time.Second, ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
		log.Info("serving metrics", "url", "http://"+mln.Addr().String()+"/metrics")
		go msrv.Serve(mln)
		defer msrv.Close()
	}
	srv := &http.Server{
		Handler:           handler,
		ConnContext:       proxy.ConnContext, // corks large responses
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       time.Minute,
		// Long enough to send a 500 MiB zip to a slow client.
		WriteTimeout: c.fetchTimeout + 30*time.Minute,
		IdleTimeout:  2 * time.Minute,
		ErrorLog:     slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	log.Info("serving", "url", c.tls.scheme()+"://"+ln.Addr().String()+c.basePath, "version", version())
	errc := make(chan error, 1)
	go func() { errc <- c.tls.serve(srv, ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	log.Info("shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	return nil
}

// handler builds the whole HTTP handler from the flags, and, with
// --metrics-listen, the handler of that address (else metrics is nil and
// /metrics is part of the main handler). closeAll finishes the work left in
// the background and closes the databases; call it once the servers have
// stopped.
func (c *serveCommand) handler(ctx context.Context, log *slog.Logger) (_, metricsHandler http.Handler, _ func(), err error) {
	var closers []func() error
	closeAll := func() {
		for i := len(closers) - 1; i >= 0; i-- {
			if err := closers[i](); err != nil {
				log.Warn("closing", "err", err)
			}
		}
	}
	defer func() {
		if err != nil {
			closeAll()
		}
	}()
	if c.memoryCache < 0 || c.diskCache < 0 {
		return nil, nil, nil, usageError{err: errors.New("--memory-cache-mb and --disk-cache-mb must not be negative")}
	}
	if c.fetchTimeout <= 0 || c.idleTimeout <= 0 || c.listTTL <= 0 {
		return nil, nil, nil, usagef("--fetch-timeout, --upstream-idle-timeout and --list-ttl must be positive")
	}
	// A pattern that matches nothing could send a private path upstream:
	// refuse to start rather than leak.
	private, err := parsePatterns("private", c.private)
	if err != nil {
		return nil, nil, nil, err
	}
	nosumdb, err := parsePatterns("nosumdb", c.nosumdb)
	if err != nil {
		return nil, nil, nil, err
	}
	if err := c.origin.check(); err != nil {
		return nil, nil, nil, err
	}
	if err := c.checkUpstream(); err != nil {
		return nil, nil, nil, err
	}
	if c.data == "" {
		return nil, nil, nil, usageError{err: errors.New("no data directory: set --data or $HOME")}
	}
	perm, err := datadir.ParsePerm(c.dataPerm)
	if err != nil {
		return nil, nil, nil, usagef("--data-perm: %v", err)
	}
	// Before anything is written: the data directory's lock, leftovers
	// and permissions (and so the process's umask).
	dir, err := datadir.Open(c.data, datadir.Options{Perm: perm, ReadOnly: c.offline, Logger: log})
	if err != nil {
		return nil, nil, nil, err
	}
	closers = append(closers, dir.Close)
	if dir.ReadOnly && c.sumdbKey != "" {
		return nil, nil, nil, usagef("the data directory %s cannot be written, and the own checksum database (--sumdb-key) appends to it", dir.Path)
	}
	shared, err := openShared(ctx, c.sharedDB)
	if err != nil {
		return nil, nil, nil, err
	}
	if shared.db != nil {
		closers = append(closers, shared.db.Close)
		log.Info("sharing state with other replicas", "db", shared.db.String())
	}
	tmpDir := filepath.Join(dir.Path, "tmp")
	if !dir.ReadOnly {
		if err := os.MkdirAll(tmpDir, 0o777); err != nil {
			return nil, nil, nil, err
		}
	}
	backend, err := c.openStore(ctx, dir.Path, tmpDir)
	if err != nil {
		return nil, nil, nil, err
	}
	store := backend
	inMemory := memoryCacheMaxFile(backend, c.tls.scheme() == "https")
	var minCopied int64 // the disk cache's smallest file: what memory does not keep
	if c.memoryCache > 0 {
		minCopied = inMemory + 1
	}
	if _, remote := backend.(*s3store.Store); remote && c.diskCache > 0 && !dir.ReadOnly {
		dc, err := diskcache.New(backend, filepath.Join(dir.Path, "diskcache"), c.diskCache<<20, minCopied, log)
		if err != nil {
			return nil, nil, nil, err
		}
		store = dc
		log.Info("disk cache", "MiB", c.diskCache, "smallest file", minCopied)
	}
	if c.memoryCache > 0 {
		store = cachestore.New(store, c.memoryCache<<20, inMemory)
	}
	if fs, ok := backend.(*fsstore.Store); ok {
		log.Info("data directory", "dir", dir.Path, "store", fs.Root(), "GOPROXY", "file://"+filepath.ToSlash(fs.Root()))
	} else {
		log.Info("data directory", "dir", dir.Path, "store", fmt.Sprint(backend))
	}

	m := metrics.New()
	act := new(activity.Log)
	var orig modmirror.Upstream
	if c.origin.needed(private, c.upstream) && !c.offline {
		o, err := c.origin.open(c.data, log)
		if err != nil {
			return nil, nil, nil, err
		}
		orig = o
	}
	// The name this process gives itself in the Via header of its
	// upstream requests, to catch an upstream that leads back to it.
	via := "modmirror-" + rand.Text()[:10]
	chain, err := upstream.Parse(c.upstream, upstream.Options{
		Direct:      orig,
		UserAgent:   "modmirror/" + version(),
		Via:         via,
		IdleTimeout: c.idleTimeout,
		Observe: func(f upstream.Fetch) {
			result := "ok"
			switch {
			case f.Status == 403 || f.Status == 404 || f.Status == 410:
				result = "notfound"
			case f.Err != nil:
				result = "error"
			}
			m.Fetch(f.Upstream, f.Kind, result, f.Duration, f.Bytes)
			af := activity.Fetch{Time: time.Now(), Upstream: f.Upstream, Kind: f.Kind, Status: f.Status, Duration: f.Duration}
			if f.Err != nil {
				af.Err = f.Err.Error()
			}
			act.AddFetch(af)
		},
	})
	if err != nil {
		return nil, nil, nil, usageError{err: fmt.Errorf("--upstream: %w", err)}
	}

	var cat *catalog.Catalog
	switch {
	case c.catalogDB == "off":
	case dir.ReadOnly && c.catalogDB == "" && c.sharedDB == "":
		log.Info("catalog: off, as the data directory cannot be written (--catalog-db names another place)")
	default:
		s, name, err := openCatalogStorage(ctx, c.catalogDB, c.sharedDB, dir.Path)
		if err != nil {
			return nil, nil, nil, err
		}
		cat = catalog.New(s, log.WithGroup("catalog"))
		closers = append(closers, cat.Close)
		log.Info("catalog", "db", name)
		rebuildIfEmpty(ctx, s, store, log)
	}

	var seen policy.FirstSeen
	if cat != nil {
		seen = cat
	}
	pol, polData, err := c.policy.open(log.WithGroup("policy"), seen)
	if err != nil {
		return nil, nil, nil, err
	}

	cfg := mirror.Config{
		Store:        store,
		Upstream:     chain,
		Private:      private.Match,
		Origin:       orig,
		NoSumDB:      nosumdb.Match,
		Locker:       shared.locker(),
		Offline:      c.offline,
		FillAhead:    c.fillAhead,
		ListTTL:      c.listTTL,
		FetchTimeout: c.fetchTimeout,
		TempDir:      tmpDir,
		Logger:       log.WithGroup("mirror"),
		Metrics:      m,
		Activity:     act,
	}
	var webSumDBs []web.SumDB
	if cat != nil {
		cfg.Catalog = cat
	}
	sumdbs := map[string]http.Handler{}
	if c.sumdb != "off" {
		db, err := proxiedSumDB(c.sumdb)
		if err != nil {
			return nil, nil, nil, usagef("--sumdb: %v", err)
		}
		name := db.Name
		var remote checksum.Remote = chain
		if c.offline {
			remote = offlineRemote{}
		}
		verifier, err := checksum.NewVerifier(checksum.Config{
			Name:     name,
			Key:      db.Key,
			Remote:   remote,
			Store:    store,
			StateDir: filepath.Join(c.data, "sumdb"),
			Heads:    shared.heads(),
			Logger:   log.WithGroup("sumdb"),
			// As long as a fill of a .mod may take: a shorter
			// --fetch-timeout is honoured by verification too.
			Timeout: c.fetchTimeout / 10,
		})
		if err != nil {
			return nil, nil, nil, err
		}
		cfg.Checker = verifier
		webSumDBs = append(webSumDBs, web.SumDB{Name: name, Size: func() (int64, string, error) {
			t, err := verifier.Tree()
			return t.N, t.Hash.String(), err
		}})
		sumdbs[name] = checksum.NewProxy(verifier, checksum.ProxyOptions{Private: private.Match})
		log.Info("verifying public modules", "sumdb", name)
	} else {
		log.Warn("checksum database verification is off: modules are stored as the upstream serves them")
	}
	var mir *mirror.Mirror
	ownName := ""
	if c.sumdbKey != "" {
		own, closeLog, err := c.openLog(ctx, log, func(ctx context.Context, path, version string) ([]byte, error) {
			return mir.GoSum(ctx, path, version)
		})
		if err != nil {
			return nil, nil, nil, err
		}
		registerLogMetrics(m.Registry(), own)
		closers = append(closers, closeLog)
		if _, ok := sumdbs[own.Name()]; ok {
			return nil, nil, nil, usageError{err: fmt.Errorf("--sumdb-key: the mirror's own checksum database must not be named %s, like the one it verifies against", own.Name())}
		}
		cfg.Recorder = own
		webSumDBs = append(webSumDBs, web.SumDB{Name: own.Name(), Own: true, Size: func() (int64, string, error) {
			h := own.Head()
			return h.Size, signedHash(h.Signed), nil
		}})
		sumdbs[own.Name()] = own
		ownName = own.Name()
	}
	mir, err = mirror.New(cfg)
	if err != nil {
		return nil, nil, nil, err
	}
	closers = append(closers, mir.Close)
	// The policy's background work (reloading the file, refreshing the
	// vulnerability database) ends with the server.
	pctx, stopPolicy := context.WithCancel(ctx)
	closers = append(closers, func() error { stopPolicy(); return nil })
	pol.start(pctx, polData, mir, tmpDir, seen)
	src := &policy.Filter{Source: mir, Checker: pol.checker, Matched: matched(log.WithGroup("policy"), m, act)}
	ph, err := proxy.New(src, proxy.Options{
		HidePaths:  c.serverPaths(dir.Path),
		Via:        via,
		BasePath:   c.basePath,
		SumDB:      sumdbs,
		ListMaxAge: c.listTTL,
		Logger:     log.WithGroup("http"),
		Metrics:    m,
	})
	if err != nil {
		return nil, nil, nil, usageError{err: err}
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {
		// The process is alive; /readyz says whether it can serve.
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		fmt.Fprintln(w, "ok")
	})
	deps := []dependency{{"store", pinger(store)}}
	if cat != nil {
		deps = append(deps, dependency{"catalog", cat})
	}
	if shared.db != nil {
		deps = append(deps, dependency{"shared database", shared.db})
	}
	if cfg.Recorder != nil {
		deps = append(deps, dependency{"own checksum database", pinger(cfg.Recorder)})
	}
	// The pages and feeds, beside the protocol, behind the same access
	// rules: what they show of private paths is what the reader's token
	// allows (canSee, set by guard).
	var canSee func(*http.Request, string) bool
	webOpts := web.Options{
		Activity: act,
		Gatherer: m.Registry(),
		SumDBs:   webSumDBs,
		CanSee: func(r *http.Request, path string) bool {
			return canSee == nil || canSee(r, path)
		},
		Policy:   pol.info,
		Version:  version(),
		Upstream: c.upstream,
		Logger:   log.WithGroup("web"),
	}
	if cat != nil {
		webOpts.Catalog = cat
	}
	wh := web.New(webOpts)
	closers = append(closers, wh.Close)
	inner := http.NewServeMux()
	for _, p := range web.Patterns {
		inner.Handle(p, wh)
	}
	inner.Handle("/", ph)
	inner.Handle(policy.CheckPath, policy.Handler(pol.checker, func(r *http.Request, path string) bool {
		return canSee == nil || canSee(r, path)
	}))
	if pol.module != "" {
		inner.Handle("/vuln/", http.StripPrefix("/vuln", vulndb.Handler(pol.vulns)))
		if pol.eager {
			deps = append(deps, dependency{"vulnerability database", vulnReady{pol.vulns}})
		}
	}
	guarded, metricsHandler, tokens, ah, err := c.guard(inner, m.Handler(), private, ownName, c.tokenOpener(shared), log, m.Registry(), act)
	if err != nil {
		return nil, nil, nil, err
	}
	if ah != nil {
		canSee = ah.CanSee
	}
	if tokens != nil {
		closers = append(closers, tokens.Close)
		deps = append(deps, dependency{"tokens", pinger(tokens)})
	}
	mux.Handle("/readyz", readiness(deps, log))
	logged, closeLog, err := c.withAccessLog(guarded, log)
	if err != nil {
		return nil, nil, nil, err
	}
	closers = append(closers, closeLog)
	mux.Handle("/", logged)
	if c.access.metricsListen == "" {
		mux.Handle("/metrics", metricsHandler)
		return mux, nil, closeAll, nil
	}
	return mux, metricsHandler, closeAll, nil
}

// checkUpstream checks --upstream before anything is opened: its syntax,
// and that it does not name the mirror's own listening address.
func (c *serveCommand) checkUpstream() error {
	chain, err := upstream.Parse(c.upstream, upstream.Options{})
	if err != nil {
		return usagef("--upstream: %v", err)
	}
	if addr, err := net.ResolveTCPAddr("tcp", c.listen); err == nil && addr.Port != 0 && !c.offline {
		if u, ok := chain.LeadsTo(addr); ok {
			return usagef("--upstream %s is this mirror's own address (--listen %s): every miss would come back to it; the default comes from $GOPROXY, which clients of the mirror set to the mirror", u, c.listen)
		}
	}
	return nil
}

// sharedState is what --shared-db opens: a database of the state that
// replicas share, or none.
type sharedState struct{ db *pgstate.DB }

func openShared(ctx context.Context, setting string) (sharedState, error) {
	if setting == "" {
		return sharedState{}, nil
	}
	db, err := parseDBSetting(setting, "")
	if err != nil || db.url == "" {
		return sharedState{}, usagef("--shared-db: want postgres://user:password@host/db")
	}
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	pg, err := pgstate.Open(ctx, db.url)
	if err != nil {
		return sharedState{}, fmt.Errorf("--shared-db %s: %w", db.shown, err)
	}
	return sharedState{pg}, nil
}

func (s sharedState) heads() checksum.HeadStore {
	if s.db == nil {
		return nil
	}
	return s.db.Heads()
}

func (s sharedState) locker() mirror.Locker {
	if s.db == nil {
		return nil
	}
	return s.db.Locks()
}

// tokenOpener returns how the token store is opened, when one is needed:
// --tokens-db, else the shared database, else <data>/tokens.db.
func (c *serveCommand) tokenOpener(shared sharedState) func() (access.TokenStore, error) {
	return func() (access.TokenStore, error) {
		if c.tokensDB == "" && shared.db != nil {
			return shared.db.Tokens(), nil // closed with the database
		}
		return (&tokenStoreFlags{data: c.data, db: c.tokensDB}).open(true)
	}
}

// openStore opens the store that --store names: a directory (by default
// the data directory's cache/download) or an S3 bucket, whose uploads of
// unknown size are spooled in tmpDir.
func (c *serveCommand) openStore(ctx context.Context, data, tmpDir string) (modmirror.Store, error) {
	return openStore(ctx, c.store, data, tmpDir)
}

// openStore opens the store of a --store setting: "" for the data
// directory's, file:///path or s3://bucket/prefix.
func openStore(ctx context.Context, setting, data, tmpDir string) (modmirror.Store, error) {
	switch {
	case setting == "":
		return fsstore.New(filepath.Join(data, "cache", "download"))
	case strings.HasPrefix(setting, "file://"):
		u, err := url.Parse(setting)
		if err != nil || u.Host != "" || u.Path == "" || u.RawQuery != "" {
			return nil, usagef("--store %s: want file:///absolute/path", setting)
		}
		return fsstore.New(filepath.FromSlash(u.Path))
	case strings.HasPrefix(setting, "s3://"):
		cfg, err := s3store.ParseURL(setting)
		if err != nil {
			return nil, usagef("--store: %v", err)
		}
		cfg.TempDir = tmpDir
		return s3store.Open(ctx, cfg)
	}
	return nil, usagef("--store %s: want file:///path or s3://bucket/prefix", setting)
}

// serverPaths are the directories whose names must never show in an
// answer: the data directory and any other that the flags put elsewhere.
func (c *serveCommand) serverPaths(data string) []string {
	paths := []string{data}
	if abs, err := filepath.Abs(c.origin.cache); c.origin.cache != "" && err == nil {
		paths = append(paths, abs)
	}
	for _, file := range []string{c.sumdbDB, c.sumdbKey} {
		if abs, err := filepath.Abs(file); file != "" && !strings.Contains(file, "://") && err == nil {
			paths = append(paths, filepath.Dir(abs))
		}
	}
	return paths
}

// registerLogMetrics exports the own checksum database's counters.
func registerLogMetrics(reg *prometheus.Registry, l *sumlog.Log) {
	reg.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "modmirror_sumdb_records",
			Help: "Records in the mirror's own checksum database.",
		}, func() float64 { return float64(l.Stats().Size) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "modmirror_sumdb_appended_records_total",
			Help: "Records this process appended to the mirror's own checksum database.",
		}, func() float64 { return float64(l.Stats().Appended) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "modmirror_sumdb_append_batches_total",
			Help: "Appends (transactions, each with one new signed head) this process made to the mirror's own checksum database.",
		}, func() float64 { return float64(l.Stats().Batches) }),
	)
}

// openLog opens the mirror's own checksum database from --sumdb-key and
// --sumdb-db. fill records a version the log does not have yet.
func (c *serveCommand) openLog(ctx context.Context, log *slog.Logger, fill func(ctx context.Context, path, version string) ([]byte, error)) (*sumlog.Log, func() error, error) {
	skey, err := readKeyFile(c.sumdbKey)
	if err != nil {
		return nil, nil, usageError{err: fmt.Errorf("--sumdb-key: %w", err)}
	}
	setting := c.sumdbDB
	if setting == "" {
		setting = c.sharedDB
	}
	st, file, err := openLogStorage(setting, c.data)
	if err != nil {
		return nil, nil, fmt.Errorf("--sumdb-db: %w", err)
	}
	own, err := sumlog.Open(ctx, sumlog.Config{
		Storage:     st,
		SignerKey:   skey,
		Fill:        fill,
		FillTimeout: c.fetchTimeout,
		HeadFile:    filepath.Join(c.data, "sumdb.head"),
		Logger:      log.WithGroup("sumlog"),
	})
	if err != nil {
		st.Close()
		return nil, nil, err
	}
	log.Info("serving the mirror's own checksum database", "name", own.Name(), "records", own.Head().Size, "db", file,
		"GOSUMDB", own.VerifierKey(), "url", "/sumdb/"+own.Name())
	return own, func() error { return errors.Join(own.Close(), st.Close()) }, nil
}

// offlineRemote is the checksum database remote of an offline mirror: it has
// nothing, so the database is served from what the store keeps.
type offlineRemote struct{}

func (offlineRemote) ReadSumDB(ctx context.Context, name, path string) ([]byte, error) {
	return nil, modmirror.NotFound("checksum database %s%s: not stored, and the mirror is offline", name, path)
}

// proxiedSumDB parses --sumdb, a GOSUMDB-style setting, for a database
// that the mirror reaches through its upstream's /sumdb/<name>/ endpoint:
// a URL after the key is not supported.
func proxiedSumDB(setting string) (checksum.Setting, error) {
	s, err := checksum.ParseSetting(setting)
	if err != nil {
		return s, err
	}
	if s.URL != nil {
		return s, fmt.Errorf("%q: a checksum database URL is not supported; the database is reached through the upstream's /sumdb/ endpoint", setting)
	}
	return s, nil
}

// parsePatterns parses the module path patterns of a flag. An invalid
// pattern is a usage error that names the flag and the pattern.
func parsePatterns(flagName, list string) (modmirror.Patterns, error) {
	p, err := modmirror.ParsePatterns(list)
	if err != nil {
		return p, usagef("--%s: %v", flagName, err)
	}
	return p, nil
}

func joinPatterns(lists ...string) string {
	var out []string
	for _, l := range lists {
		if l = strings.Trim(l, ", "); l != "" {
			out = append(out, l)
		}
	}
	return strings.Join(out, ",")
}

// defaultUpstream is $GOPROXY (from the environment or the go env file),
// else proxy.golang.org.
func defaultUpstream() string {
	if v := goenv.Get("GOPROXY"); v != "" {
		return v
	}
	return "https://proxy.golang.org"
}

// defaultSumDB is $GOSUMDB (from the environment or the go env file), else
// sum.golang.org.
func defaultSumDB() string {
	if v := goenv.Get("GOSUMDB"); v != "" {
		return v
	}
	return "sum.golang.org"
}

// defaultDataDir is $XDG_DATA_HOME/modmirror, else ~/.local/share/modmirror.
func defaultDataDir() string {
	if d := os.Getenv("XDG_DATA_HOME"); d != "" {
		return filepath.Join(d, "modmirror")
	}
	if home, err := os.UserHomeDir(); err == nil {
		return filepath.Join(home, ".local", "share", "modmirror")
	}
	return ""
}

func newLogger(w io.Writer, format, level string) (*slog.Logger, error) {
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level: %w", err)
	}
	opts := &slog.HandlerOptions{Level: lvl}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("--log-format: %q is not text or json", format)
}

// signedHash returns the tree hash of a signed tree head ("<name>\n<size>\n
// <hash>\n\n<signature>"), or "" if it has none.
func signedHash(signed []byte) string {
	lines := strings.SplitN(string(signed), "\n", 4)
	if len(lines) < 3 {
		return ""
	}
	return lines[2]
}

// withAccessLog wraps h in the access log that --access-log and
// --trusted-proxies ask for, and returns what closes its file.
func (c *serveCommand) withAccessLog(h http.Handler, log *slog.Logger) (http.Handler, func() error, error) {
	trusted, err := accesslog.ParseTrusted(c.trusted)
	if err != nil {
		return nil, nil, usagef("--trusted-proxies: %v", err)
	}
	switch c.accessLog {
	case "off", "":
		return h, func() error { return nil }, nil
	case "log":
		return accesslog.Handler(h, accesslog.Options{Logger: log.WithGroup("access"), Trusted: trusted}), func() error { return nil }, nil
	}
	f, err := os.OpenFile(c.accessLog, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
	if err != nil {
		return nil, nil, fmt.Errorf("--access-log: %w", err)
	}
	flog, err := newLogger(f, c.logFormat, "info")
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	return accesslog.Handler(h, accesslog.Options{Logger: flog, Trusted: trusted}), f.Close, nil
}

// memoryCacheMaxFile is the largest file the memory cache keeps in front of
// a store. In front of the file system store, files of up to 64 KiB are
// kept: written from memory in one Write through a pooled buffer, a hit of
// 10-32 KiB is 18-35% faster than by sendfile(2) from the page cache, while
// at 100 KiB sendfile is as fast (docs/BENCHMARKS.md, "Every figure of
// issue 13 in one run"). Over TLS there is no sendfile, and a file is read
// and encrypted either way, so memory saves the open, stat, read and close
// of every hit: files of up to 128 KiB are kept. In front of an object
// store every file read is a request over the network: 128 KiB too.
func memoryCacheMaxFile(backend modmirror.Store, tls bool) int64 {
	if _, ok := backend.(*fsstore.Store); ok && !tls {
		return 64 << 10
	}
	return 128 << 10
}
