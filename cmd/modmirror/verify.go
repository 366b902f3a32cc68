package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"

	"github.com/modmirror/modmirror/checksum"
	"github.com/modmirror/modmirror/fsstore"
	"github.com/modmirror/modmirror/gosum"
	"github.com/modmirror/modmirror/internal/goenv"
	"github.com/modmirror/modmirror/internal/netrc"
	"github.com/modmirror/modmirror/upstream"
)

type verifyCommand struct {
	sumdb   string
	proxy   string
	netrc   string
	cache   string
	nosumdb string

	// stdout defaults to os.Stdout; tests set it.
	stdout io.Writer
}

func (c *verifyCommand) flags() *commandFlags {
	fs := newFlags("verify", "modmirror verify [flags] [go.sum ...]", `
Checks every line of the go.sum files (default ./go.sum) against the checksum
database, verifying what the database says (signed tree heads, inclusion
proofs) as the go command does. Prints each line whose hash differs from the
database's, or that the database does not know, then a summary.

Lines for golang.org/toolchain and for modules matching --nosumdb are skipped.
Exits with status 1 if any line does not match, is missing or is malformed,
or if the database cannot be reached or misbehaves.`)
	fs.StringVar(&c.sumdb, "sumdb", defaultSumDB(), "checksum database to check against, as GOSUMDB: a known `name`, or a verifier key (name+hash+key), optionally followed by a space and the database's URL; default $GOSUMDB")
	fs.StringVar(&c.proxy, "proxy", defaultUpstream(), "proxies in GOPROXY `syntax` through whose /sumdb/<name>/ endpoint the database is read, unless --sumdb gives its URL; default $GOPROXY")
	fs.StringVar(&c.netrc, "netrc", netrc.DefaultFile(), "credentials for the proxy or the database, a .netrc `file` (sent over HTTPS only, to the host they name); default $NETRC or ~/.netrc")
	fs.StringVar(&c.cache, "cache", defaultVerifyCache(), "`directory` keeping verified records and tiles, and the latest verified tree head, so that a database that forks its log is caught on a later run")
	fs.StringVar(&c.nosumdb, "nosumdb", joinPatterns(goenv.Get("GONOSUMDB"), goenv.Get("GOPRIVATE")), "module path `patterns` (GOPRIVATE syntax) whose lines are skipped; default $GONOSUMDB,$GOPRIVATE")
	return fs
}

