package origin

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/modmirror/modmirror"
	"golang.org/x/mod/module"
)

// A Rule maps the module paths under a repository root to the repository's
// URL, in the spirit of git's url.<base>.insteadOf.
//
// Pattern is one glob pattern in the syntax of GOPRIVATE (path.Match, element
// by element), matched against the leading elements of a module path: its
// number of elements is the number of elements of the repository root. So
// "corp.example/*" makes corp.example/lib/sub/v2 a module in the repository
// whose root is corp.example/lib.
//
// URL is a template for the repository's URL, with these substitutions:
//
//	{root}  the repository root path: corp.example/team/lib
//	{path}  the root without its first element (the host): team/lib
//	{rest}  the root without the pattern's leading elements that have no
//	        glob characters: "lib" for the pattern "corp.example/team/*"
//
// The URL must be https, ssh or, for hosts that Config.Insecure allows, http,
// and must not contain a password (credentials belong in Config.NetrcFile or
// Config.Tokens). For example:
//
//	{Pattern: "corp.example/*", URL: "https://git.corp.example/{path}.git"}
//	{Pattern: "corp.example/go/*", URL: "ssh://git@git.corp.example/golang/{rest}.git"}
type Rule struct {
	Pattern string
	URL     string
}

// A location says where a module's code lives.
type location struct {
	url    *url.URL // the repository
	root   string   // the module path prefix at the repository's root
	subdir string   // the subdirectory given by a go-import tag, or ""
	source string   // "rule", "vcs path" or "go-import", for messages
}

// compiledRule is a checked Rule.
type compiledRule struct {
	Rule
	elems   int // elements in Pattern
	literal int // leading elements of Pattern without glob characters
}

// CheckRule checks a rule as New does: one module path pattern (see
// modmirror.ParsePatterns) and a URL template that parses.
func CheckRule(r Rule) error {
	_, err := compileRule(r)
	return err
}

