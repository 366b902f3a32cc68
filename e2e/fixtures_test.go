package e2e

import (
	"testing"

	"github.com/modmirror/modmirror/internal/testupstream"
)

// The fixture modules: small libraries with an exported function, which
// the main modules the tests write call and print.
const (
	libPath     = "example.com/lib"
	libPseudo   = "v1.2.0-0.20240102030405-abcdefabcdef" // the "main" branch
	azurePath   = "github.com/Azure/go-greeter"          // capitals: escaped as !azure
	legacyPath  = "example.com/legacy"                   // no go.mod, v2 without /v2
	legacyV2    = "v2.0.0+incompatible"
	libV100Zip  = "/example.com/lib/@v/v1.0.0.zip" // URL path, at the fixture
	libV100Name = "example.com/lib/@v/v1.0.0.zip"  // store name, at the mirror
)

// lib returns a version of example.com/lib whose Hello returns greeting.
func lib(version, greeting string, aliases ...string) testupstream.Module {
	return testupstream.Module{
		Path:    libPath,
		Version: version,
		Aliases: aliases,
		Files: map[string]string{
			"go.mod": "module example.com/lib\n\ngo 1.21\n",
			"lib.go": `// Package lib greets.
package lib

// Hello returns a greeting that names the version it comes from.
func Hello() string { return "` + greeting + `" }
`,
			"LICENSE": "Public domain.\n",
		},
	}
}

var fixtureModules = []testupstream.Module{
	lib("v1.0.0", "hello from lib v1.0.0"),
	lib("v1.1.0", "hello from lib v1.1.0"),
	lib(libPseudo, "hello from lib main", "main", "abcdefabcdef"),
	lib("v1.3.0-RC1", "hello from lib v1.3.0-RC1"), // capitals: escaped as -!r!c1
	{
		Path:    azurePath,
		Version: "v1.0.0",
		Files: map[string]string{
			"go.mod": "module github.com/Azure/go-greeter\n\ngo 1.21\n",
			"greeter.go": `// Package greeter names itself.
package greeter

// Name returns the name of the package's owner.
func Name() string { return "Azure" }
`,
		},
	},
	{
		// Predates modules: no go.mod, and a major version above 1 on a
		// path without /v2.
		Path:    legacyPath,
		Version: legacyV2,
		Files: map[string]string{
			"legacy.go": `// Package legacy is older than modules.
package legacy

// Version describes the release.
func Version() string { return "legacy v2, no go.mod" }
`,
		},
	},
}

// newFixture starts a fixture upstream serving fixtureModules, with its own
// checksum database.
func newFixture(t *testing.T) *testupstream.Server {
	t.Helper()
	return testupstream.New(t, fixtureModules...)
}

// helloModule is a main module that prints lib.Hello().
var helloModule = map[string]string{
	"go.mod": "module example.com/hello\n\ngo 1.22\n",
	"main.go": `package main

import (
	"fmt"

	"example.com/lib"
)

func main() { fmt.Println(lib.Hello()) }
`,
}
