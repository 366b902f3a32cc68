package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
)

// usageError reports a command line that cannot be run as given.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

// envName returns the environment variable that sets a flag.
func envName(flagName string) string {
	return "MODMIRROR_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// parseFlags parses args, then sets every flag not given on the command
// line from its MODMIRROR_* environment variable, if set.
func parseFlags(fs *flag.FlagSet, args []string) error {
	fs.SetOutput(os.Stderr)
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			return err
		}
		return usageError{err}
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Errorf("unexpected arguments: %q", fs.Args())}
	}
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	var err error
	fs.VisitAll(func(f *flag.Flag) {
		if given[f.Name] || err != nil {
			return
		}
		if v, ok := os.LookupEnv(envName(f.Name)); ok {
			if serr := f.Value.Set(v); serr != nil {
				err = usageError{fmt.Errorf("%s=%q: %v", envName(f.Name), v, serr)}
			}
		}
	})
	return err
}

// setUsage gives a flag set a usage message that lists the flags with the
// environment variables that set them.
func setUsage(fs *flag.FlagSet, synopsis, description string) {
	fs.Usage = func() {
		out := fs.Output()
		fmt.Fprintf(out, "Usage: %s\n\n%s\n\nFlags:\n", synopsis, strings.TrimSpace(description))
		fs.VisitAll(func(f *flag.Flag) {
			name, usage := flag.UnquoteUsage(f)
			fmt.Fprintf(out, "  --%s %s\n    \t%s", f.Name, name, strings.ReplaceAll(usage, "\n", "\n    \t"))
			if f.DefValue != "" && f.DefValue != "false" {
				fmt.Fprintf(out, " (default %q)", f.DefValue)
			}
			fmt.Fprintf(out, "\n    \tenvironment: %s\n", envName(f.Name))
		})
	}
}

// runSubcommand runs the subcommand of a command such as "modmirror sumdb"
// named by args[0], printing usage when there is none or it is unknown.
func runSubcommand(ctx context.Context, args []string, usage string, cmds map[string]func() command) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "-help" || args[0] == "help" {
		fmt.Fprint(os.Stderr, usage)
		if len(args) == 0 {
			return usageError{errors.New("missing subcommand")}
		}
		return flag.ErrHelp
	}
	newCmd, ok := cmds[args[0]]
	if !ok {
		fmt.Fprint(os.Stderr, usage)
		return usageError{fmt.Errorf("unknown subcommand %q", args[0])}
	}
	return newCmd().Run(ctx, args[1:])
}
