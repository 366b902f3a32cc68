package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/modmirror/modmirror"
	"github.com/modmirror/modmirror/checksum"
	"github.com/modmirror/modmirror/internal/atomicfile"
	"github.com/modmirror/modmirror/internal/goenv"
	"github.com/modmirror/modmirror/internal/netrc"
)

// auditCommand is "modmirror sumdb audit": it checks that a checksum
// database's signed tree head is consistent with the one it saw last time.
type auditCommand struct {
	sumdb string
	proxy string
	netrc string
	state string

	// stdout defaults to os.Stdout; tests set it.
	stdout io.Writer
}

func (c *auditCommand) flags() *commandFlags {
	fs := newFlags("sumdb audit", "modmirror sumdb audit [flags]", `
Checks that the checksum database's current signed tree head is consistent
with the one seen on the last run: that the log only grew, proven with a
consistency proof computed from the database's own hash tiles. On success the
new tree head replaces the old one in the state file; on a first run it is
recorded.

A log that forked or shrank is reported as a SECURITY ERROR with both signed
tree heads and the proof, which anyone holding the database's key can check;
the state file is then left as it was, and the exit status is 1.`)
	fs.StringVar(&c.sumdb, "sumdb", goenv.Get("GOSUMDB"), "checksum database to audit, as GOSUMDB: a verifier `key` (name+hash+key) or known name, optionally followed by a space and the database's URL; default $GOSUMDB")
	fs.StringVar(&c.proxy, "proxy", defaultUpstream(), "proxies in GOPROXY `syntax` through whose /sumdb/<name>/ endpoint the database is read, unless --sumdb gives its URL; default $GOPROXY")
	fs.StringVar(&c.netrc, "netrc", netrc.DefaultFile(), "credentials for the proxy or the database, a .netrc `file` (sent over HTTPS only, to the host they name); default $NETRC or ~/.netrc")
	fs.StringVar(&c.state, "state", "", "`file` holding the signed tree head seen last time; default $XDG_CONFIG_HOME/modmirror/audit/<name>/latest")
	return fs
}

// Run audits the database once.
func (c *auditCommand) Run(ctx context.Context, args []string) error {
	if c.stdout == nil {
		c.stdout = os.Stdout
	}
	if _, err := c.flags().parse(args, noArgs); err != nil {
		return err
	}
	if strings.TrimSpace(c.sumdb) == "" {
		return usagef("no checksum database: set --sumdb or $GOSUMDB")
	}
	db, err := checksum.ParseSetting(c.sumdb)
	if err != nil {
		return usagef("--sumdb: %v", err)
	}
	state := c.state
	if state == "" {
		if state = defaultAuditState(db.Name); state == "" {
			return usagef("no state file: set --state, $XDG_CONFIG_HOME or $HOME")
		}
	}
	remote, err := sumdbRemote(db, c.proxy, c.netrc)
	if err != nil {
		return err
	}
	newMsg, newNote, err := db.ReadLatest(ctx, remote)
	if err != nil {
		return err
	}
	newTree, err := tlog.ParseTree([]byte(newNote.Text))
	if err != nil {
		return fmt.Errorf("checksum database %s: signed tree head: %v", db.Name, err)
	}
	oldMsg, err := os.ReadFile(state)
	if errors.Is(err, fs.ErrNotExist) {
		if err := atomicfile.Write(state, newMsg, 0o644); err != nil {
			return err
		}
		fmt.Fprintf(c.stdout, "first head recorded: tree %d (%s) of checksum database %s in %s\n", newTree.N, newTree.Hash, db.Name, state)
		return nil
	}
	if err != nil {
		return err
	}
	res, err := checksum.Audit(ctx, db, remote, "state file "+state, oldMsg, newMsg)
	if err != nil {
		if errors.Is(err, modmirror.ErrSecurity) {
			fmt.Fprint(c.stdout, res.Report)
		}
		return err
	}
	if err := atomicfile.Write(state, newMsg, 0o644); err != nil {
		return err
	}
	fmt.Fprintf(c.stdout, "ok: tree %d -> %d consistent (checksum database %s)\n", res.Old.N, res.New.N, db.Name)
	return nil
}

// defaultAuditState is $XDG_CONFIG_HOME/modmirror/audit/<name>/latest, else
// the same under the user's configuration directory.
func defaultAuditState(name string) string {
	dir := os.Getenv("XDG_CONFIG_HOME")
	if dir == "" {
		d, err := os.UserConfigDir()
		if err != nil {
			return ""
		}
		dir = d
	}
	return filepath.Join(dir, "modmirror", "audit", filepath.FromSlash(name), "latest")
}
