package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/modmirror/modmirror/internal/testenv"
)

// browser starts a headless Chromium for t, or skips (fails when
// MODMIRROR_TEST_REQUIRE_CHROMIUM=1) where there is none. Console errors
// and uncaught exceptions of the pages it loads are collected.
func browser(t *testing.T) (context.Context, *consoleErrors) {
	t.Helper()
	path, err := exec.LookPath("chromium")
	if err != nil {
		testenv.Missing(t, "CHROMIUM", "chromium not found; scripts/test.sh installs it (apt-get install chromium)")
	}
	// Chromium puts its singleton socket in a directory of its own
	// under TMPDIR and leaves it there; TMPDIR here is the test's.
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path), chromedp.NoSandbox, chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-dev-shm-usage", true), chromedp.UserDataDir(t.TempDir()),
		chromedp.Env("TMPDIR="+t.TempDir()))
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelC := chromedp.NewContext(actx)
	t.Cleanup(func() { cancelC(); cancelA() })
	// The first Run starts the browser, for as long as ctx lives.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("starting chromium: %v", err)
	}
	errs := new(consoleErrors)
	messages := chromedp.Console(ctx)
	go func() {
		for m, err := range messages {
			if err != nil {
				return
			}
			if m.Type == chromedp.ConsoleError || m.IsException() {
				errs.add(m.String())
			}
		}
	}()
	return ctx, errs
}

type consoleErrors struct {
	mu   sync.Mutex
	errs []string
}

func (c *consoleErrors) add(s string) { c.mu.Lock(); c.errs = append(c.errs, s); c.mu.Unlock() }
func (c *consoleErrors) list() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.errs...)
}

// text runs the actions, then returns the visible text of the element with
// the id.
func text(ctx context.Context, id string, before ...chromedp.Action[chromedp.Void]) (string, error) {
	if err := chromedp.Do(ctx, before...); err != nil {
		return "", err
	}
	tctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	return chromedp.Run(tctx, chromedp.Text(chromedp.ID(id)))
}

// metricSum sums the values of a metric in the Prometheus text format,
// over the series whose labels contain match.
func metricSum(text, name, match string) float64 {
	var sum float64
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() {
		l := sc.Text()
		if !strings.HasPrefix(l, name+"{") || !strings.Contains(l, match) {
			continue
		}
		f := strings.Fields(l)
		v, _ := strconv.ParseFloat(f[len(f)-1], 64)
		sum += v
	}
	return sum
}

