package policy

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"golang.org/x/mod/module"

	"github.com/modmirror/modmirror"
)

// CheckPath is where a mirror answers policy checks (Handler).
const CheckPath = "/policy/check"

// A Result is the policy's answer for one module version of a check.
type Result struct {
	Path    string  `json:"path"`
	Version string  `json:"version"`
	Blocked *Match  `json:"blocked,omitempty"`
	Reports []Match `json:"reports,omitempty"`
	Error   string  `json:"error,omitempty"` // the version could not be checked
}

// Limits of one check request.
const (
	maxCheckBody  = 4 << 20
	maxCheckLines = 50_000
)

// Handler answers POST requests to CheckPath: the body lists module
// versions, one "path version" a line, and the answer is a JSON array of
// Results in the same order. Evaluating records first-seen times, as a
// request for the version would. A path the reader may not see (canSee
// false: a private path without the token for it) is answered "not found",
// whatever the policy says, so that checks reveal nothing private.
func Handler(c *Checker, canSee func(r *http.Request, path string) bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", "POST")
			http.Error(w, "method not allowed: POST the module versions to check, one \"path version\" a line", http.StatusMethodNotAllowed)
			return
		}
		body, err := io.ReadAll(io.LimitReader(r.Body, maxCheckBody+1))
		if err != nil {
			http.Error(w, "reading the request: "+err.Error(), http.StatusBadRequest)
			return
		}
		if len(body) > maxCheckBody {
			http.Error(w, fmt.Sprintf("request too large: at most %d bytes", maxCheckBody), http.StatusRequestEntityTooLarge)
			return
		}
		results, err := parseCheck(body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		if err := evaluate(r.Context(), c, results, func(path string) bool { return canSee == nil || canSee(r, path) }); err != nil {
			code := http.StatusInternalServerError
			if errors.Is(err, modmirror.ErrUnavailable) {
				code = http.StatusServiceUnavailable
				err = errors.New(modmirror.UnavailableText(err))
			}
			http.Error(w, "policy check: "+err.Error(), code)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(results)
	})
}

func parseCheck(body []byte) ([]Result, error) {
	var out []Result
	sc := bufio.NewScanner(bytes.NewReader(body))
	n := 0
	for sc.Scan() {
		n++
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		f := strings.Fields(line)
		if len(f) != 2 {
			return nil, fmt.Errorf("line %d: %q is not \"path version\"", n, line)
		}
		if len(out) == maxCheckLines {
			return nil, fmt.Errorf("more than %d module versions", maxCheckLines)
		}
		res := Result{Path: f[0], Version: f[1]}
		if err := module.Check(f[0], f[1]); err != nil {
			res.Error = err.Error()
		} else if module.CanonicalVersion(f[1]) != f[1] {
			res.Error = fmt.Sprintf("%s@%s: not a canonical version", f[0], f[1])
		}
		out = append(out, res)
	}
	return out, sc.Err()
}

// evaluate fills in results, one CheckList per module path.
func evaluate(ctx context.Context, c *Checker, results []Result, canSee func(string) bool) error {
	byPath := map[string][]int{}
	var order []string
	for i, r := range results {
		if r.Error != "" {
			continue
		}
		if !canSee(r.Path) {
			results[i].Error = "not found"
			continue
		}
		if byPath[r.Path] == nil {
			order = append(order, r.Path)
		}
		byPath[r.Path] = append(byPath[r.Path], i)
	}
	for _, path := range order {
		idx := byPath[path]
		versions := make([]string, len(idx))
		for j, i := range idx {
			versions[j] = results[i].Version
		}
		verdicts, err := c.CheckList(ctx, path, versions)
		if err != nil {
			return err
		}
		for j, i := range idx {
			results[i].Blocked, results[i].Reports = verdicts[j].Blocked, verdicts[j].Reports
		}
	}
	return nil
}

// CheckRemote asks the mirror at base (its GOPROXY URL) to check versions
// against its policy.
func CheckRemote(ctx context.Context, client *http.Client, base string, versions []module.Version) ([]Result, error) {
	var body bytes.Buffer
	for _, v := range versions {
		fmt.Fprintf(&body, "%s %s\n", v.Path, v.Version)
	}
	url := strings.TrimSuffix(base, "/") + CheckPath
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, &body)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "text/plain; charset=utf-8")
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return nil, err
	}
	switch {
	case resp.StatusCode == http.StatusNotFound || resp.StatusCode == http.StatusMethodNotAllowed:
		return nil, fmt.Errorf("%s: %s: is it a modmirror mirror? (it answers policy checks at %s)", url, resp.Status, CheckPath)
	case resp.StatusCode != http.StatusOK:
		return nil, fmt.Errorf("%s: %s: %s", url, resp.Status, strings.TrimSpace(string(data)))
	}
	var results []Result
	if err := json.Unmarshal(data, &results); err != nil || len(results) != len(versions) {
		return nil, fmt.Errorf("%s: an answer that is not %d results", url, len(versions))
	}
	return results, nil
}
