package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"time"
)

// logSize returns the size of the mirror's log, to read what a case added.
func (m *mirror) logSize() int64 {
	fi, err := os.Stat(m.logPath)
	if err != nil {
		return 0
	}
	return fi.Size()
}

// A breakdown is what the mirror's log says it did during one download.
type breakdown struct {
	clone    time.Duration // git clone of the origin repository
	fetches  int           // ls-remote checks (and fetches, if refs changed)
	fetch    time.Duration
	fills    map[string]time.Duration // "info", "mod", "zip" -> time to fill from the origin
	requests map[string]time.Duration // "list", "info", "mod", "zip", "latest" -> time to answer
	total    time.Duration            // all requests answered
}

// breakdownSince reads the mirror's log from offset on.
func (m *mirror) breakdownSince(offset int64) (breakdown, error) {
	b := breakdown{fills: map[string]time.Duration{}, requests: map[string]time.Duration{}}
	f, err := os.Open(m.logPath)
	if err != nil {
		return b, err
	}
	defer f.Close()
	if _, err := f.Seek(offset, io.SeekStart); err != nil {
		return b, err
	}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var rec map[string]any
		if json.Unmarshal(sc.Bytes(), &rec) != nil {
			continue
		}
		attrs := flatten(rec)
		d := duration(attrs["duration"])
		switch attrs["msg"] {
		case "cloned":
			b.clone += d
		case "fetched":
			b.fetches++
			b.fetch += d
		case "stored":
			if kind, ok := attrs["file"].(string); ok {
				b.fills[kind] += d
			}
		case "request":
			p, _ := attrs["path"].(string)
			kind := requestKind(p)
			b.requests[kind] += d
			b.total += d
		}
	}
	return b, sc.Err()
}

// requestKind names a GOPROXY request by its last element.
func requestKind(p string) string {
	switch {
	case strings.HasSuffix(p, "/@v/list"):
		return "list"
	case strings.HasSuffix(p, "/@latest"):
		return "latest"
	}
	if i := strings.LastIndexByte(p, '.'); i >= 0 {
		return p[i+1:]
	}
	return "other"
}

// flatten merges slog's groups ("mirror": {...}) into one level.
func flatten(rec map[string]any) map[string]any {
	out := map[string]any{}
	var walk func(map[string]any)
	walk = func(m map[string]any) {
		for k, v := range m {
			if sub, ok := v.(map[string]any); ok {
				walk(sub)
				continue
			}
			out[k] = v
		}
	}
	walk(rec)
	return out
}

// duration decodes a duration as slog writes it: nanoseconds in JSON, a
// string in text.
func duration(v any) time.Duration {
	switch x := v.(type) {
	case float64:
		return time.Duration(x)
	case string:
		d, _ := time.ParseDuration(x)
		return d
	}
	return 0
}

// String formats a breakdown on one line.
func (b breakdown) String() string {
	var parts []string
	if b.clone > 0 {
		parts = append(parts, "clone "+ms(b.clone))
	}
	if b.fetches > 0 {
		parts = append(parts, fmt.Sprintf("%d ls-remote %s", b.fetches, ms(b.fetch)))
	}
	for _, k := range sortedKeys(b.fills) {
		parts = append(parts, "fill "+k+" "+ms(b.fills[k]))
	}
	var req []string
	for _, k := range sortedKeys(b.requests) {
		req = append(req, k+" "+ms(b.requests[k]))
	}
	parts = append(parts, "answers: "+strings.Join(req, ", ")+" (total "+ms(b.total)+")")
	return strings.Join(parts, "; ")
}

func sortedKeys(m map[string]time.Duration) []string {
	var keys []string
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func ms(d time.Duration) string { return fmt.Sprintf("%.0f ms", d.Seconds()*1000) }