func compileRule(r Rule) (compiledRule, error) {
	if strings.Contains(r.Pattern, ",") {
		return compiledRule{}, fmt.Errorf("pattern %q must be one pattern, not a list", r.Pattern)
	}
	pats, err := modmirror.ParsePatterns(r.Pattern)
	if err != nil {
		return compiledRule{}, err
	}
	p := pats.String()
	if p == "" {
		return compiledRule{}, errors.New("empty pattern")
	}
	elems := strings.Split(p, "/")
	literal := 0
	for i, e := range elems {
		if literal == i && !strings.ContainsAny(e, `*?[\`) {
			literal++
		}
	}
	c := compiledRule{Rule: Rule{Pattern: p, URL: r.URL}, elems: len(elems), literal: literal}
	if _, err := url.Parse(c.expand(strings.Join(elems, "/"))); err != nil || r.URL == "" {
		return compiledRule{}, fmt.Errorf("pattern %q: invalid URL template %q", r.Pattern, r.URL)
	}
	return c, nil
}

// match returns the repository root of modPath under the rule, if the rule
// matches.
func (c compiledRule) match(modPath string) (root string, ok bool) {
	if !module.MatchPrefixPatterns(c.Pattern, modPath) {
		return "", false
	}
	elems := strings.Split(modPath, "/")
	if len(elems) < c.elems {
		return "", false
	}
	return strings.Join(elems[:c.elems], "/"), true
}

// expand returns the rule's URL for the repository root.
func (c compiledRule) expand(root string) string {
	elems := strings.Split(root, "/")
	return strings.NewReplacer(
		"{root}", root,
		"{path}", strings.Join(elems[1:], "/"),
		"{rest}", strings.Join(elems[min(c.literal, len(elems)):], "/"),
	).Replace(c.URL)
}

// checkRepoURL parses and checks a repository URL from a rule or a go-import
// tag: https or ssh, or http for an insecure host, with a host, and with no
// password.
func (o *Origin) checkRepoURL(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("invalid repository URL %q", raw)
	}
	if u.Host == "" || u.Opaque != "" {
		return nil, fmt.Errorf("invalid repository URL %q: no host", u.Redacted())
	}
	if _, ok := u.User.Password(); ok {
		return nil, fmt.Errorf("repository URL %s contains a password; credentials belong in the netrc file or the tokens", u.Redacted())
	}
	switch u.Scheme {
	case "https", "ssh":
	case "http":
		if !o.insecure(u.Hostname()) {
			return nil, fmt.Errorf("repository URL %s is not secure, and host %s is not configured as insecure", u.Redacted(), u.Hostname())
		}
	default:
		return nil, fmt.Errorf("repository URL %s: scheme %q is not supported (https, ssh, or http for insecure hosts)", u.Redacted(), u.Scheme)
	}
	if u.User != nil && u.Scheme != "ssh" {
		return nil, fmt.Errorf("repository URL %s names a user; credentials belong in the netrc file or the tokens", u.Redacted())
	}
	u.RawQuery, u.Fragment = "", ""
	return u, nil
}

// discoveryTTL is how long a module path's go-import answer is reused.
const discoveryTTL = 10 * time.Minute

type discovered struct {
	loc     location
	expires time.Time
}

// locate finds the repository of a module path: by the first matching rule,
// else by the go command's patterns for well-known hosts and for paths with
// a ".git" element, else by go-import discovery.
func (o *Origin) locate(ctx context.Context, modPath string) (location, error) {
	for _, rule := range o.rules {
		if root, ok := rule.match(modPath); ok {
			u, err := o.checkRepoURL(rule.expand(root))
			if err != nil {
				return location{}, fmt.Errorf("rule %q: %w", rule.Pattern, err)
			}
			return location{url: u, root: root, source: "rule " + rule.Pattern}, nil
		}
	}
	if loc, ok, err := o.vcsPathLocation(modPath); ok || err != nil {
		return loc, err
	}

	o.mu.Lock()
	d, ok := o.discovered[modPath]
	o.mu.Unlock()
	if ok && o.now().Before(d.expires) {
		return d.loc, nil
	}
	v, err, _ := o.discoveries.Do(modPath, func() (any, error) {
		loc, err := o.discover(ctx, modPath)
		if err == nil {
			o.mu.Lock()
			o.discovered[modPath] = discovered{loc: loc, expires: o.now().Add(discoveryTTL)}
			o.mu.Unlock()
		}
		return loc, err
	})
	if err != nil {
		return location{}, err
	}
	return v.(location), nil
}

// vcsPaths are the paths whose repository is known without discovery, as
// for the go command: GitHub, and any path with an element ending in ".git", whose
// repository is that path without the suffix. The root is the "root"
// submatch.
var (
	githubPath   = regexp.MustCompile(`^(?P<root>github\.com/[\w.\-]+/[\w.\-]+)(/[\w.\-]+)*$`)
	vcsDotGit    = regexp.MustCompile(`(?P<root>(?P<repo>([a-z0-9.\-]+\.)+[a-z0-9.\-]+(:[0-9]+)?(/~?[\w.\-]+)+?)\.(?P<vcs>bzr|fossil|git|hg|svn))(/~?[\w.\-]+)*$`)
	errNotGitHub = errors.New("invalid github.com import path")
)

func (o *Origin) vcsPathLocation(modPath string) (location, bool, error) {
	if pathHasPrefix(modPath, "github.com") {
		m := githubPath.FindStringSubmatch(modPath)
		if m == nil {
			return location{}, true, notExist{fmt.Errorf("%w %q", errNotGitHub, modPath)}
		}
		root := m[1]
		if strings.HasSuffix(root, ".git") {
			return location{}, true, notFoundf("invalid version control suffix in github.com/ path")
		}
		u, err := o.checkRepoURL("https://" + root)
		return location{url: u, root: root, source: "vcs path"}, true, err
	}
	if m := vcsDotGit.FindStringSubmatch(modPath); m != nil {
		if vcs := m[vcsDotGit.SubexpIndex("vcs")]; vcs != "git" {
			return location{}, true, notFoundf("%s: version control system %s is not supported, only git", modPath, vcs)
		}
		u, err := o.checkRepoURL("https://" + m[vcsDotGit.SubexpIndex("repo")])
		return location{url: u, root: m[vcsDotGit.SubexpIndex("root")], source: "vcs path"}, true, err
	}
	return location{}, false, nil
}
