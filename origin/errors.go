package origin

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"strings"

	"golang.org/x/mod/module"
)

// notExist wraps an error to keep its text and make it match
// fs.ErrNotExist, as the go command's notExistError does.
type notExist struct{ err error }

func (e notExist) Error() string        { return e.err.Error() }
func (e notExist) Unwrap() error        { return e.err }
func (e notExist) Is(target error) bool { return target == fs.ErrNotExist }

// A gitError reports a git command that failed. Its text holds the command's
// name and the first lines of its standard error, with credentials redacted.
type gitError struct {
	cmd    string // "git fetch"
	stderr string // redacted, trimmed
	err    error  // usually an *exec.ExitError
}

func (e *gitError) Error() string {
	if e.stderr == "" {
		return e.cmd + ": " + e.err.Error()
	}
	return e.cmd + ": " + e.err.Error() + ": " + e.stderr
}

func (e *gitError) Unwrap() error { return e.err }

// errTooLarge is wrapped by errors for files larger than their limit.
var errTooLarge = errors.New("file too large")

// A failure wraps an error that reports a failure to do the work, not an
// answer about the module, where that is not already clear (see
// operational).
type failure struct{ err error }

func (e failure) Error() string { return e.err.Error() }
func (e failure) Unwrap() error { return e.err }

// operational reports whether err is a failure to do the work (git or the
// file system failed, the request was cancelled, a file exceeded a limit)
// rather than an answer about the module: the version, branch or commit
// asked for does not exist or is not a valid version of the module.
func operational(err error) bool {
	var ge *gitError
	var f failure
	return errors.As(err, &ge) || errors.As(err, &f) || errors.Is(err, context.Canceled) ||
		errors.Is(err, context.DeadlineExceeded) || errors.Is(err, errTooLarge)
}

// versionError returns err, from resolving a version of a module in its
// repository, as a not-found error unless it is operational: the go
// command's version errors (a missing go.mod, a major version that does not
// match, an invalid pseudo-version) all mean that the module has no such
// version, which is what proxies answer 404 for.
func versionError(err error) error {
	if err == nil || errors.Is(err, fs.ErrNotExist) || operational(err) {
		return err
	}
	return notExist{err}
}

// moduleError is the error every method of Origin returns: it begins with
// "origin: ", names the module (and version or query, if any), has
// credentials redacted from its text, and matches fs.ErrNotExist when the
// module, version, branch or commit does not exist.
type moduleError struct {
	msg string
	err error
}

func (e *moduleError) Error() string { return e.msg }
func (e *moduleError) Unwrap() error { return e.err }

// fail returns err as a moduleError about path@version (path alone if
// version is empty).
func (o *Origin) fail(path, version string, err error) error {
	if err == nil {
		return nil
	}
	var me *module.ModuleError
	if !errors.As(err, &me) || me.Path != path {
		// ModuleError forwards errors.Is through Unwrap, so a not-found
		// error stays one.
		err = &module.ModuleError{Path: path, Version: version, Err: err}
	}
	return &moduleError{msg: "origin: " + o.creds.redact(err.Error()), err: err}
}

// notFoundf returns a not-found error with a formatted message.
func notFoundf(format string, args ...any) error {
	return notExist{fmt.Errorf(format, args...)}
}

// firstLines returns the first n non-empty lines of s, joined by "; ".
func firstLines(s string, n int) string {
	var lines []string
	for line := range strings.SplitSeq(s, "\n") {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		lines = append(lines, line)
		if len(lines) == n {
			break
		}
	}
	return strings.Join(lines, "; ")
}
