package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strconv"
	"strings"
)

// A usageError reports a command line that cannot be run as given. main
// prints it on one line, followed by where to find help.
type usageError struct {
	cmd string // the command whose --help to suggest, such as "token create"; "" for the one run
	err error
}

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

// usagef returns a usageError with a formatted message.
func usagef(format string, args ...any) error {
	return usageError{err: fmt.Errorf(format, args...)}
}

// envName returns the environment variable that sets a flag.
func envName(flagName string) string {
	return "MODMIRROR_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// commandFlags is the flag set of one command, with what package flag
// lacks: one-letter short names (-o for --out), groups in --help, settings
// from the environment where a service is configured, and errors that name
// a flag as the user typed it.
//
// Flags are registered with the embedded FlagSet's methods. Both -name and
// --name are accepted; --help shows --name.
type commandFlags struct {
	*flag.FlagSet
	cmd         string // as typed after "modmirror": "serve", "token create"
	synopsis    string
	description string

	short  map[string]string // long name -> one-letter name
	groups []flagGroup
	env    map[string]bool // long names that MODMIRROR_* variables set
	allEnv bool            // every flag has its variable
	stdout io.Writer       // where --help goes; nil means os.Stdout
}

type flagGroup struct {
	title string
	names []string
}

// newFlags returns the flag set of the command cmd.
func newFlags(cmd, synopsis, description string) *commandFlags {
	fs := flag.NewFlagSet(cmd, flag.ContinueOnError)
	fs.SetOutput(io.Discard) // errors and help are printed by parse
	return &commandFlags{
		FlagSet:     fs,
		cmd:         cmd,
		synopsis:    synopsis,
		description: strings.TrimSpace(description),
		short:       map[string]string{},
		env:         map[string]bool{},
	}
}

// group starts a group of flags in --help: those registered after it, up to
// the next group.
func (f *commandFlags) group(title string) {
	f.closeGroup()
	f.groups = append(f.groups, flagGroup{title: title})
}

// closeGroup puts the flags registered since the last group into it (into
// an untitled one if there is none yet).
func (f *commandFlags) closeGroup() {
	grouped := map[string]bool{}
	for _, g := range f.groups {
		for _, n := range g.names {
			grouped[n] = true
		}
	}
	var fresh []string
	f.VisitAll(func(fl *flag.Flag) {
		if !grouped[fl.Name] && !f.isShort(fl.Name) {
			fresh = append(fresh, fl.Name)
		}
	})
	if len(fresh) == 0 {
		return
	}
	if len(f.groups) == 0 {
		f.groups = append(f.groups, flagGroup{})
	}
	last := &f.groups[len(f.groups)-1]
	last.names = append(last.names, fresh...)
}

func (f *commandFlags) isShort(name string) bool {
	for _, s := range f.short {
		if s == name {
			return true
		}
	}
	return false
}

// shortName gives the flag long the one-letter name short as well.
func (f *commandFlags) shortName(long, short string) {
	fl := f.Lookup(long)
	if fl == nil {
		panic("shortName: no flag " + long)
	}
	f.Var(fl.Value, short, fl.Usage)
	f.short[long] = short
}

// fromEnv lets MODMIRROR_* variables set the named flags (all of them,
// with no names) when the command line does not. Only the settings of a
// service get variables, so that one variable means one thing everywhere.
func (f *commandFlags) fromEnv(names ...string) {
	if len(names) == 0 {
		f.allEnv = true
	}
	for _, n := range names {
		f.env[n] = true
	}
}

func (f *commandFlags) hasEnv(name string) bool {
	return !f.isShort(name) && (f.allEnv || f.env[name])
}

// noArgs is the maxArgs of parse for a command that takes no arguments;
// anyArgs for one that takes any number.
const (
	noArgs  = 0
	anyArgs = -1
)

// parse parses args: flags, which may come before, between and after the
// arguments ("--" ends them), then the MODMIRROR_* variables for the flags
// that have one and that the command line did not set. It returns the
// arguments; more than maxArgs (unless maxArgs is negative) is a usage
// error. --help prints the usage on standard output and returns
// flag.ErrHelp.
func (f *commandFlags) parse(args []string, maxArgs int) ([]string, error) {
	var pos []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			pos = append(pos, args[i+1:]...)
			break
		}
		if len(a) < 2 || a[0] != '-' {
			pos = append(pos, a)
			continue
		}
		name, value, hasValue := strings.Cut(strings.TrimPrefix(a[1:], "-"), "=")
		typed, _, _ := strings.Cut(a, "=")
		if name == "" || name[0] == '-' || name[0] == '=' {
			return nil, f.usageErr("bad flag syntax: %s", a)
		}
		if name == "h" || name == "help" {
			f.printUsage(f.stdoutOrDefault())
			return nil, flag.ErrHelp
		}
		fl := f.Lookup(name)
		if fl == nil {
			return nil, f.usageErr("unknown flag %s", typed)
		}
		if b, ok := fl.Value.(interface{ IsBoolFlag() bool }); ok && b.IsBoolFlag() {
			if !hasValue {
				value = "true"
			}
		} else if !hasValue {
			if i+1 == len(args) {
				return nil, f.usageErr("flag %s needs a value", typed)
			}
			i++
			value = args[i]
		}
		if err := f.Set(name, value); err != nil {
			return nil, f.usageErr("invalid value %q for %s: %v", value, typed, err)
		}
	}
	if maxArgs >= 0 && len(pos) > maxArgs {
		if maxArgs == 0 {
			return nil, f.usageErr("unexpected argument %q", pos[0])
		}
		return nil, f.usageErr("too many arguments: %q", pos)
	}
	return pos, f.applyEnv()
}

