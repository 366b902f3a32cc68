package snapshot

import (
	"bytes"
	"context"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"golang.org/x/mod/module"
	modzip "golang.org/x/mod/zip"

	"github.com/modmirror/modmirror"
	"github.com/modmirror/modmirror/internal/goenv"
	"github.com/modmirror/modmirror/internal/rmtree"
)

// CheckOptions configure CheckBuilds.
type CheckOptions struct {
	// Go is the go command; "" means "go" on PATH.
	Go string

	// Vet and Test add "go vet ./..." and "go test ./..." after the build.
	Vet, Test bool

	// GoCache is the build cache to use; "" means the caller's ("go env
	// GOCACHE"), else a temporary one. A build cache holds compiled
	// packages by content hash, no modules: sharing it only saves
	// compiling the standard library again.
	GoCache string
}

// A BuildCheck is how one project built from the snapshot.
type BuildCheck struct {
	Project ProjectFiles

	// Failed is the step that failed ("build", "vet" or "test"), or "".
	Failed string

	// Output is the failed step's first lines of output.
	Output string

	// Sandboxed says whether the commands ran without network (a network
	// namespace of their own).
	Sandboxed bool
}

// maxOutputLines is how much of a failed step's output a BuildCheck keeps.
const maxOutputLines = 8

// CheckBuilds builds every project of res from its snapshot alone: in the
// project's directory (an application's zip extracted from the snapshot),
// with copies of its alternate module and sum files (-modfile),
// GOPROXY=file://<snapshot> only, GOSUMDB=off (the sum file is checked:
// go.sum verification stays on), GOFLAGS=-mod=mod, no workspace, and a
// fresh module cache; without network where a network namespace can be
// made (unshare -n). It runs "go build ./...", then "go vet ./..." and
// "go test ./..." as opts say, and stops a project at its first failure.
func CheckBuilds(ctx context.Context, res *OneVersionResult, opts CheckOptions) ([]BuildCheck, error) {
	goCmd := opts.Go
	if goCmd == "" {
		goCmd = "go"
	}
	sandbox := netSandbox()
	if opts.GoCache == "" {
		if out, err := exec.Command(goCmd, "env", "GOCACHE").Output(); err == nil {
			if dir := strings.TrimSpace(string(out)); dir != "" && dir != "off" {
				opts.GoCache = dir
			}
		}
	}
	var checks []BuildCheck
	for _, p := range res.Projects {
		c, err := checkBuild(ctx, res.Out, p, goCmd, opts, sandbox)
		if err != nil {
			return checks, err
		}
		checks = append(checks, c)
	}
	return checks, nil
}

