package gosum

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/modmirror/modmirror"
)

// A Status is the outcome of checking one line.
type Status int

// The outcomes of a check.
const (
	Pending   Status = iota // not checked: another check failed first
	OK                      // the database lists the same hash
	Mismatch                // the database lists another hash
	Missing                 // the database does not know the version
	Skipped                 // not for the database to check
	Malformed               // not a go.sum line (Line.Err says why)
	Failed                  // the check itself failed (Result.Failure)
)

// A Result is a line and the outcome of its check.
type Result struct {
	Line
	Status  Status
	Want    string // for Mismatch: the database's hash
	Failure error  // for Failed: why (Line.Err says why a line is Malformed)
}

// CheckOptions configures Check.
type CheckOptions struct {
	// Skip, if not nil, reports lines that are not the database's to
	// check (private modules, say). Lines of golang.org/toolchain, which
	// go.sum never needs, and hashes other than h1:, which the go command
	// ignores, are always skipped.
	Skip func(Line) bool

	// Jobs is how many lines are checked at once; zero means 16.
	Jobs int
}

// Skips reports whether Check skips a well-formed line.
func (opts CheckOptions) Skips(l Line) bool {
	return l.Path == "golang.org/toolchain" || l.Alg() != "h1" || opts.Skip != nil && opts.Skip(l)
}

// Check checks the lines against a checksum database and returns a Result
// for each, in order. A check that fails for another reason than a
// mismatch or a version the database does not know stops the others; Check
// then returns that failure, naming its line, and the lines not checked yet
// stay Pending.
func Check(ctx context.Context, checker modmirror.Checker, lines []Line, opts CheckOptions) ([]Result, error) {
	results := make([]Result, len(lines))
	for i, l := range lines {
		results[i].Line = l
		switch {
		case l.Err != nil:
			results[i].Status = Malformed
		case opts.Skips(l):
			results[i].Status = Skipped
		}
	}
	jobs := opts.Jobs
	if jobs <= 0 {
		jobs = 16
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		once    sync.Once
		failure error
		wg      sync.WaitGroup
	)
	sem := make(chan struct{}, jobs)
	for i := range results {
		r := &results[i]
		if r.Status != Pending {
			continue
		}
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
		wg.Go(func() {
			defer func() { <-sem }()
			version := r.Version
			if r.GoMod {
				version += "/go.mod"
			}
			r.classify(checker.Check(ctx, r.Path, version, r.Hash))
			if r.Status == Failed {
				once.Do(func() {
					failure = fmt.Errorf("%s: %w", r.Pos(), r.Failure)
					cancel()
				})
			}
		})
	}
	wg.Wait()
	if failure == nil && ctx.Err() != nil {
		failure = context.Cause(ctx) // the caller's context ended
	}
	return results, failure
}

// classify sets the status of r from the error of its check.
func (r *Result) classify(err error) {
	var mm *modmirror.MismatchError
	switch {
	case err == nil:
		r.Status = OK
	case errors.As(err, &mm):
		// An authenticated record with another hash. A misbehaving
		// database (a forked log, a bad proof) is a security error too,
		// but one that says nothing about this line.
		r.Status, r.Want = Mismatch, mm.Want
	case errors.Is(err, modmirror.ErrNotInSumDB) && !errors.Is(err, modmirror.ErrSecurity):
		r.Status = Missing
	default:
		r.Status, r.Failure = Failed, err
	}
}

// Count returns how many results there are of each status.
func Count(results []Result) map[Status]int {
	n := make(map[Status]int)
	for _, r := range results {
		n[r.Status]++
	}
	return n
}
