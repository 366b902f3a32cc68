// Package e2e holds end-to-end tests of modmirror: they build the modmirror
// binary, run it as a separate process in front of a fixture upstream
// (internal/testupstream, which also serves its own checksum database), and
// drive the real go command through it, asserting only what a user sees: exit
// statuses, what go prints, the bytes and hashes it downloads, and what the
// mirror leaves in its data directory.
//
// # Running
//
//	go test ./e2e/
//	go test -race ./e2e/      # also builds the mirror binary with -race
//
// The tests need the go command (found on PATH, where go test puts its own)
// and no network: every server listens on 127.0.0.1, and every go command
// runs with a clean environment (its own GOPATH, GOMODCACHE and HOME, and a
// GOPROXY and GOSUMDB that name only the mirror and the fixture), so nothing
// in the caller's environment or go env file changes what it does. Only the
// build cache is the caller's (go env GOCACHE): it is content-addressed and
// safe to share, and a fresh one would spend most of the run compiling the
// standard library.
//
// # Layout
//
// helpers_test.go builds the binary (TestMain) and holds the helpers:
// startMirror runs a mirror and stops it with SIGTERM at cleanup, checking
// that it exits 0; newGo runs go commands in a clean environment;
// writeModule writes a main module. e2e_test.go holds the tests, one per user
// scenario; fixtures_test.go the fixture modules they serve.
package e2e
