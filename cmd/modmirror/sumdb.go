package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	iofs "io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/modmirror/modmirror/internal/atomicfile"
	"github.com/modmirror/modmirror/sumlog"
	"github.com/modmirror/modmirror/sumlog/postgres"
	"github.com/modmirror/modmirror/sumlog/sqlite"
)

// sumdbCommand dispatches "modmirror sumdb <subcommand>".
type sumdbCommand struct{}

var sumdbCommands = map[string]func() command{
	"keygen": func() command { return &keygenCommand{out: os.Stdout} },
	"audit":  func() command { return new(auditCommand) },
}

func (c *sumdbCommand) Run(ctx context.Context, args []string) error {
	return runSubcommand(ctx, "sumdb", args, sumdbUsage, sumdbCommands)
}

const sumdbUsage = `Usage: modmirror sumdb <subcommand> [flags]

The mirror's own checksum database: a signed, append-only log of the go.sum
lines of every module version the mirror serves, which the go command uses
as its GOSUMDB.

	modmirror sumdb keygen --name NAME --out FILE
	                            write a new signer key; print its verifier key
	modmirror sumdb audit [flags]
	                            check that a database's head is consistent
	                            with the one seen last time

Run "modmirror sumdb <subcommand> --help" for its flags.
`

// keygenCommand writes a new signer key for the mirror's checksum database.
type keygenCommand struct {
	name  string
	file  string
	force bool
	out   io.Writer
}

func (c *keygenCommand) flags() *commandFlags {
	fs := newFlags("sumdb keygen", "modmirror sumdb keygen --name NAME --out FILE", `
Writes a new signer key for the mirror's own checksum database to FILE,
readable only by its owner, and prints the verifier key on the last line of
its output. Serve the database with "modmirror serve --sumdb-key FILE"; point
clients at it with GOSUMDB=<verifier key>.`)
	fs.StringVar(&c.name, "name", "", "`name` of the checksum database, such as sum.corp.example; clients see it in GOSUMDB and in URLs")
	fs.StringVar(&c.file, "out", "", "`file` to write the signer key to (mode 0600); it must not exist")
	fs.BoolVar(&c.force, "force", false, "replace an existing key file (the log signed with the old key can no longer be served)")
	fs.shortName("out", "o")
	return fs
}

// Run implements command.
func (c *keygenCommand) Run(ctx context.Context, args []string) error {
	if _, err := c.flags().parse(args, noArgs); err != nil {
		return err
	}
	if c.name == "" || c.file == "" {
		return usageError{err: errors.New("--name and --out are required")}
	}
	skey, vkey, err := sumlog.GenerateKey(c.name)
	if err != nil {
		return usageError{err: err}
	}
	if err := writeKeyFile(c.file, skey, c.force); err != nil {
		return err
	}
	fmt.Fprintf(c.out, "wrote the signer key of %s to %s; keep it secret\n", c.name, c.file)
	fmt.Fprintf(c.out, "serve it with: modmirror serve --sumdb-key %s\n", c.file)
	fmt.Fprintf(c.out, "clients use GOSUMDB with the verifier key:\n%s\n", vkey)
	return nil
}

// writeKeyFile writes a signer key durably with mode 0600, refusing to
// replace an existing file unless force is set.
func writeKeyFile(file, skey string, force bool) error {
	if err := os.MkdirAll(filepath.Dir(file), 0o700); err != nil {
		return err
	}
	if force {
		return atomicfile.Write(file, []byte(skey+"\n"), 0o600)
	}
	// An existing key is never lost.
	err := atomicfile.Create(file, []byte(skey+"\n"), 0o600)
	if errors.Is(err, iofs.ErrExist) {
		return fmt.Errorf("%s exists; refusing to replace a signer key (use --force)", file)
	}
	return err
}

// readKeyFile reads a signer key file, refusing one that others can read.
func readKeyFile(file string) (string, error) {
	fi, err := os.Stat(file)
	if err != nil {
		return "", err
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return "", fmt.Errorf("signer key %s has mode %v: it must be readable only by its owner (chmod 600)", file, fi.Mode().Perm())
	}
	data, err := os.ReadFile(file)
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(string(data)), nil
}

// openLogStorage opens the log storage named by a --sumdb-db setting: an
// sqlite:// URL or a file path (empty means <data>/sumdb.db), or a
// postgres:// URL. It returns the storage and its name for logs.
func openLogStorage(setting, data string) (sumlog.Storage, string, error) {
	db, err := parseDBSetting(setting, filepath.Join(data, "sumdb.db"))
	if err != nil {
		return nil, "", err
	}
	if db.file != "" {
		st, err := sqlite.Open(db.file)
		return st, db.file, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	st, err := postgres.Open(ctx, db.url)
	if err != nil {
		return nil, "", fmt.Errorf("%s: %w", db.shown, err)
	}
	return st, db.shown, nil
}

// A dbSetting is a parsed database flag: an SQLite file or a PostgreSQL
// URL.
type dbSetting struct {
	file  string // SQLite
	url   string // PostgreSQL, with its password
	shown string // the URL without it, for messages
}

// parseDBSetting parses a database flag: empty (defaultFile),
// sqlite:///path, a file path, or postgres://... (postgresql:// too).
func parseDBSetting(setting, defaultFile string) (dbSetting, error) {
	if setting == "" {
		return dbSetting{file: defaultFile}, nil
	}
	u, err := url.Parse(setting)
	if err != nil || u.Scheme == "" || u.Scheme == "file" {
		if err == nil && u.Scheme == "file" {
			return dbSetting{file: u.Path}, nil
		}
		return dbSetting{file: setting}, nil
	}
	switch u.Scheme {
	case "sqlite", "sqlite3":
		if u.Host != "" {
			return dbSetting{file: u.Host + u.Path}, nil // sqlite://relative/path
		}
		return dbSetting{file: u.Path}, nil
	case "postgres", "postgresql":
		return dbSetting{url: setting, shown: redactPostgresURL(u)}, nil
	}
	return dbSetting{}, fmt.Errorf("unknown database URL scheme %q (want sqlite:///path or postgres://...)", u.Scheme)
}

// redactPostgresURL returns u for logs: without its password, in the
// user information or in the query.
func redactPostgresURL(u *url.URL) string {
	r := *u
	if q := r.Query(); q.Has("password") {
		q.Set("password", "xxxxx")
		r.RawQuery = q.Encode()
	}
	return r.Redacted()
}
