package snapshot

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"regexp"
	"strings"

	"golang.org/x/mod/module"
	"golang.org/x/mod/semver"

	"github.com/modmirror/modmirror"
)

// ToolchainModule is the module path of the Go toolchains that the go
// command downloads when GOTOOLCHAIN lets it switch.
const ToolchainModule = "golang.org/toolchain"

// A Platform is a target of the Go toolchain, such as linux/amd64.
type Platform struct {
	GOOS, GOARCH string
}

func (p Platform) String() string { return p.GOOS + "/" + p.GOARCH }

// ParsePlatforms parses a comma-separated list of GOOS/GOARCH pairs, such
// as "linux/amd64,darwin/arm64". An empty list is no platforms.
func ParsePlatforms(list string) ([]Platform, error) {
	var ps []Platform
	for _, f := range strings.Split(list, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		goos, goarch, ok := strings.Cut(f, "/")
		if !ok || !platformPart.MatchString(goos) || !platformPart.MatchString(goarch) {
			return nil, fmt.Errorf("snapshot: platform %q: want GOOS/GOARCH, such as linux/amd64", f)
		}
		ps = append(ps, Platform{GOOS: goos, GOARCH: goarch})
	}
	return ps, nil
}

var platformPart = regexp.MustCompile(`^[a-z0-9]+$`)

// goRelease matches the Go versions that name a toolchain release, as in
// a go line ("1.21.13", "1.22rc1") and, after "go", a toolchain line, and
// the language versions ("1.21") of a go line.
var goRelease = regexp.MustCompile(`^([0-9]+)\.([0-9]+)(?:\.([0-9]+)|(rc|beta)([0-9]+))?$`)

// goSemver returns a semantic version ordered as the go command orders Go
// versions: 1.21 (a language version) < 1.21rc1 < 1.21.0 < 1.21.1. It
// returns "" for anything else.
func goSemver(v string) string {
	m := goRelease.FindStringSubmatch(v)
	switch {
	case m == nil:
		return ""
	case m[3] != "":
		return "v" + m[1] + "." + m[2] + "." + m[3]
	case m[4] != "":
		return "v" + m[1] + "." + m[2] + ".0-" + m[4] + "." + m[5]
	default:
		return "v" + m[1] + "." + m[2] + ".0-0"
	}
}

// goToolchain returns the toolchain, such as "go1.21.13", that the go
// command switches to (when GOTOOLCHAIN allows it and it is newer than
// itself) for a go.mod or go.work file with these go and toolchain lines:
// the toolchain line if it is newer than the go line, else the go line,
// where a language version such as "1.22" means its first release,
// go1.22.0. Before Go 1.21 there was no toolchain switching, and no
// golang.org/toolchain module: then goToolchain returns "".
func goToolchain(goLine, toolchainLine string) (string, error) {
	if goLine == "" {
		goLine = "1.16" // the go command's default for a go.mod without a go line
	}
	gv := goSemver(goLine)
	if gv == "" {
		return "", fmt.Errorf("go line %q is not a Go version", goLine)
	}
	name := "go" + goLine
	if strings.HasSuffix(gv, ".0-0") {
		name += ".0"
		gv = strings.TrimSuffix(gv, "-0")
	}
	if toolchainLine != "" && toolchainLine != "default" {
		tv := goSemver(strings.TrimPrefix(toolchainLine, "go"))
		if !strings.HasPrefix(toolchainLine, "go") || tv == "" || strings.HasSuffix(tv, ".0-0") {
			return "", fmt.Errorf("toolchain line %q does not name a Go release (custom toolchains cannot be fetched)", toolchainLine)
		}
		if semver.Compare(tv, gv) > 0 {
			name, gv = toolchainLine, tv
		}
	}
	if semver.Compare(gv, "v1.21.0-0") < 0 {
		return "", nil
	}
	return name, nil
}