// applyEnv sets the flags that have a variable and were not given on the
// command line.
func (f *commandFlags) applyEnv() error {
	given := map[string]bool{}
	f.Visit(func(fl *flag.Flag) { given[fl.Name] = true })
	for long, short := range f.short {
		if given[short] {
			given[long] = true
		}
	}
	if f.allEnv {
		if err := f.checkEnv(); err != nil {
			return err
		}
	}
	var err error
	f.VisitAll(func(fl *flag.Flag) {
		if err != nil || given[fl.Name] || !f.hasEnv(fl.Name) {
			return
		}
		if v, ok := os.LookupEnv(envName(fl.Name)); ok {
			if serr := fl.Value.Set(v); serr != nil {
				err = f.usageErr("%s=%q: %v", envName(fl.Name), v, serr)
			}
		}
	})
	return err
}

// testEnvPrefix begins the variables of the test suite (scripts/test.sh),
// which no command reads.
const testEnvPrefix = "MODMIRROR_TEST_"

// checkEnv refuses a MODMIRROR_* variable that is no flag's, for a
// command whose every flag has one (serve): a mistyped MODMIRROR_PRIVATE
// would otherwise be ignored, and private module paths sent to the public
// upstream.
func (f *commandFlags) checkEnv() error {
	known := map[string]bool{}
	f.VisitAll(func(fl *flag.Flag) {
		if f.hasEnv(fl.Name) {
			known[envName(fl.Name)] = true
		}
	})
	var unknown []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(name, "MODMIRROR_") && !strings.HasPrefix(name, testEnvPrefix) && !known[name] {
			unknown = append(unknown, name)
		}
	}
	if len(unknown) == 0 {
		return nil
	}
	slices.Sort(unknown)
	name := unknown[0]
	msg := fmt.Sprintf("unknown variable %s: no flag of %s reads it", name, f.cmd)
	if near := nearest(name, slices.Sorted(maps.Keys(known))); near != "" {
		msg += "; did you mean " + near + "?"
	}
	return f.usageErr("%s", msg)
}

// nearest returns the name among names closest to s, if it is close
// enough to be a typo of it: at most 3 edits, and fewer than half of s.
func nearest(s string, names []string) string {
	best, bestD := "", 4
	for _, n := range names {
		if d := editDistance(s, n); d < bestD && 2*d < len(s) {
			best, bestD = n, d
		}
	}
	return best
}

// editDistance returns the Levenshtein distance of a and b, in bytes.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

func (f *commandFlags) usageErr(format string, args ...any) error {
	return usageError{cmd: f.cmd, err: fmt.Errorf(format, args...)}
}

