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

// dataFlag adds the --data flag that every token subcommand has. It is
// serve's --data, and MODMIRROR_DATA sets both.
func dataFlag(fs *commandFlags, data *string) {
	fs.StringVar(data, "data", defaultDataDir(), "data `directory` of the mirror: the tokens are in its tokens.db")
	fs.fromEnv("data")
}

// openTokens opens the token database of a data directory; create says
// whether a missing one is made.
func openTokens(data string, create bool) (*access.TokenDB, error) {
	if data == "" {
		return nil, usageError{err: errors.New("no data directory: set --data or $HOME")}
	}
	file := tokenFile(data)
	if !create {
		if _, err := os.Stat(file); errors.Is(err, iofs.ErrNotExist) {
			return nil, fmt.Errorf("no token database in %s (made by the first 'modmirror token create --data %s')", data, data)
		} else if err != nil {
			return nil, err
		}
	}
	return access.OpenTokenDB(file)
}

// tokenCreateCommand makes a token.
type tokenCreateCommand struct {
	data, name, allow string
	audit             bool
	out               io.Writer
}

func (c *tokenCreateCommand) flags() *commandFlags {
	fs := newFlags("token create", "modmirror token create --name NAME [--allow PATTERNS]", `
Makes a token and prints it on the last line of the output. Only its hash is
kept: it is shown now and never again. Give it to a client as the password
of a .netrc entry for the mirror's host (with its port, if not 443:
"machine mirror.corp.example:8443 login any password <token>"), or as
"Authorization: Bearer <token>".`)
	dataFlag(fs, &c.data)
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
	db, err := openTokens(c.data, true)
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
	fmt.Fprintf(c.out, "created token %s (%s) in %s: it may read %s\n", tok.ID, tok.Name, db.File(), allows)
	fmt.Fprintf(c.out, "it is shown only now; clients send it as a .netrc password or a Bearer token:\n%s\n", secret)
	return nil
}

// tokenListCommand lists tokens.
type tokenListCommand struct {
	data string
	out  io.Writer
}

// Run implements command.
func (c *tokenListCommand) Run(ctx context.Context, args []string) error {
	fs := newFlags("token list", "modmirror token list", "Lists the tokens: id, name, allowed patterns, when each was made and whether it is revoked. Secrets are not kept, so they are never shown.")
	dataFlag(fs, &c.data)
	if _, err := fs.parse(args, noArgs); err != nil {
		return err
	}
	db, err := openTokens(c.data, false)
	if err != nil {
		return err
	}
	defer db.Close()
	toks, err := db.List(ctx)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(c.out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tNAME\tALLOW\tAUDIT\tCREATED\tSTATUS")
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
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", t.ID, t.Name, allow, audit, t.Created.Format(time.RFC3339), status)
	}
	return tw.Flush()
}

// tokenRevokeCommand revokes tokens.
type tokenRevokeCommand struct {
	data string
	out  io.Writer
}

// Run implements command.
func (c *tokenRevokeCommand) Run(ctx context.Context, args []string) error {
	fs := newFlags("token revoke", "modmirror token revoke ID ...", fmt.Sprintf(`
Revokes the tokens with the given ids (as "modmirror token list" shows
them). Running mirrors refuse them within %v.`, access.DefaultCacheTTL))
	dataFlag(fs, &c.data)
	ids, err := fs.parse(args, anyArgs)
	if err != nil {
		return err
	}
	if len(ids) == 0 {
		return usageError{err: errors.New("no token id given")}
	}
	db, err := openTokens(c.data, false)
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
// token; then it opens <data>/tokens.db, which closeDB closes. Data tiles
// of the own checksum database (named own, if any) list private module
// paths, so they need a token with --audit.
func (c *serveCommand) guard(h, metrics http.Handler, private modmirror.Patterns, own string, log *slog.Logger, reg prometheus.Registerer) (_, _ http.Handler, closeDB func() error, _ error) {
	pub, err := access.ParseAccess(c.access.publicAccess)
	if err != nil {
		return nil, nil, nil, usagef("--public-access: %v", err)
	}
	priv, err := access.ParseAccess(c.access.privateAccess)
	if err != nil {
		return nil, nil, nil, usagef("--private-access: %v", err)
	}
	met := pub
	if c.access.metricsAccess != "" {
		if met, err = access.ParseAccess(c.access.metricsAccess); err != nil {
			return nil, nil, nil, usagef("--metrics-access: %v", err)
		}
	}
	protocolOpen := pub == access.Open && (priv == access.Open || private.Empty())
	if protocolOpen && !private.Empty() {
		log.Warn("private modules are served to every client (--private-access open)", "private", private.String())
	}
	if protocolOpen && met == access.Open {
		return h, metrics, func() error { return nil }, nil
	}
	db, err := access.OpenTokenDB(tokenFile(c.data))
	if err != nil {
		return nil, nil, nil, err
	}
	tokens := access.NewCache(db, access.DefaultCacheTTL)
	if met == access.WithToken {
		if metrics, err = access.New(metrics, access.Options{Tokens: tokens, PublicAccess: access.WithToken, Logger: log.WithGroup("access")}); err != nil {
			db.Close()
			return nil, nil, nil, err
		}
	}
	if protocolOpen {
		log.Info("access control", "metrics", met, "tokens", db.File())
		return h, metrics, db.Close, nil
	}
	guarded, err := access.New(h, access.Options{
		Tokens:        tokens,
		Private:       private.Match,
		PrivateAccess: priv,
		PublicAccess:  pub,
		BasePath:      c.basePath,
		AuditSumDBs:   slices.DeleteFunc([]string{own}, func(s string) bool { return s == "" }),
		Logger:        log.WithGroup("access"),
		Registerer:    reg,
	})
	if err != nil {
		db.Close()
		return nil, nil, nil, usageError{err: err}
	}
	toks, err := db.List(context.Background())
	if err != nil {
		db.Close()
		return nil, nil, nil, err
	}
	valid := 0
	for _, t := range toks {
		if t.Valid() {
			valid++
		}
	}
	log.Info("access control", "public", pub, "private", priv, "metrics", met, "tokens", db.File(), "valid_tokens", valid)
	if c.tls.config == nil {
		log.Warn("tokens are checked but the mirror serves plain HTTP: the go command sends tokens only over HTTPS (--tls-cert, or a proxy in front that serves HTTPS)")
	}
	return guarded, metrics, db.Close, nil
}