// toolchainVersions returns the golang.org/toolchain module versions of the
// toolchains that the projects switch to, for each platform, sorted, with
// none that go.sum lines (in pinned) already name.
func toolchainVersions(projects []*project, platforms []Platform, pinned *sumSet) ([]modVersion, error) {
	if len(platforms) == 0 {
		return nil, nil
	}
	seen := make(map[string]bool)
	var vs []modVersion
	for _, p := range projects {
		if p.toolchainErr != nil {
			return nil, p.toolchainErr
		}
		if p.toolchain == "" {
			continue
		}
		for _, pl := range platforms {
			version := "v0.0.1-" + p.toolchain + "." + pl.GOOS + "-" + pl.GOARCH
			if seen[version] || pinned.has(ToolchainModule, version) {
				continue
			}
			seen[version] = true
			if err := module.Check(ToolchainModule, version); err != nil {
				return nil, fmt.Errorf("snapshot: toolchain %s for %s: %w", p.toolchain, pl, err)
			}
			vs = append(vs, modVersion{Path: ToolchainModule, Version: version, unpinned: true})
		}
	}
	return vs, nil
}

// unpinned fetches the zip and go.mod file of a module version that no
// go.sum line names (a toolchain), or keeps those already in the output
// directory, checks them against the checksum database if there is a
// Checker, and sets v's hashes to theirs.
func (f *fetcher) unpinned(ctx context.Context, v *modVersion) error {
	target, err := f.target(*v, modmirror.ExtZip)
	if err != nil {
		return err
	}
	fresh := false
	hash, err := modmirror.HashZip(target)
	if err != nil {
		if err := os.Remove(target); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("snapshot: %w", err)
		}
		if f.up == nil {
			return f.errOffline(*v, modmirror.ExtZip)
		}
		tmp, err := os.CreateTemp(f.staging, "zip-*")
		if err != nil {
			return fmt.Errorf("snapshot: %w", err)
		}
		defer os.Remove(tmp.Name())
		defer tmp.Close()
		if err := f.download(ctx, *v, tmp); err != nil {
			return err
		}
		if err := modmirror.CheckZip(v.Path, v.Version, tmp.Name()); err != nil {
			return fmt.Errorf("snapshot: %s: invalid zip from %s: %w", v, f.up, err)
		}
		if hash, err = modmirror.HashZip(tmp.Name()); err != nil {
			return fmt.Errorf("snapshot: %s: hashing zip from %s: %w", v, f.up, err)
		}
		if err := tmp.Close(); err != nil {
			return fmt.Errorf("snapshot: %w", err)
		}
		target, fresh = tmp.Name(), true
	}
	if err := f.checkSum(ctx, v.Path, v.Version, hash, target); err != nil {
		return err
	}
	if fresh {
		final, err := f.target(*v, modmirror.ExtZip)
		if err != nil {
			return err
		}
		if err := place(target, final); err != nil {
			return err
		}
		f.fetched.Add(1)
	} else {
		f.reused.Add(1)
	}
	v.ZipSum = hash

	target, err = f.target(*v, modmirror.ExtMod)
	if err != nil {
		return err
	}
	data, err := os.ReadFile(target)
	fresh = err != nil
	if fresh {
		if f.up == nil {
			return f.errOffline(*v, modmirror.ExtMod)
		}
		if data, err = f.up.Mod(ctx, v.Path, v.Version); err != nil {
			return fmt.Errorf("snapshot: %w", err)
		}
		f.prog.bytes.Add(int64(len(data)))
	}
	if hash, err = modmirror.HashGoMod(data); err != nil {
		return fmt.Errorf("snapshot: %s: hashing go.mod: %w", v, err)
	}
	if err := f.checkSum(ctx, v.Path, v.Version+"/go.mod", hash, target); err != nil {
		return err
	}
	if fresh {
		if err := f.write(target, data); err != nil {
			return err
		}
		f.fetched.Add(1)
	} else {
		f.reused.Add(1)
	}
	v.ModSum = hash
	return nil
}

// checkSum checks the hash of a file of an unpinned module version against
// the checksum database, if there is a Checker. A file that fails is
// removed, whether fetched (a temporary file) or already in the output
// directory, so that nothing unverified stays.
func (f *fetcher) checkSum(ctx context.Context, path, version, hash, file string) error {
	if f.check == nil {
		return nil
	}
	if err := f.check.Check(ctx, path, version, hash); err != nil {
		os.Remove(file)
		return fmt.Errorf("snapshot: %s@%s: checking against the checksum database: %w", path, version, err)
	}
	return nil
}
