// Package goenv reads the go command's settings the way the go command
// reads them: from the process environment first, then from the file that
// "go env -w" writes.
//
// # The go env file
//
// "go env -w NAME=VALUE" keeps settings in a file of NAME=VALUE lines: the
// file named by $GOENV, or "go/env" in the user's configuration directory
// ($XDG_CONFIG_HOME, else ~/.config, on Linux) when GOENV is unset. GOENV=off
// means there is no such file. A variable set in the environment, even to the
// empty string, wins over the file, as it does for the go command.
//
// modmirror takes the defaults of its upstream, checksum database and private
// patterns from GOPROXY, GOSUMDB, GOPRIVATE, GONOPROXY, GONOSUMDB and
// GOINSECURE, so that a mirror started with no flags on a developer's machine
// does what the go command there would do.
package goenv

import (
	"bufio"
	"bytes"
	"os"
	"path/filepath"
	"strings"
)

// Env looks settings up. The zero value reads the process environment
// and the user's go env file.
type Env struct {
	// LookupEnv replaces os.LookupEnv, for tests.
	LookupEnv func(string) (string, bool)
	// ConfigDir replaces os.UserConfigDir, for tests.
	ConfigDir func() (string, error)
}

// Get returns the value of the setting name, from the environment or else
// from the go env file; "" if neither has it.
func Get(name string) string { return Env{}.Get(name) }

// Get returns the value of the setting name, from the environment or else
// from the go env file; "" if neither has it.
func (e Env) Get(name string) string {
	if v, ok := e.lookupEnv(name); ok {
		return v
	}
	v, _ := e.fileValue(name)
	return v
}

// File returns the name of the go env file, or "" if there is none
// (GOENV=off, or no configuration directory).
func (e Env) File() string {
	if v, ok := e.lookupEnv("GOENV"); ok {
		if v == "off" {
			return ""
		}
		if v != "" {
			return v
		}
	}
	configDir := os.UserConfigDir
	if e.ConfigDir != nil {
		configDir = e.ConfigDir
	}
	dir, err := configDir()
	if err != nil || dir == "" {
		return ""
	}
	return filepath.Join(dir, "go", "env")
}

func (e Env) lookupEnv(name string) (string, bool) {
	if e.LookupEnv != nil {
		return e.LookupEnv(name)
	}
	return os.LookupEnv(name)
}

// fileValue returns the value the go env file gives name. A file that
// cannot be read gives nothing: the go command, too, runs without one.
func (e Env) fileValue(name string) (string, bool) {
	file := e.File()
	if file == "" {
		return "", false
	}
	data, err := os.ReadFile(file)
	if err != nil {
		return "", false
	}
	return lookupLines(data, name)
}

// lookupLines finds NAME=VALUE in the lines of a go env file, as the go
// command reads them: the name must start the line, the last line for a
// name wins, and the value is taken as is up to the end of its line (quotes
// are part of it).
func lookupLines(data []byte, name string) (value string, ok bool) {
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := strings.TrimRight(sc.Text(), "\r")
		k, v, found := strings.Cut(line, "=")
		if found && k == name {
			value, ok = v, true
		}
	}
	return value, ok
}

// TelemetryOff turns the go command's telemetry off for the user whose
// home directory is home, as "go telemetry off" does: it writes the mode
// file under home's configuration directory. With telemetry on (the
// default, "local"), the go command leaves a child process behind that
// writes into that directory after go exits, so a temporary HOME could not
// be removed cleanly; the GOTELEMETRY variable does not turn it off.
func TelemetryOff(home string) error {
	dir := filepath.Join(home, ".config", "go", "telemetry")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "mode"), []byte("off\n"), 0o644)
}