func (f *commandFlags) stdoutOrDefault() io.Writer {
	if f.stdout != nil {
		return f.stdout
	}
	return os.Stdout
}

// printUsage writes the command's help: synopsis, description, and the
// flags by group, each with its default and variable.
func (f *commandFlags) printUsage(w io.Writer) {
	f.closeGroup()
	fmt.Fprintf(w, "Usage: %s\n", f.synopsis)
	if f.description != "" {
		fmt.Fprintf(w, "\n%s\n", f.description)
	}
	for _, g := range f.groups {
		title := g.title
		if title == "" {
			title = "Flags"
		}
		fmt.Fprintf(w, "\n%s:\n", title)
		names := slices.Clone(g.names)
		slices.Sort(names)
		for _, n := range names {
			f.printFlag(w, f.Lookup(n))
		}
	}
	if len(f.env) > 0 || f.allEnv {
		fmt.Fprintln(w, "\nA flag on the command line wins over its environment variable.")
	}
	if f.allEnv {
		fmt.Fprintln(w, "Any other MODMIRROR_* variable is refused, as a typo.")
	}
}

func (f *commandFlags) printFlag(w io.Writer, fl *flag.Flag) {
	kind, usage := flag.UnquoteUsage(fl)
	head := "--" + fl.Name
	if s, ok := f.short[fl.Name]; ok {
		head = "-" + s + ", " + head
	}
	if kind != "" {
		head += " " + kind
	}
	fmt.Fprintf(w, "  %s\n", head)
	for line := range strings.SplitSeq(wrap(usage, 72), "\n") {
		fmt.Fprintf(w, "      %s\n", line)
	}
	var notes []string
	if d := fl.DefValue; d != "" && d != "false" && d != "0" && d != "0s" {
		if strings.ContainsAny(d, " \t") {
			d = strconv.Quote(d)
		}
		notes = append(notes, "default "+d)
	}
	if f.hasEnv(fl.Name) {
		notes = append(notes, "environment "+envName(fl.Name))
	}
	if len(notes) > 0 {
		fmt.Fprintf(w, "      (%s)\n", strings.Join(notes, "; "))
	}
}

// wrap breaks text into lines of at most width bytes at spaces.
func wrap(text string, width int) string {
	var b strings.Builder
	n := 0
	for _, word := range strings.Fields(text) {
		switch {
		case n == 0:
		case n+1+len(word) > width:
			b.WriteByte('\n')
			n = 0
		default:
			b.WriteByte(' ')
			n++
		}
		b.WriteString(word)
		n += len(word)
	}
	return b.String()
}

// runSubcommand runs the subcommand of a command such as "modmirror sumdb"
// named by args[0]. With no subcommand, or help asked for, it prints usage:
// on standard output when asked for, else on standard error.
func runSubcommand(ctx context.Context, cmd string, args []string, usage string, cmds map[string]func() command) error {
	if len(args) == 0 {
		fmt.Fprint(os.Stderr, usage)
		return usageError{cmd: cmd, err: errors.New("missing subcommand")}
	}
	if args[0] == "-h" || args[0] == "--help" || args[0] == "-help" || args[0] == "help" {
		fmt.Fprint(os.Stdout, usage)
		return flag.ErrHelp
	}
	newCmd, ok := cmds[args[0]]
	if !ok {
		return usageError{cmd: cmd, err: fmt.Errorf("unknown subcommand %q", args[0])}
	}
	err := newCmd().Run(ctx, args[1:])
	var ue usageError
	switch {
	case errors.As(err, &ue) && ue.cmd == "":
		ue.cmd = cmd + " " + args[0]
		return ue
	case err != nil && !errors.As(err, &ue) && !errors.Is(err, flag.ErrHelp):
		return commandError{cmd: cmd + " " + args[0], err: err}
	}
	return err
}

// A commandError is the error of a subcommand, such as "token revoke",
// which main names in its message.
type commandError struct {
	cmd string
	err error
}

func (e commandError) Error() string { return e.err.Error() }
func (e commandError) Unwrap() error { return e.err }
