package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/modmirror/modmirror/catalog"
	"github.com/modmirror/modmirror/gc"
	"github.com/modmirror/modmirror/gosum"
	"github.com/modmirror/modmirror/pgstate"
)

// gcCommand is "modmirror gc".
type gcCommand struct {
	storeFlags
	unused string
	keep   listFlag
	dryRun bool

	stdout io.Writer
}

// listFlag is a flag that may be repeated.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

func (c *gcCommand) flags() *commandFlags {
	fs := newFlags("gc", "modmirror gc --unused-for DURATION [--keep go.sum ...] [--dry-run] [flags]", `
Deletes the module versions the catalog says no client asked for in the given
time (or, never asked for, stored that long ago), except those a --keep
go.sum file names, and prints each with what it frees. The records of the
mirror's own checksum database stay: a version collected and asked for again
is filled and must have the hashes it was recorded with (public ones are
checked against sum.golang.org as always); a different copy is refused as a
security error.

A single mirror must be stopped: gc takes its data directory's lock. With
--shared-db (replicas), gc takes the shared fill lock of each file instead,
and the replicas keep serving.`)
	fs.StringVar(&c.unused, "unused-for", "", "delete versions not served for this `duration`, such as 180d or 4320h (required)")
	fs.Var(&c.keep, "keep", "a go.sum `file` whose versions are never deleted (repeat the flag for more)")
	fs.BoolVar(&c.dryRun, "dry-run", false, "print what would be deleted, delete nothing")
	c.register(fs, false)
	return fs
}

// Run runs the command.
func (c *gcCommand) Run(ctx context.Context, args []string) error {
	if c.stdout == nil {
		c.stdout = os.Stdout
	}
	if _, err := c.flags().parse(args, noArgs); err != nil {
		return err
	}
	unused, err := parseDays(c.unused)
	if err != nil {
		return usagef("--unused-for: %v", err)
	}
	keep := map[[2]string]bool{}
	for _, file := range c.keep {
		data, err := os.ReadFile(file)
		if err != nil {
			return err
		}
		for _, l := range gosum.Parse(file, data) {
			if l.Err != nil {
				return fmt.Errorf("%s: %w", l.Pos(), l.Err)
			}
			keep[[2]string{l.Path, l.Version}] = true
		}
	}
	var lock func(ctx context.Context, key string) (func(), error)
	if c.sharedDB != "" {
		db, err := pgstate.Open(ctx, c.sharedDB)
		if err != nil {
			return fmt.Errorf("--shared-db: %w", err)
		}
		defer db.Close()
		lock = db.Locks().Lock
	}
	release, err := c.lock()
	if err != nil {
		return err
	}
	defer release()
	store, s, done, err := c.openTemp(ctx, "gc")
	if err != nil {
		return err
	}
	defer done()
	verb := "deleted"
	if c.dryRun {
		verb = "would delete"
	}
	res, err := gc.Run(ctx, gc.Options{
		Store:     store,
		Catalog:   s,
		UnusedFor: unused,
		Keep:      func(p, v string) bool { return keep[[2]string{p, v}] },
		DryRun:    c.dryRun,
		Lock:      lock,
		Report: func(v catalog.Version) {
			last := "never served"
			if !v.LastServed.IsZero() {
				last = "last served " + v.LastServed.Format(time.DateOnly)
			}
			fmt.Fprintf(c.stdout, "%s %s@%s (%s, %s, stored %s)\n", verb, v.Path, v.Version, humanBytes(v.Size()), last, v.FirstStored.Format(time.DateOnly))
		},
	})
	if res != nil {
		fmt.Fprintf(c.stdout, "%s %d versions of %d modules, %s; kept %d that a --keep go.sum names\n", verb, res.Versions, res.Modules, humanBytes(res.Bytes), res.Kept)
	}
	return err
}

// parseDays parses a duration that may also be given in days ("180d").
func parseDays(s string) (time.Duration, error) {
	if s == "" {
		return 0, errors.New("required, such as 180d")
	}
	if d, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.Atoi(d)
		if err != nil || n <= 0 {
			return 0, fmt.Errorf("%q: want a positive number of days, such as 180d", s)
		}
		return time.Duration(n) * 24 * time.Hour, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("%q: want a positive duration, such as 180d or 4320h", s)
	}
	return d, nil
}

// humanBytes formats a size in bytes for people.
func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
