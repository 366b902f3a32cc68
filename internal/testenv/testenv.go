// Package testenv lets a test that needs something of the machine (a
// server, a command) skip where it is missing, and fail instead where the
// test suite says it must be there: scripts/test.sh installs or starts
// each and sets MODMIRROR_TEST_REQUIRE_<WHAT>=1.
package testenv

import (
	"os"
	"testing"
)

// Required reports whether MODMIRROR_TEST_REQUIRE_<what>=1.
func Required(what string) bool {
	return os.Getenv("MODMIRROR_TEST_REQUIRE_"+what) == "1"
}

// Missing skips t, saying msg (what is missing, and how to get it), or
// fails it when MODMIRROR_TEST_REQUIRE_<what>=1.
func Missing(t testing.TB, what, msg string) {
	t.Helper()
	if Required(what) {
		t.Fatalf("%s, as MODMIRROR_TEST_REQUIRE_%s=1 requires", msg, what)
	}
	t.Skip(msg)
}
