// Package activity keeps what a mirror did lately, in memory, for its
// status page: the last fills, refusals and upstream fetches, in rings of
// fixed size, and counts since start. Adding is a short critical section
// on a fill's or a refusal's path, never on a hit's.
package activity

import (
	"slices"
	"sync"
	"time"
)

// A Fill is a file the mirror filled, or failed to fill.
type Fill struct {
	Time          time.Time
	Path, Version string
	File          string // info, mod or zip
	Duration      time.Duration
	Err           string // "" when stored
	Security      bool   // refused as a security error
}

// A Refusal is a request access control refused.
type Refusal struct {
	Time   time.Time
	Path   string // the module path the request named; "" for none
	URL    string // the request's URL path
	Reason string // no_token, unknown_token, not_allowed...
	Status int
}

// A Policy is a request the mirror's policy blocked, or served with a
// report-mode rule matching.
type Policy struct {
	Time          time.Time
	Path, Version string
	File          string // info or zip
	Rule, Reason  string
	Blocked       bool // else reported
}

// A Fetch is one request to an upstream.
type Fetch struct {
	Time     time.Time
	Upstream string
	Kind     string
	Status   int // HTTP status; 0 for none
	Duration time.Duration
	Err      string
}

// ringSize is how many of each kind are kept.
const ringSize = 200

// Log is a mirror's recent activity. It is safe for concurrent use.
type Log struct {
	mu        sync.Mutex
	fills     ring[Fill]
	refusals  ring[Refusal]
	fetches   ring[Fetch]
	policy    ring[Policy]
	policyN   struct{ blocked, reported int64 }
	fillCount struct{ stored, failed, security int64 }
	refused   int64
}

// AddFill records a fill.
func (l *Log) AddFill(f Fill) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.fills.add(f)
	switch {
	case f.Security:
		l.fillCount.security++
	case f.Err != "":
		l.fillCount.failed++
	default:
		l.fillCount.stored++
	}
}

// AddRefusal records a refusal.
func (l *Log) AddRefusal(r Refusal) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.refusals.add(r)
	l.refused++
}

// AddFetch records an upstream fetch.
func (l *Log) AddFetch(f Fetch) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.fetches.add(f)
}

// AddPolicy records a policy's block or report.
func (l *Log) AddPolicy(p Policy) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.policy.add(p)
	if p.Blocked {
		l.policyN.blocked++
	} else {
		l.policyN.reported++
	}
}

// Policy returns the recent blocks and reports of the policy, newest
// first.
func (l *Log) Policy() []Policy {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.policy.newestFirst()
}

// Fills returns the recent fills, newest first.
func (l *Log) Fills() []Fill {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.fills.newestFirst()
}

// Refusals returns the recent refusals, newest first.
func (l *Log) Refusals() []Refusal {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.refusals.newestFirst()
}

// Fetches returns the recent upstream fetches, newest first.
func (l *Log) Fetches() []Fetch {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.fetches.newestFirst()
}

// Counts are the totals since start.
type Counts struct {
	Stored, FillFailed, Security, Refused int64
	Blocked, Reported                     int64 // by the policy
}

// Counts returns the totals since start.
func (l *Log) Counts() Counts {
	l.mu.Lock()
	defer l.mu.Unlock()
	return Counts{Stored: l.fillCount.stored, FillFailed: l.fillCount.failed, Security: l.fillCount.security, Refused: l.refused, Blocked: l.policyN.blocked, Reported: l.policyN.reported}
}

// ring keeps the last ringSize values added.
type ring[T any] struct {
	buf  []T
	next int
}

func (r *ring[T]) add(v T) {
	if len(r.buf) < ringSize {
		r.buf = append(r.buf, v)
		return
	}
	r.buf[r.next] = v
	r.next = (r.next + 1) % ringSize
}

func (r *ring[T]) newestFirst() []T {
	out := make([]T, 0, len(r.buf))
	out = append(out, r.buf[r.next:]...)
	out = append(out, r.buf[:r.next]...)
	slices.Reverse(out)
	return out
}
