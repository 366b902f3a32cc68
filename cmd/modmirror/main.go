// Command modmirror is a Go module mirror: a GOPROXY server that fills from
// upstream proxies, verifies everything against the checksum database, keeps
// every version forever and serves its store at static-file speed.
//
// Usage:
//
//	modmirror serve [flags]     run the mirror
//	modmirror catalog rebuild   index the stored versions again
//	modmirror gc ...            delete versions no client asked for in a while
//	modmirror export ...        write stored versions to one file, for an offline mirror
//	modmirror import BUNDLE     read such a file into this mirror
//	modmirror snapshot ...      write an offline, hash-pinned copy of dependencies
//	modmirror sumdb ...         keys and audits of the mirror's own checksum database
//	modmirror token ...         tokens that let clients read private modules
//	modmirror verify ...        check go.sum files against a checksum database
//	modmirror version           print the version
//	modmirror warm ...          fill a running mirror ahead of need
//
// The flags of "modmirror serve" can also be set with environment variables:
// --list-ttl is MODMIRROR_LIST_TTL. A flag on the command line wins over the
// variable.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
)

// A command is one subcommand of modmirror.
type command interface {
	Run(ctx context.Context, args []string) error
}

var commands = map[string]func() command{
	"catalog":  func() command { return new(catalogCommand) },
	"export":   func() command { return new(exportCommand) },
	"gc":       func() command { return new(gcCommand) },
	"policy":   func() command { return new(policyCommand) },
	"import":   func() command { return new(importCommand) },
	"serve":    func() command { return new(serveCommand) },
	"snapshot": func() command { return new(snapshotCommand) },
	"sumdb":    func() command { return new(sumdbCommand) },
	"token":    func() command { return new(tokenCommand) },
	"verify":   func() command { return new(verifyCommand) },
	"version":  func() command { return new(versionCommand) },
	"warm":     func() command { return new(warmCommand) },
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

// run runs the subcommand named by args[0] and returns the exit code: 0 on
// success, 2 for a usage error, 1 for any other error. Errors are printed on
// one line that begins with the command; a usage error ends with where to
// find help. Help asked for goes to standard output.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		usage(stderr)
		return 2
	}
	if args[0] == "help" || args[0] == "-h" || args[0] == "--help" || args[0] == "-help" {
		usage(stdout)
		return 0
	}
	newCmd, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "modmirror: unknown command %q (run 'modmirror --help' for the list)\n", args[0])
		return 2
	}
	err := newCmd().Run(ctx, args[1:])
	var ue usageError
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return 0
	case errors.As(err, &ue):
		cmd := ue.cmd
		if cmd == "" {
			cmd = args[0]
		}
		fmt.Fprintf(stderr, "modmirror %s: %s (run 'modmirror %s --help')\n", cmd, errorText(args[0], ue.err), cmd)
		return 2
	default:
		cmd := args[0]
		var ce commandError
		if errors.As(err, &ce) {
			cmd = ce.cmd
		}
		fmt.Fprintf(stderr, "modmirror %s: %s\n", cmd, errorText(args[0], err))
		return 1
	}
}

// packagePrefixes are the prefixes that errors of modmirror's packages
// begin with. A message printed after "modmirror <command>: " needs only
// one prefix, so the package's is dropped there.
var packagePrefixes = []string{"access: ", "checksum: ", "fsstore: ", "mirror: ", "origin: ", "snapshot: ", "sumlog: ", "upstream: "}

// errorText is an error's message without a leading package name, such as
// "snapshot: ", which main's "modmirror <command>: " makes redundant.
func errorText(cmd string, err error) string {
	msg := err.Error()
	for _, p := range packagePrefixes {
		if m, ok := strings.CutPrefix(msg, p); ok {
			return m
		}
	}
	return msg
}

func usage(w io.Writer) {
	fmt.Fprint(w, `modmirror is a Go module mirror.

Usage:

	modmirror serve [flags]     run the mirror (GOPROXY server and checksum database proxy)
	modmirror catalog rebuild   index the stored module versions again
	modmirror gc --unused-for 180d [--keep go.sum ...] [--dry-run]
	                            delete versions no client asked for in a while
	modmirror export [--since T] [--match PATTERNS] -o BUNDLE
	                            write stored versions to one file, for an offline mirror
	modmirror import [--log-key KEY] BUNDLE
	                            read such a file into this mirror, all or nothing
	modmirror policy check --mirror URL [go.sum | go.mod | dir ...]
	                            which versions a project uses that the mirror's policy blocks
	modmirror policy lint FILE  check a policy file
	modmirror snapshot [flags] [dir ...] -o OUT
	                            write a hash-pinned offline copy of the projects' dependencies
	modmirror sumdb keygen --name NAME --out FILE
	                            make the signer key of the mirror's own checksum database
	modmirror sumdb audit [flags]
	                            check a checksum database's head against the last one seen
	modmirror token create --name NAME --allow PATTERNS
	                            make a token that reads the private modules matching PATTERNS
	modmirror token list|revoke list tokens, or revoke them
	modmirror verify [flags] [go.sum ...]
	                            check every go.sum line against the checksum database
	modmirror version           print the version
	modmirror warm --mirror URL [go.sum | go.mod | dir | module@version ...]
	                            fill a running mirror with what projects need

Run "modmirror <command> --help" for the flags of a command. The settings of
"modmirror serve" can also be given as environment variables: --list-ttl is
MODMIRROR_LIST_TTL.
`)
}
