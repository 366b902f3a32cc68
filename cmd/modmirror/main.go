// Command modmirror is a Go module mirror: a GOPROXY server that fills from
// upstream proxies, verifies everything against the checksum database, keeps
// every version forever and serves its store at static-file speed.
//
// Usage:
//
//	modmirror serve [flags]     run the mirror
//	modmirror snapshot ...      write an offline, hash-pinned copy of dependencies
//	modmirror sumdb ...         keys and audits of the mirror's own checksum database
//	modmirror token ...         tokens that let clients read private modules
//	modmirror verify ...        check go.sum files against a checksum database
//	modmirror version           print the version
//
// Every flag can also be set with an environment variable: --list-ttl is
// MODMIRROR_LIST_TTL. A flag on the command line wins over the variable.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

// A command is one subcommand of modmirror.
type command interface {
	Run(ctx context.Context, args []string) error
}

var commands = map[string]func() command{
	"serve":    func() command { return new(serveCommand) },
	"snapshot": func() command { return new(snapshotCommand) },
	"sumdb":    func() command { return new(sumdbCommand) },
	"token":    func() command { return new(tokenCommand) },
	"verify":   func() command { return new(verifyCommand) },
	"version":  func() command { return new(versionCommand) },
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:]))
}

// run runs the subcommand named by args[0] and returns the exit code: 0 on
// success, 2 for a usage error, 1 for any other error.
func run(ctx context.Context, args []string) int {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" || args[0] == "-help" {
		usage()
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	newCmd, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(os.Stderr, "modmirror: unknown command %q\n\n", args[0])
		usage()
		return 2
	}
	err := newCmd().Run(ctx, args[1:])
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.As(err, new(usageError)):
		fmt.Fprintf(os.Stderr, "modmirror %s: %v\n", args[0], err)
		return 2
	default:
		fmt.Fprintf(os.Stderr, "modmirror %s: %v\n", args[0], err)
		return 1
	}
}

func usage() {
	fmt.Fprint(os.Stderr, `modmirror is a Go module mirror.

Usage:

	modmirror serve [flags]     run the mirror (GOPROXY server and checksum database proxy)
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

Run "modmirror <command> --help" for the flags of a command. Every flag can also
be set with an environment variable: --list-ttl is MODMIRROR_LIST_TTL.
`)
}
