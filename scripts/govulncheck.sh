#!/usr/bin/env bash
# Builds govulncheck (golang.org/x/vuln/cmd/govulncheck, pinned here) into
# the tools directory (${MODMIRROR_TEST_TOOLS_DIR:-~/.cache/modmirror-tools}/bin)
# if it is not there, and prints its path. The end-to-end tests run it
# against the mirror's /vuln/ endpoint.
set -euo pipefail

VULN_VERSION=v1.9.0
tools=${MODMIRROR_TEST_TOOLS_DIR:-$HOME/.cache/modmirror-tools}
bin=$tools/bin/govulncheck
stamp=$tools/bin/govulncheck.version

if ! [ -x "$bin" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$VULN_VERSION" ]; then
	echo "govulncheck.sh: building govulncheck $VULN_VERSION into $tools/bin (once)" >&2
	mkdir -p "$tools/bin"
	# Its own flags: nothing of the caller's module changes what is built.
	(cd / && GOBIN="$tools/bin" GOFLAGS=-mod=mod GOWORK=off GOTOOLCHAIN=local \
		timeout 600 go install "golang.org/x/vuln/cmd/govulncheck@$VULN_VERSION") >&2
	echo "$VULN_VERSION" >"$stamp"
fi
echo "$bin"
