package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	iofs "io/fs"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/modmirror/modmirror"
	"github.com/modmirror/modmirror/access"
	"github.com/modmirror/modmirror/internal/activity"
	"github.com/modmirror/modmirror/pgstate"
)

// This file holds "modmirror token ..." and serve's access control, which
// checks the tokens it makes.

// tokenFile is the token database in a data directory.
func tokenFile(data string) string { return filepath.Join(data, "tokens.db") }

// tokenCommand dispatches "modmirror token <subcommand>".
type tokenCommand struct{}

var tokenCommands = map[string]func() command{
	"create": func() command { return &tokenCreateCommand{out: os.Stdout} },
	"list":   func() command { return &tokenListCommand{out: os.Stdout} },
	"revoke": func() command { return &tokenRevokeCommand{out: os.Stdout} },
}

func (c *tokenCommand) Run(ctx context.Context, args []string) error {
	return runSubcommand(ctx, "token", args, tokenUsage, tokenCommands)
}

const tokenUsage = `Usage: modmirror token <subcommand> [flags]

Tokens let clients read private modules (those matching serve's --private
patterns) and, with serve --public-access token, public ones. Clients send a
token as a .netrc password or as "Authorization: Bearer <token>", over HTTPS.
Tokens are kept, hashed, in <data>/tokens.db; a running mirror sees a change
within 2 seconds.

	modmirror token create --name NAME [--allow PATTERNS]
	                            make a token; print it on the last line
	modmirror token list        list tokens (never their secrets)
	modmirror token revoke ID ...
	                            revoke tokens

Run "modmirror token <subcommand> --help" for its flags.
`

// tokenStoreFlags are the flags that say where tokens are, which every
// token subcommand has. They are serve's, and MODMIRROR_DATA and
// MODMIRROR_TOKENS_DB set both.
type tokenStoreFlags struct {
	data, db string
}

func (t *tokenStoreFlags) register(fs *commandFlags) {
	fs.StringVar(&t.data, "data", defaultDataDir(), "data `directory` of the mirror: the tokens are in its tokens.db, unless --tokens-db says otherwise")
	fs.StringVar(&t.db, "tokens-db", "", "`database` of the tokens: sqlite:///path/file.db, a file path, or postgres://user:pass@host/db, which replicas share; default <data>/tokens.db")
	fs.fromEnv("data", "tokens-db")
}

// open opens the token store; create says whether a missing SQLite file
// is made.
func (t *tokenStoreFlags) open(create bool) (access.TokenStore, error) {
	setting, err := parseDBSetting(t.db, tokenFile(t.data))
	if err != nil {
		return nil, usagef("--tokens-db: %v", err)
	}
	if setting.file == "" {
		return openSharedTokens(setting)
	}
	if t.db == "" && t.data == "" {
		return nil, usagef("no data directory: set --data or $HOME")
	}
	if !create {
		if _, err := os.Stat(setting.file); errors.Is(err, iofs.ErrNotExist) {
			return nil, fmt.Errorf("no token database %s (made by the first 'modmirror token create')", setting.file)
		} else if err != nil {
			return nil, err
		}
	}
	return access.OpenTokenDB(setting.file)
}

// openSharedTokens opens the tokens of a PostgreSQL database.
func openSharedTokens(setting dbSetting) (access.TokenStore, error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	db, err := pgstate.Open(ctx, setting.url)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", setting.shown, err)
	}
	return ownedTokens{db.Tokens(), db}, nil
}

// ownedTokens are the tokens of a database that they close.
type ownedTokens struct {
	*pgstate.Tokens
	db *pgstate.DB
}

func (t ownedTokens) Close() error { return t.db.Close() }

// tokenCreateCommand makes a token.
type tokenCreateCommand struct {
	store       tokenStoreFlags
	name, allow string
	audit       bool
	out         io.Writer
}

func (c *tokenCreateCommand) flags() *commandFlags {
	fs := newFlags("token create", "modmirror token create --name NAME [--allow PATTERNS]", `
Makes a token and prints it on the last line of the output. Only its hash is
kept: it is shown now and never again. Give it to a client as the password
of a .netrc entry for the mirror's host (with its port, if not 443:
"machine mirror.corp.example:8443 login any password <token>"), or as
"Authorization: Bearer <token>".`)
	c.store.register(fs)
	fs.StringVar(&c.name, "name", "", "`name` of the token: who or what uses it (required)")
	fs.BoolVar(&c.audit, "audit", false, "the token may also read the data tiles of the mirror's own checksum database, which list every module version it recorded, private ones included (for modmirror sumdb audit and other auditors); no one else may")
	fs.StringVar(&c.allow, "allow", "", "comma-separated module path `patterns` (GOPRIVATE syntax) of the private modules the token may read, such as 'corp.example/*'; empty: public modules only")
	return fs
}

