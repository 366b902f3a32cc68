#!/usr/bin/env bash
# Makes sure the nix command is available, installing Debian's nix-bin when
# it is missing. The nar package's tests compare its hashes with
# "nix hash path"; scripts/test.sh can run them with MODMIRROR_REQUIRE_NIX=1
# after this script so that a missing nix fails the suite instead of
# skipping the comparison. Safe to run again: it installs nothing when nix
# already works. Needs root (or sudo) only when it has to install.
set -euo pipefail

if ! command -v nix >/dev/null 2>&1; then
	sudo=
	if [ "$(id -u)" -ne 0 ]; then
		if ! command -v sudo >/dev/null 2>&1; then
			echo "install-nix.sh: nix is missing and installing it needs root" >&2
			exit 1
		fi
		sudo=sudo
	fi
	echo "install-nix.sh: nix not found; installing nix-bin with apt-get" >&2
	export DEBIAN_FRONTEND=noninteractive
	$sudo apt-get update -qq
	$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nix-bin >/dev/null
	hash -r
fi

# "nix --version" fails when the binary is there but broken.
nix --version
