package policy

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"
)

var errEmpty = errors.New("an empty policy file is not taken on reload (write a comment to mean no rules)")

// Load reads and parses a policy file.
func Load(file string) (*Policy, []byte, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, nil, fmt.Errorf("policy: %w", err)
	}
	p, err := Parse(file, data)
	return p, data, err
}

// Watch reloads the policy file into c when its content changes, looking
// every interval until ctx ends. last is the content loaded at start. An
// edit that does not parse, or a file that cannot be read, is logged, and
// the last good policy stays in force; so a half-written file is never
// taken, and the mistake shows in the log until it is mended. Editors that
// replace the file (write a new one, rename it over the old) are seen as
// well as those that write in place, since the content is compared.
//
// An edit is taken only once the same content has been read at two looks
// in a row, so that a file caught between its truncation and its writing
// (an editor saving in place) is not put in force: read half-written, the
// first rules alone would parse, and an empty file means no rules at all.
// For the same reason an empty file is never taken on reload; a file that
// holds only a comment says "no rules" on purpose.
//
// accept, if not nil, is asked before a parsed policy is put in force; its
// error is logged like a parse error's, and the policy is not taken.
func Watch(ctx context.Context, file string, last []byte, interval time.Duration, c *Checker, log *slog.Logger, accept func(*Policy) error) {
	lastErr := "" // logged once, not at every look
	fail := func(msg string, err error) {
		if err.Error() != lastErr {
			log.Error(msg, "err", err)
			lastErr = err.Error()
		}
	}
	var pending []byte // changed content seen at the last look, not yet taken
	waiting := false
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		data, err := os.ReadFile(file)
		if err != nil {
			fail("policy: reading the policy file failed; the last good policy stays in force", err)
			continue
		}
		if bytes.Equal(data, last) {
			lastErr, waiting = "", false
			continue
		}
		if !waiting || !bytes.Equal(data, pending) {
			pending, waiting = data, true // wait for it to settle
			continue
		}
		if len(bytes.TrimSpace(data)) == 0 {
			fail("policy: the policy file is empty; the last good policy stays in force", errEmpty)
			continue
		}
		p, err := Parse(file, data)
		if err == nil && accept != nil {
			err = accept(p)
		}
		if err != nil {
			fail("policy: the edited policy file is not valid; the last good policy stays in force", err)
			continue
		}
		c.Set(p)
		last, lastErr, waiting = data, "", false
		log.Info("policy: reloaded", "file", file, "rules", p.Len())
	}
}
