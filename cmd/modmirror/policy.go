package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"golang.org/x/mod/module"

	"github.com/modmirror/modmirror/internal/netrc"
	"github.com/modmirror/modmirror/policy"
	"github.com/modmirror/modmirror/warm"
)

// policyCommand is "modmirror policy": check projects against a mirror's
// policy, or check a policy file.
type policyCommand struct {
	mirror  string
	jsonOut bool

	stdout io.Writer
}

const policyUsage = `usage: modmirror policy check --mirror URL [--json] [go.sum | go.mod | go.work | dir | module@version ...]
       modmirror policy lint FILE

check asks the mirror which module versions the arguments use (the versions
whose zips a build needs: the go.sum lines that are not /go.mod lines, the
build list of a go.mod or go.work file, a directory's go.work, else go.sum,
else go.mod) its policy blocks or reports, and why. It prints one line a
version that a rule matched, and exits 1 if any is blocked: run it in CI
before the build. Credentials for the mirror come from ~/.netrc ($NETRC),
as for the go command.

lint checks a policy file as "modmirror serve --policy" would, and lists
its rules in the order they are evaluated.
`

// Run runs the command.
func (c *policyCommand) Run(ctx context.Context, args []string) error {
	if c.stdout == nil {
		c.stdout = os.Stdout
	}
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(c.stdout, policyUsage)
		if len(args) == 0 {
			return usageError{err: errors.New("no subcommand: check or lint")}
		}
		return nil
	}
	switch args[0] {
	case "check":
		return c.check(ctx, args[1:])
	case "lint":
		return c.lint(args[1:])
	}
	return usagef("unknown subcommand %q: check or lint", args[0])
}

func (c *policyCommand) check(ctx context.Context, args []string) error {
	fs := newFlags("policy check", "modmirror policy check --mirror URL [--json] [go.sum | go.mod | go.work | dir | module@version ...]", policyUsage)
	fs.StringVar(&c.mirror, "mirror", "", "the mirror's GOPROXY `URL` (required)")
	fs.BoolVar(&c.jsonOut, "json", false, "print every version's result as JSON, not only the matched ones as text")
	args, err := fs.parse(args, anyArgs)
	if err != nil {
		return err
	}
	if c.mirror == "" {
		return usagef("no mirror: use --mirror URL")
	}
	if len(args) == 0 {
		args = []string{"."}
	}
	var lines []netrc.Line
	if data, err := os.ReadFile(netrc.DefaultFile()); err == nil {
		lines = netrc.Parse(string(data))
	}
	httpClient := &http.Client{Timeout: 5 * time.Minute, Transport: &netrc.Transport{Lines: lines}}
	mirror := strings.TrimSuffix(c.mirror, "/")
	// The versions a build uses, as warm finds them (build lists are read
	// from the mirror's go.mod files, which a policy never blocks).
	wc := &warm.Client{Mirror: mirror, HTTP: httpClient}
	set := warm.NewSet()
	for _, a := range args {
		if err := wc.AddArg(ctx, set, a); err != nil {
			return fmt.Errorf("%s: %w", a, err)
		}
	}
	var versions []module.Version
	for _, f := range set.Files() {
		if f.Ext == ".zip" {
			versions = append(versions, module.Version{Path: f.Path, Version: f.Version})
		}
	}
	results, err := policy.CheckRemote(ctx, httpClient, mirror, versions)
	if err != nil {
		return err
	}
	blocked, reported, failed := 0, 0, 0
	for _, r := range results {
		switch {
		case r.Error != "":
			failed++
		case r.Blocked != nil:
			blocked++
		}
		reported += len(r.Reports)
	}
	if c.jsonOut {
		enc := json.NewEncoder(c.stdout)
		enc.SetIndent("", "\t")
		if err := enc.Encode(results); err != nil {
			return err
		}
	} else {
		for _, r := range results {
			for _, m := range r.Reports {
				fmt.Fprintf(c.stdout, "REPORT %s %s: %s\n", r.Path, r.Version, m)
			}
			switch {
			case r.Error != "":
				fmt.Fprintf(c.stdout, "ERROR  %s %s: %s\n", r.Path, r.Version, r.Error)
			case r.Blocked != nil:
				fmt.Fprintf(c.stdout, "BLOCK  %s %s: %s\n", r.Path, r.Version, r.Blocked)
			}
		}
		fmt.Fprintf(c.stdout, "%d module versions checked: %d blocked, %d reports, %d not checked\n", len(results), blocked, reported, failed)
	}
	if blocked > 0 || failed > 0 {
		return fmt.Errorf("check: %d module versions blocked by the policy, %d not checked", blocked, failed)
	}
	return nil
}

func (c *policyCommand) lint(args []string) error {
	if len(args) != 1 {
		return usagef("lint takes one policy file")
	}
	p, _, err := policy.Load(args[0])
	if err != nil {
		return err
	}
	fmt.Fprintf(c.stdout, "%s: %d rules, evaluated in this order:\n", args[0], p.Len())
	for i, r := range p.RuleNames() {
		fmt.Fprintf(c.stdout, "%4d. %s\n", i+1, r)
	}
	return nil
}
