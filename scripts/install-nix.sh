#!/usr/bin/env bash
# Makes sure the nix command is available, installing Debian's nix-bin when
# it is missing. The nar package's tests compare its hashes with
# "nix hash path"; scripts/test.sh can run them with MODMIRROR_TEST_REQUIRE_NIX=1
# after this script so that a missing nix fails the suite instead of
# skipping the comparison. Safe to run again: it installs nothing when nix
# already works. Needs root (or sudo) only when it has to install.
set -euo pipefail
"$(dirname "$0")/need.sh" nix nix-bin

# "nix --version" fails when the binary is there but broken.
nix --version