// TestStatusPage runs a mirror with a private module stored, makes a known
// sequence of requests, and reads the status page, a search and a module
// page in a real headless Chromium: no console errors; the numbers are
// /metrics' and the catalog's; search finds the public module; the private
// module appears only with a token that allows it, in the pages and in the
// index feed; the page fits a phone's width.
func TestStatusPage(t *testing.T) {
	t.Parallel()
	ctx, consoleErrs := browser(t)
	data := t.TempDir()
	seedPrivate(t, data, privateModules...)
	_, secret := createToken(t, data, "ci", "corp.example/*")
	up := newFixture(t)
	m := startMirror(t, up, data, "--private", "corp.example", "--no-origin", "--access-log", "log")

	// The known sequence: a download (misses, then fills), the same
	// again from a fresh module cache (hits), a private module without a
	// token (refused).
	g := newGo(t, m.URL, up.VerifierKey())
	g.OK(t.TempDir(), "mod", "download", libPath+"@v1.0.0")
	g.env["GOMODCACHE"] = t.TempDir()
	g.OK(t.TempDir(), "mod", "download", libPath+"@v1.0.0")
	if code, _, _ := httpGet(m.URL + "/" + secretPath + "/@v/v1.0.0.info"); code != 404 {
		t.Fatalf("a private module without a token: %d, want 404", code)
	}
	// The catalog was empty at start: it is rebuilt from the store (the
	// private module) in the background; the fills add the public one.
	waitFor(t, 10*time.Second, "the private module in the catalog", func() bool {
		_, body, _ := clientGet(m.Client, m.URL+"/catalog", "Bearer "+secret)
		return strings.Contains(body, secretPath)
	})
	_, metrics, err := httpGet(m.Root + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	var catalogPage struct {
		Modules []struct {
			Path     string
			Versions []struct{ Version string }
		}
	}
	_, body, _ := clientGet(m.Client, m.URL+"/catalog", "Bearer "+secret)
	if err := json.Unmarshal([]byte(body), &catalogPage); err != nil {
		t.Fatalf("/catalog: %v\n%s", err, body)
	}
	versions := 0
	for _, mod := range catalogPage.Modules {
		versions += len(mod.Versions)
	}

	if err := chromedp.Do(ctx, chromedp.EmulateViewport(375, 800), chromedp.Navigate(m.Root+"/")); err != nil {
		t.Fatalf("loading the status page: %v", err)
	}
	texts := map[string]string{}
	for _, id := range []string{"hits", "misses", "requests", "versions", "modules", "refused", "stored"} {
		v, err := text(ctx, id)
		if err != nil {
			t.Fatalf("the status page's #%s: %v", id, err)
		}
		texts[id] = v
	}
	html, err := chromedp.Run(ctx, chromedp.OuterHTML(chromedp.CSS("html")))
	if err != nil {
		t.Fatal(err)
	}
	overflow, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.documentElement.scrollWidth > document.documentElement.clientWidth`))
	if err != nil {
		t.Fatal(err)
	}
	for id, want := range map[string]float64{
		"hits":     metricSum(metrics, "modmirror_store_lookups_total", `result="hit"`),
		"misses":   metricSum(metrics, "modmirror_store_lookups_total", `result="miss"`),
		"requests": metricSum(metrics, "modmirror_http_requests_total", ""),
		"versions": float64(versions),
		"modules":  float64(len(catalogPage.Modules)),
	} {
		if got := strings.TrimSpace(texts[id]); got != strconv.FormatFloat(want, 'f', -1, 64) {
			t.Errorf("the status page shows %s = %q; /metrics and the catalog say %v", id, got, want)
		}
	}
	if h := metricSum(metrics, "modmirror_store_lookups_total", `result="hit"`); h < 3 {
		t.Errorf("only %v hits after a second download of the same version", h)
	}
	if got := strings.TrimSpace(texts["refused"]); got != "1" {
		t.Errorf("refusals shown: %q, want 1", got)
	}
	if strings.Contains(html, "corp.example") || strings.Contains(html, "secret") {
		t.Errorf("the status page names the private module to a reader without a token")
	}
	if overflow {
		t.Errorf("the status page is wider than a phone's screen (375 px)")
	}

	// Search, as a user does: type into the box and submit.
	results, err := text(ctx, "results",
		chromedp.SetValue(chromedp.CSS(`input[name=q]`), "lib"),
		chromedp.Submit(chromedp.CSS(`form.search`)))
	if err != nil || !strings.Contains(results, libPath) {
		t.Errorf("searching for lib: %v, results %q", err, results)
	}
	module, err := text(ctx, "versions", chromedp.Click(chromedp.CSS(`#results a`)))
	if err != nil || !strings.Contains(module, "v1.0.0") || !strings.Contains(module, up.URL) {
		t.Errorf("the module page of %s: %v, %q; want v1.0.0, from %s", libPath, err, module, up.URL)
	}

	// The pages so far all load (200) with no errors.
	if errs := consoleErrs.list(); len(errs) > 0 {
		t.Errorf("console errors: %v", errs)
	}

	// The private module: not found without a token (404, which the
	// browser logs as a failed load), found with one.
	notFound, err1 := text(ctx, "not-found", chromedp.Navigate(m.Root+"/ui/module?path="+secretPath))
	noResults, err2 := text(ctx, "no-results", chromedp.Navigate(m.Root+"/ui/search?q=corp"))
	if err1 != nil || err2 != nil || notFound == "" || noResults == "" {
		t.Errorf("private module pages without a token: %v %v, %q, %q; want not found, no results", err1, err2, notFound, noResults)
	}
	if _, err := chromedp.Call(ctx, network.Enable, network.EnableParams{}); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Call(ctx, network.SetExtraHTTPHeaders, network.SetExtraHTTPHeadersParams{Headers: network.Headers{"Authorization": "Bearer " + secret}}); err != nil {
		t.Fatal(err)
	}
	found, err := text(ctx, "results", chromedp.Navigate(m.Root+"/ui/search?q=corp"))
	if err != nil || !strings.Contains(found, secretPath) {
		t.Errorf("searching for corp with a token: %v, %q", err, found)
	}
	// The access log: a line per request, the token's name (never its
	// secret), hits and misses.
	var sawHit, sawMiss, sawToken, sawRefused bool
	for _, rec := range m.log.Records() {
		a, _ := rec["access"].(map[string]any)
		if rec["msg"] != "access" || a == nil {
			continue
		}
		p, _ := a["path"].(string)
		switch {
		case p == libV100Zip && a["cache"] == "hit" && a["status"] == 200.0:
			sawHit = true
		case p == libV100Zip && a["cache"] == "miss":
			sawMiss = true
		case strings.HasPrefix(p, "/catalog") && a["token"] == "ci":
			sawToken = true
		case strings.Contains(p, secretPath) && a["status"] == 404.0 && a["token"] == nil:
			sawRefused = true
		}
	}
	if !sawHit || !sawMiss || !sawToken || !sawRefused {
		t.Errorf("access log lines: zip hit %v, zip miss %v, a request with the token named ci %v, the refused private request %v; want all", sawHit, sawMiss, sawToken, sawRefused)
	}
	if strings.Contains(m.Log(), secret) {
		t.Errorf("the mirror's log shows a token's secret")
	}

	// The index feed: newline-delimited JSON, private entries only with a
	// token.
	for _, tc := range []struct {
		auth    string
		private bool
	}{{"", false}, {"Bearer " + secret, true}} {
		code, feed, err := clientGet(m.Client, m.URL+"/index?since=2000-01-01T00:00:00Z", tc.auth)
		if err != nil || code != 200 {
			t.Fatalf("/index: %d %v", code, err)
		}
		lines := strings.Split(strings.TrimSpace(feed), "\n")
		var last time.Time
		for _, l := range lines {
			var e struct {
				Path, Version string
				Timestamp     time.Time
			}
			if err := json.Unmarshal([]byte(l), &e); err != nil || e.Timestamp.Before(last) {
				t.Errorf("/index line %q: %v, or out of order", l, err)
			}
			last = e.Timestamp
		}
		if got := strings.Contains(feed, secretPath); got != tc.private {
			t.Errorf("/index with %q lists the private module: %v, want %v\n%s", tc.auth, got, tc.private, feed)
		}
		if !strings.Contains(feed, `"Path":"`+libPath+`","Version":"v1.0.0"`) {
			t.Errorf("/index lacks %s@v1.0.0:\n%s", libPath, feed)
		}
	}

	// The token's last use is written when the mirror stops, at the
	// latest.
	m.Stop(t)
	if out := tokenCmd(t, "list", "--data", data); !strings.Contains(out, "LAST USED") || strings.Contains(out, " never ") {
		t.Errorf("token list after the token was used:\n%s", out)
	}
}