func checkBuild(ctx context.Context, out string, p ProjectFiles, goCmd string, opts CheckOptions, sandbox []string) (BuildCheck, error) {
	c := BuildCheck{Project: p, Sandboxed: sandbox != nil}
	tmp, err := os.MkdirTemp("", "modmirror-check-")
	if err != nil {
		return c, fmt.Errorf("snapshot: %w", err)
	}
	defer rmtree.RemoveAll(tmp)
	dir := p.Dir
	if p.App != "" {
		if dir, err = extractApp(out, p.App, filepath.Join(tmp, "src")); err != nil {
			return c, err
		}
	}
	modFile := filepath.Join(tmp, "alt.mod")
	for _, f := range []struct{ from, to string }{{p.ModFile, modFile}, {p.SumFile, filepath.Join(tmp, "alt.sum")}} {
		data, err := os.ReadFile(filepath.Join(out, filepath.FromSlash(f.from)))
		if err != nil {
			return c, fmt.Errorf("snapshot: %w", err)
		}
		if err := os.WriteFile(f.to, data, 0o644); err != nil {
			return c, fmt.Errorf("snapshot: %w", err)
		}
	}
	cache := opts.GoCache
	if cache == "" {
		cache = filepath.Join(tmp, "gocache")
	}
	// Telemetry off: tmp, HOME included, is removed once go exits.
	if err := goenv.TelemetryOff(filepath.Join(tmp, "home")); err != nil {
		return c, fmt.Errorf("snapshot: %w", err)
	}
	env := []string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + filepath.Join(tmp, "home"),
		"GOPATH=" + filepath.Join(tmp, "gopath"),
		"GOMODCACHE=" + filepath.Join(tmp, "modcache"),
		"GOCACHE=" + cache,
		"GOFLAGS=-mod=mod -modcacherw -modfile=" + modFile,
		"GOPROXY=" + (&url.URL{Scheme: "file", Path: out}).String(),
		"GOSUMDB=off", "GONOSUMDB=", "GONOSUMCHECK=", "GOPRIVATE=", "GONOPROXY=", "GOINSECURE=",
		"GOTOOLCHAIN=local", "GOWORK=off", "GOENV=off",
	}
	if v, ok := os.LookupEnv("CGO_ENABLED"); ok {
		env = append(env, "CGO_ENABLED="+v)
	}
	steps := []string{"build"}
	if opts.Vet {
		steps = append(steps, "vet")
	}
	if opts.Test {
		steps = append(steps, "test")
	}
	run := func(args ...string) (string, error) {
		args = append(append([]string{}, sandbox...), args...)
		cmd := exec.CommandContext(ctx, args[0], args[1:]...)
		cmd.Dir = dir
		cmd.Env = env
		var output bytes.Buffer
		cmd.Stdout, cmd.Stderr = &output, &output
		err := cmd.Run()
		return output.String(), err
	}
	for _, step := range steps {
		var output string
		var err error
		if step == "build" {
			// Executables go to a directory of the check's own: with one
			// main package, "go build ./..." would write one into the
			// project's directory. With none, -o is an error, and there
			// is nothing to write.
			output, err = run(goCmd, "build", "-o", filepath.Join(tmp, "bin")+string(filepath.Separator), "./...")
			if err != nil && strings.Contains(output, "no main packages to build") {
				output, err = run(goCmd, "build", "./...")
			}
		} else {
			output, err = run(goCmd, step, "./...")
		}
		if err != nil {
			if ctx.Err() != nil {
				return c, ctx.Err()
			}
			c.Failed = step
			c.Output = firstLines(dropDownloads(output), maxOutputLines)
			if c.Output == "" {
				c.Output = err.Error()
			}
			return c, nil
		}
	}
	return c, nil
}

// extractApp extracts an application's zip from the snapshot into dir and
// returns dir.
func extractApp(out, app, dir string) (string, error) {
	p, v, _ := strings.Cut(app, "@")
	key, err := modmirror.VersionKey(p, v, modmirror.ExtZip)
	if err != nil {
		return "", fmt.Errorf("snapshot: %s: %w", app, err)
	}
	if err := modzip.Unzip(dir, module.Version{Path: p, Version: v}, filepath.Join(out, filepath.FromSlash(key))); err != nil {
		return "", fmt.Errorf("snapshot: extracting %s: %w", app, err)
	}
	return dir, nil
}

// netSandbox returns the command prefix that runs a command without
// network, or nil if none works here.
func netSandbox() []string {
	for _, prefix := range [][]string{{"unshare", "--net", "--"}, {"unshare", "--net", "--map-root-user", "--"}} {
		if exec.Command(prefix[0], append(prefix[1:], "true")...).Run() == nil {
			return prefix
		}
	}
	return nil
}

// dropDownloads removes the go command's "go: downloading" lines, which
// say nothing about a failure.
func dropDownloads(s string) string {
	var keep []string
	for _, l := range strings.Split(s, "\n") {
		if !strings.HasPrefix(l, "go: downloading ") {
			keep = append(keep, l)
		}
	}
	return strings.Join(keep, "\n")
}

func firstLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = append(lines[:n], "...")
	}
	return strings.Join(lines, "\n")
}
