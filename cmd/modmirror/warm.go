package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/modmirror/modmirror/internal/netrc"
	"github.com/modmirror/modmirror/warm"
)

// warmCommand is "modmirror warm": fill a running mirror ahead of need.
type warmCommand struct {
	mirror    string
	jobs      int
	fromIndex string
	since     string
	quiet     bool

	stdout, stderr io.Writer
}

func (c *warmCommand) flags() *commandFlags {
	fs := newFlags("warm", "modmirror warm --mirror URL [flags] [go.sum | go.mod | go.work | dir | module@version ...]", `
Asks a running mirror for every module file the arguments name, many at once,
so that it stores them before its clients need them: every line of a go.sum
file; the build list of a go.mod or go.work file (the zips of the selected
versions, the go.mod files of every version the graph reads); a directory's
go.work, else go.sum, else go.mod; module@version and its build list. With
--from-index, also every version another mirror's index feed lists since
--since. Prints what was new, what the mirror had, and what failed and why;
exits 1 if anything failed. Credentials for the mirror come from ~/.netrc
($NETRC), over HTTPS only, as the go command sends them.`)
	fs.StringVar(&c.mirror, "mirror", "", "the mirror's GOPROXY `URL` (required)")
	fs.IntVar(&c.jobs, "jobs", 16, "files asked for at once")
	fs.StringVar(&c.fromIndex, "from-index", "", "an index feed `URL` (such as https://mirror.example/index) whose versions to ask for too")
	fs.StringVar(&c.since, "since", "", "with --from-index, the `time` (RFC 3339) to start from; default the beginning")
	fs.BoolVar(&c.quiet, "quiet", false, "print no progress")
	fs.shortName("quiet", "q")
	return fs
}

// Run runs the command.
func (c *warmCommand) Run(ctx context.Context, args []string) error {
	if c.stdout == nil {
		c.stdout, c.stderr = os.Stdout, os.Stderr
	}
	args, err := c.flags().parse(args, anyArgs)
	if err != nil {
		return err
	}
	if c.mirror == "" {
		return usageError{err: errors.New("no mirror: use --mirror URL")}
	}
	if len(args) == 0 && c.fromIndex == "" {
		return usageError{err: errors.New("nothing to warm: name go.sum, go.mod or go.work files, directories, module@version, or --from-index")}
	}
	var since time.Time
	if c.since != "" {
		if since, err = time.Parse(time.RFC3339Nano, c.since); err != nil {
			return usagef("--since: want an RFC 3339 time, such as 2026-01-02T15:04:05Z")
		}
	}
	var lines []netrc.Line
	if data, err := os.ReadFile(netrc.DefaultFile()); err == nil {
		lines = netrc.Parse(string(data))
	}
	client := &warm.Client{
		Mirror: strings.TrimSuffix(c.mirror, "/"),
		HTTP:   &http.Client{Timeout: 15 * time.Minute, Transport: &netrc.Transport{Lines: lines}},
	}
	set := warm.NewSet()
	for _, a := range args {
		if err := client.AddArg(ctx, set, a); err != nil {
			return fmt.Errorf("%s: %w", a, err)
		}
	}
	if c.fromIndex != "" {
		last, err := client.AddIndex(ctx, set, c.fromIndex, since)
		if err != nil {
			return fmt.Errorf("--from-index: %w", err)
		}
		fmt.Fprintf(c.stdout, "index read up to %s (the next --since)\n", last.UTC().Format(time.RFC3339Nano))
	}
	var progress func(done, total, failed int)
	if !c.quiet {
		term := isTerminal(c.stderr)
		calls := 0
		progress = func(done, total, failed int) {
			calls++
			switch {
			case term:
				fmt.Fprintf(c.stderr, "\rwarm: %d/%d files, %d failed ", done, total, failed)
			case calls%10 == 0 || done == total:
				fmt.Fprintf(c.stderr, "warm: %d/%d files, %d failed\n", done, total, failed)
			}
		}
	}
	res := client.Run(ctx, set, c.jobs, progress)
	if progress != nil && isTerminal(c.stderr) {
		fmt.Fprintln(c.stderr)
	}
	fmt.Fprintf(c.stdout, "%d files in %v: %d new, %d already there, %d fetched (the mirror did not say which), %d failed\n",
		set.Len(), res.Duration.Round(time.Millisecond), res.New, res.Present, res.Fetched, len(res.Failed))
	for _, f := range res.Failed {
		fmt.Fprintf(c.stdout, "\t%s: %v\n", f.File, f.Err)
	}
	return res.Err()
}
