package origin

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/exec"
	"strconv"
	"strings"
)

// credentialHelper is the git credential helper used for hosts with
// configured credentials. It prints them from the environment of the git
// command, where runGit puts them, so they never appear on a command line or
// in a configuration file. It is configured only for the URL of the remote
// being contacted (credential.<scheme>://<host>.helper), after clearing the
// helpers configured before it for that URL, so git asks it only for that
// host: after a redirect to another host, git finds no credentials and fails.
const credentialHelper = `!f() { test "$1" = get && printf 'username=%s\npassword=%s\n' "$MODMIRROR_ORIGIN_USERNAME" "$MODMIRROR_ORIGIN_PASSWORD"; }; f`

// droppedEnv lists variables of the process environment that runGit never
// passes to git: they would point git at another repository, change its
// configuration behind the origin's back, print credentials (traces), or let
// it prompt.
var droppedEnv = []string{
	"GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_OBJECT_DIRECTORY",
	"GIT_ALTERNATE_OBJECT_DIRECTORIES", "GIT_COMMON_DIR", "GIT_NAMESPACE",
	"GIT_CONFIG", "GIT_CONFIG_PARAMETERS", "GIT_CONFIG_COUNT",
	"GIT_CURL_VERBOSE", "GIT_ASKPASS", "SSH_ASKPASS", "GIT_TERMINAL_PROMPT",
	"GIT_ALLOW_PROTOCOL", "GIT_PROTOCOL_FROM_USER", "GIT_LITERAL_PATHSPECS",
	"GIT_GLOB_PATHSPECS", "GIT_NOGLOB_PATHSPECS", "GIT_ICASE_PATHSPECS",
	"MODMIRROR_ORIGIN_USERNAME", "MODMIRROR_ORIGIN_PASSWORD",
}

func dropEnv(key string) bool {
	for _, k := range droppedEnv {
		if key == k {
			return true
		}
	}
	return strings.HasPrefix(key, "GIT_TRACE") ||
		strings.HasPrefix(key, "GIT_CONFIG_KEY_") || strings.HasPrefix(key, "GIT_CONFIG_VALUE_")
}

// gitEnv returns the environment every git command starts from: the
// process's, without droppedEnv, then extra (Config.Env), then settings that
// keep git from prompting and make ssh fail rather than ask.
func gitEnv(extra []string) []string {
	var env []string
	for _, kv := range append(os.Environ(), extra...) {
		if k, _, _ := strings.Cut(kv, "="); !dropEnv(k) {
			env = append(env, kv)
		}
	}
	env = append(env,
		"GIT_TERMINAL_PROMPT=0",
		"GCM_INTERACTIVE=never",
		"GIT_ASKPASS=", // empty disables askpass programs, core.askPass included
		"SSH_ASKPASS=",
	)
	if lookupEnv(env, "GIT_SSH") == "" && lookupEnv(env, "GIT_SSH_COMMAND") == "" {
		// No connection sharing, and no password prompts: a mirror has
		// no terminal, and as for the go command, ssh must not ask.
		env = append(env, "GIT_SSH_COMMAND=ssh -o ControlMaster=no -o BatchMode=yes")
	}
	return env
}

// lookupEnv returns the last value of key in env.
func lookupEnv(env []string, key string) string {
	v := ""
	for _, kv := range env {
		if k, val, ok := strings.Cut(kv, "="); ok && k == key {
			v = val
		}
	}
	return v
}

// A gitCmd is one git command to run.
type gitCmd struct {
	dir    string   // GIT_DIR: a bare clone, or "" for none
	remote *url.URL // the remote the command contacts, or nil for a local command
	stdout io.Writer
	args   []string
	config []string // extra "key=value" configuration
}

// git runs a local git command in the bare clone dir and returns its
// standard output.
func (o *Origin) git(ctx context.Context, dir string, args ...string) ([]byte, error) {
	var out bytes.Buffer
	err := o.run(ctx, gitCmd{dir: dir, stdout: &out, args: args})
	return out.Bytes(), err
}

// run runs c. Configuration goes through GIT_CONFIG_COUNT and friends, not
// the command line. A local command may use no transport at all; a command
// with a remote may use https and ssh, and http if the remote's host is
// insecure; git applies the list to redirects too. Credentials for the
// remote's host, if any, reach git only through credentialHelper.
func (o *Origin) run(ctx context.Context, c gitCmd) error {
	env := append([]string(nil), o.env...)
	if c.dir != "" {
		env = append(env, "GIT_DIR="+c.dir)
	}
	config := []string{
		"gc.autoDetach=false", // no background gc outliving the command
		"maintenance.autoDetach=false",
		"log.showSignature=false",
		"core.hooksPath=" + os.DevNull,
	}
	config = append(config, c.config...)
	allow := ""
	if c.remote != nil {
		allow = "https:ssh"
		if c.remote.Scheme == "http" && o.insecure(c.remote.Hostname()) {
			allow += ":http"
		}
		if c.remote.Scheme == "http" || c.remote.Scheme == "https" {
			if user, password, ok := o.creds.lookup(c.remote); ok {
				scope := "credential." + c.remote.Scheme + "://" + c.remote.Host
				config = append(config, scope+".helper=", scope+".helper="+credentialHelper)
				env = append(env, "MODMIRROR_ORIGIN_USERNAME="+user, "MODMIRROR_ORIGIN_PASSWORD="+password)
			}
		}
	}
	// Literal pathspecs: a subdirectory from a go-import tag is a
	// directory name, never pathspec magic such as ":(exclude)".
	env = append(env, "GIT_ALLOW_PROTOCOL="+allow, "GIT_PROTOCOL_FROM_USER=0", "GIT_LITERAL_PATHSPECS=1")
	env = append(env, "GIT_CONFIG_COUNT="+strconv.Itoa(len(config)))
	for i, kv := range config {
		k, v, _ := strings.Cut(kv, "=")
		env = append(env, fmt.Sprintf("GIT_CONFIG_KEY_%d=%s", i, k), fmt.Sprintf("GIT_CONFIG_VALUE_%d=%s", i, v))
	}

	cmd := exec.CommandContext(ctx, o.gitPath, c.args...)
	cmd.Env = env
	cmd.Dir = o.cfg.CacheDir
	cmd.Stdout = c.stdout
	var stderr bytes.Buffer
	cmd.Stderr = &limitedBuffer{buf: &stderr, n: 64 << 10}
	err := cmd.Run()
	if err == nil {
		return nil
	}
	if ctxErr := ctx.Err(); ctxErr != nil {
		err = ctxErr
	}
	name := "git"
	if len(c.args) > 0 {
		name += " " + c.args[0]
	}
	return &gitError{cmd: name, stderr: o.creds.redact(firstLines(stderr.String(), 4)), err: err}
}

// exitCode returns the exit code of a git command that ran and failed, or
// -1.
func exitCode(err error) int {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode()
	}
	return -1
}

// limitedBuffer keeps the first n bytes written to it and discards the rest.
type limitedBuffer struct {
	buf *bytes.Buffer
	n   int
}

func (b *limitedBuffer) Write(p []byte) (int, error) {
	if room := b.n - b.buf.Len(); room > 0 {
		b.buf.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}

// limitedWriter writes at most n bytes to w and fails with errTooLarge after.
type limitedWriter struct {
	w io.Writer
	n int64
}

func (l *limitedWriter) Write(p []byte) (int, error) {
	if int64(len(p)) > l.n {
		n, _ := l.w.Write(p[:l.n])
		l.n -= int64(n)
		return n, errTooLarge
	}
	n, err := l.w.Write(p)
	l.n -= int64(n)
	return n, err
}