// Run implements command.
func (c *tokenCreateCommand) Run(ctx context.Context, args []string) error {
	if _, err := c.flags().parse(args, noArgs); err != nil {
		return err
	}
	if strings.TrimSpace(c.name) == "" {
		return usageError{err: errors.New("--name is required")}
	}
	allow, err := parsePatterns("allow", c.allow)
	if err != nil {
		return err
	}
	db, err := c.store.open(true)
	if err != nil {
		return err
	}
	defer db.Close()
	tok, secret, err := db.Create(ctx, c.name, allow.String(), c.audit)
	if err != nil {
		return err
	}
	allows := "no private modules, only public ones"
	if tok.Allow != "" {
		allows = "the private modules " + tok.Allow
	}
	if tok.Audit {
		allows += ", and the own checksum database's data tiles"
	}
	fmt.Fprintf(c.out, "created token %s (%s) in %s: it may read %s\n", tok.ID, tok.Name, db, allows)
	fmt.Fprintf(c.out, "it is shown only now; clients send it as a .netrc password or a Bearer token:\n%s\n", secret)
	return nil
}

// tokenListCommand lists tokens.
type tokenListCommand struct {
	store tokenStoreFlags
	out   io.Writer
}

// Run implements command.
func (c *tokenListCommand) Run(ctx context.Context, args []string) error {
	fs := newFlags("token list", "modmirror token list", "Lists the tokens: id, name, allowed patterns, when each was made and whether it is revoked. Secrets are not kept, so they are never shown.")
	c.store.register(fs)
	if _, err := fs.parse(args, noArgs); err != nil {
		return err
	}
	db, err := c.store.open(false)
	if err != nil {
		return err
	}
	defer db.Close()
	toks, err := db.List(ctx)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(c.out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tNAME\tALLOW\tAUDIT\tCREATED\tLAST USED\tSTATUS")
	for _, t := range toks {
		status := "valid"
		if !t.Valid() {
			status = "revoked " + t.Revoked.Format(time.RFC3339)
		}
		allow := t.Allow
		if allow == "" {
			allow = "-"
		}
		audit := "-"
		if t.Audit {
			audit = "yes"
		}
		used := "never"
		if !t.LastUsed.IsZero() {
			used = t.LastUsed.Format(time.RFC3339)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", t.ID, t.Name, allow, audit, t.Created.Format(time.RFC3339), used, status)
	}
	return tw.Flush()
}

// tokenRevokeCommand revokes tokens.
type tokenRevokeCommand struct {
	store tokenStoreFlags
	out   io.Writer
}

// Run implements command.
func (c *tokenRevokeCommand) Run(ctx context.Context, args []string) error {
	fs := newFlags("token revoke", "modmirror token revoke ID ...", fmt.Sprintf(`
Revokes the tokens with the given ids (as "modmirror token list" shows
them). Running mirrors refuse them within %v.`, access.DefaultCacheTTL))
	c.store.register(fs)
	ids, err := fs.parse(args, anyArgs)
	if err != nil {
		return err
	}
	if len(ids) == 0 {
		return usageError{err: errors.New("no token id given")}
	}
	db, err := c.store.open(false)
	if err != nil {
		return err
	}
	defer db.Close()
	var errs []error
	for _, id := range ids {
		tok, err := db.Revoke(ctx, id)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		fmt.Fprintf(c.out, "revoked token %s (%s) at %s\n", tok.ID, tok.Name, tok.Revoked.Format(time.RFC3339))
	}
	return errors.Join(errs...)
}

// accessFlags are serve's flags for access control.
type accessFlags struct {
	publicAccess  string
	privateAccess string
	metricsAccess string
	metricsListen string
}

func (a *accessFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&a.publicAccess, "public-access", "open", "who may read public modules: `open` (anyone) or token (clients with any valid token, from \"modmirror token create\")")
	fs.StringVar(&a.metricsAccess, "metrics-access", "", "who may read /metrics: open, or `token` (any valid token); default: as --public-access")
	fs.StringVar(&a.metricsListen, "metrics-listen", "", "serve /metrics on this `address` instead, such as 127.0.0.1:9100 (plain HTTP), and not on --listen")
	fs.StringVar(&a.privateAccess, "private-access", "token", "who may read modules matching --private: `token` (clients with a token whose --allow patterns match) or open (as public modules: only for a mirror that nobody else can reach)")
}

// guard puts access control in front of h, the GOPROXY and checksum
// database handler, and metrics, the /metrics handler, where they need a
// token; then it opens the token store with openTokens, and returns it for
// the caller to close (nil if no token is needed). Data tiles of the own
// checksum database (named own, if any) list private module paths, so they
// need a token with --audit.
func (c *serveCommand) guard(h, metrics http.Handler, private modmirror.Patterns, own string, openTokens func() (access.TokenStore, error), log *slog.Logger, reg prometheus.Registerer, act *activity.Log) (_, _ http.Handler, _ access.TokenStore, _ *access.Handler, err error) {
	pub, err := access.ParseAccess(c.access.publicAccess)
	if err != nil {
		return nil, nil, nil, nil, usagef("--public-access: %v", err)
	}
	priv, err := access.ParseAccess(c.access.privateAccess)
	if err != nil {
		return nil, nil, nil, nil, usagef("--private-access: %v", err)
	}
	met := pub
	if c.access.metricsAccess != "" {
		if met, err = access.ParseAccess(c.access.metricsAccess); err != nil {
			return nil, nil, nil, nil, usagef("--metrics-access: %v", err)
		}
	}
	protocolOpen := pub == access.Open && (priv == access.Open || private.Empty())
	if protocolOpen && !private.Empty() {
		log.Warn("private modules are served to every client (--private-access open)", "private", private.String())
	}
	if protocolOpen && met == access.Open {
		return h, metrics, nil, nil, nil
	}
	store, err := openTokens()
	if err != nil {
		return nil, nil, nil, nil, err
	}
	defer func() {
		if err != nil {
			store.Close()
		}
	}()
	usage := access.NewUsage(store, log.WithGroup("access"))
	store = &withUsage{TokenStore: store, usage: usage}
	tokens := access.NewCache(store, access.DefaultCacheTTL)
	if met == access.WithToken {
		if metrics, err = access.New(metrics, access.Options{Tokens: tokens, PublicAccess: access.WithToken, Logger: log.WithGroup("access")}); err != nil {
			return nil, nil, nil, nil, err
		}
	}
	var ah *access.Handler
	if !protocolOpen {
		ah, err = access.New(h, access.Options{
			Tokens:        tokens,
			Private:       private.Match,
			PrivateAccess: priv,
			PublicAccess:  pub,
			BasePath:      c.basePath,
			AuditSumDBs:   slices.DeleteFunc([]string{own}, func(s string) bool { return s == "" }),
			Logger:        log.WithGroup("access"),
			Activity:      act,
			Usage:         usage,
			Registerer:    reg,
		})
		if err != nil {
			return nil, nil, nil, nil, usageError{err: err}
		}
		h = ah
	}
	toks, err := store.List(context.Background())
	if err != nil {
		return nil, nil, nil, nil, err
	}
	valid := 0
	for _, t := range toks {
		if t.Valid() {
			valid++
		}
	}
	log.Info("access control", "public", pub, "private", priv, "metrics", met, "tokens", store.String(), "valid_tokens", valid)
	if c.tls.config == nil && !protocolOpen {
		log.Warn("tokens are checked but the mirror serves plain HTTP: the go command sends tokens only over HTTPS (--tls-cert, or a proxy in front that serves HTTPS)")
	}
	return h, metrics, store, ah, nil
}

// withUsage is a token store whose Close first writes the last token uses.
type withUsage struct {
	access.TokenStore
	usage *access.Usage
}

func (w *withUsage) Close() error { return errors.Join(w.usage.Close(), w.TokenStore.Close()) }

// Ping implements modmirror.Pinger when the store does.
func (w *withUsage) Ping(ctx context.Context) error {
	if p, ok := w.TokenStore.(modmirror.Pinger); ok {
		return p.Ping(ctx)
	}
	return nil
}