// Run checks the go.sum files named by args.
func (c *verifyCommand) Run(ctx context.Context, args []string) error {
	if c.stdout == nil {
		c.stdout = os.Stdout
	}
	files, err := c.flags().parse(args, anyArgs)
	if err != nil {
		return err
	}
	if len(files) == 0 {
		files = []string{"go.sum"}
	}
	db, err := checksum.ParseSetting(c.sumdb)
	if err != nil {
		return usagef("--sumdb: %v", err)
	}
	if c.cache == "" {
		return usagef("no cache directory: set --cache, $XDG_CACHE_HOME or $HOME")
	}
	nosumdb, err := parsePatterns("nosumdb", c.nosumdb)
	if err != nil {
		return err
	}
	var lines []gosum.Line
	for _, file := range files {
		ls, err := gosum.ReadFile(file)
		if err != nil {
			return err
		}
		lines = append(lines, ls...)
	}
	opts := gosum.CheckOptions{Skip: func(l gosum.Line) bool { return nosumdb.Match(l.Path) }}
	if !slices.ContainsFunc(lines, func(l gosum.Line) bool { return l.Err == nil && !opts.Skips(l) }) {
		// Nothing for the database: no need to reach it.
		results, failure := gosum.Check(ctx, nil, lines, opts)
		return c.summary(db.Name, results, failure)
	}
	remote, err := c.remote(db)
	if err != nil {
		return err
	}
	if _, _, err := db.ReadLatest(ctx, remote); err != nil {
		return err
	}
	store, err := fsstore.New(filepath.Join(c.cache, "store"))
	if err != nil {
		return err
	}
	v, err := checksum.NewVerifier(checksum.Config{
		Name:     db.Name,
		Key:      db.Key,
		Remote:   remote,
		Store:    store,
		StateDir: filepath.Join(c.cache, "state"),
		// Whatever goes wrong comes back from Check.
		Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		return err
	}
	defer v.Close()
	results, failure := gosum.Check(ctx, v, lines, opts)
	return c.summary(db.Name, results, failure)
}

// summary prints the lines that did not check and a count of each outcome,
// and returns an error if any line did not check. After a failure it prints
// what was established before it, but no counts: the lines after it may not
// have been checked.
func (c *verifyCommand) summary(db string, results []gosum.Result, failure error) error {
	c.report(db, results)
	if failure != nil {
		return failure
	}
	n := gosum.Count(results)
	fmt.Fprintf(c.stdout, "%d lines checked, %d mismatches, %d missing, %d skipped, %d malformed\n",
		n[gosum.OK]+n[gosum.Mismatch]+n[gosum.Missing], n[gosum.Mismatch], n[gosum.Missing], n[gosum.Skipped], n[gosum.Malformed])
	if n[gosum.Mismatch]+n[gosum.Missing]+n[gosum.Malformed] > 0 {
		return fmt.Errorf("go.sum does not check against checksum database %s: %d mismatches, %d missing, %d malformed",
			db, n[gosum.Mismatch], n[gosum.Missing], n[gosum.Malformed])
	}
	return nil
}

// report prints the lines that did not check, in order.
func (c *verifyCommand) report(db string, results []gosum.Result) {
	for _, r := range results {
		switch r.Status {
		case gosum.Mismatch:
			fmt.Fprintf(c.stdout, "%s: %s: go.sum has %s, checksum database %s has %s\n",
				r.Pos(), r.Key(), r.Hash, db, r.Want)
		case gosum.Missing:
			fmt.Fprintf(c.stdout, "%s: %s: not in checksum database %s\n", r.Pos(), r.Key(), db)
		case gosum.Malformed:
			fmt.Fprintf(c.stdout, "%s: malformed go.sum line: %v\n", r.Pos(), r.Err)
		}
	}
}

// remote returns where the database is read from: its URL if the setting
// has one, else the proxies of --proxy. Credentials for the proxy or the
// database's URL come from --netrc (a missing file is no error), sent only
// over HTTPS and only to the host they name, as the go command sends them:
// a mirror that serves private modules to its token holders answers their
// lookups only with a token.
func (c *verifyCommand) remote(db checksum.Setting) (checksum.Remote, error) {
	return sumdbRemote(db, c.proxy, c.netrc)
}

// sumdbRemote is what verify and sumdb audit read a checksum database
// through: its URL if the setting has one, else the proxies, with
// credentials from the .netrc file netrcFile.
func sumdbRemote(db checksum.Setting, proxies, netrcFile string) (checksum.Remote, error) {
	client := upstream.NewClient()
	if netrcFile != "" {
		data, err := os.ReadFile(netrcFile)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("--netrc: %w", err)
		}
		client.Transport = &netrc.Transport{Base: client.Transport, Lines: netrc.Parse(string(data))}
	}
	if db.URL != nil {
		return checksum.NewURLRemote(db.URL, client, "modmirror/"+version()), nil
	}
	r, err := upstream.Parse(proxies, upstream.Options{Client: client, UserAgent: "modmirror/" + version()})
	if err != nil {
		return nil, usagef("--proxy: %v", err)
	}
	return r, nil
}

// defaultVerifyCache is $XDG_CACHE_HOME/modmirror/verify, else the user's
// cache directory's modmirror/verify.
func defaultVerifyCache() string {
	if d := os.Getenv("XDG_CACHE_HOME"); d != "" {
		return filepath.Join(d, "modmirror", "verify")
	}
	if d, err := os.UserCacheDir(); err == nil {
		return filepath.Join(d, "modmirror", "verify")
	}
	return ""
}
