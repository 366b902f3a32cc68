#!/usr/bin/env bash
# need.sh COMMAND PACKAGE: makes sure COMMAND is on PATH, installing the
# Debian package PACKAGE with apt-get when it is missing. Installs nothing
# when the command is there. Needs root (or sudo) only when it has to
# install.
set -euo pipefail
cmd=$1 pkg=$2

if ! command -v "$cmd" >/dev/null 2>&1; then
	sudo=
	if [ "$(id -u)" -ne 0 ]; then
		if ! command -v sudo >/dev/null 2>&1; then
			echo "need.sh: $cmd is missing and installing $pkg needs root" >&2
			exit 1
		fi
		sudo=sudo
	fi
	echo "need.sh: $cmd not found; installing $pkg with apt-get" >&2
	timeout 300 $sudo apt-get update -qq
	timeout 600 $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$pkg" >/dev/null
	hash -r
	command -v "$cmd" >/dev/null || { echo "need.sh: $pkg installed no $cmd" >&2; exit 1; }
fi
