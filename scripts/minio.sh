#!/usr/bin/env bash
# Runs a throwaway MinIO server for the tests of s3store and of replicas.
#
#	scripts/minio.sh install        build MinIO into the tools directory, if it is not there
#	scripts/minio.sh start DIR      start a server with its data in DIR; print its settings
#	scripts/minio.sh stop DIR       stop the server of DIR and remove DIR
#
# MinIO is built from source with the go command, at a pinned version that the
# module proxy serves, into $MODMIRROR_TEST_TOOLS_DIR/bin (default
# ~/.cache/modmirror-tools/bin): about two minutes the first time, nothing
# after. start listens on 127.0.0.1 only, on the first free port from 59000,
# with a random root user and password, and prints, on stdout, shell
# assignments for the tests:
#
#	MODMIRROR_TEST_S3_ENDPOINT=127.0.0.1:PORT AWS_ACCESS_KEY_ID=... AWS_SECRET_ACCESS_KEY=...
#
# and everything else on stderr. Every step is bounded in time. stop removes
# only a DIR that start created.
set -euo pipefail

MINIO_VERSION=v0.0.0-20260212201848-7aac2a2c5b7c
tools=${MODMIRROR_TEST_TOOLS_DIR:-$HOME/.cache/modmirror-tools}
bin=$tools/bin/minio
stamp=$tools/bin/minio.version

say() { echo "minio.sh: $*" >&2; }

usage() {
	echo "usage: scripts/minio.sh install | start DIR | stop DIR" >&2
	exit 2
}

install() {
	if [ -x "$bin" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$MINIO_VERSION" ]; then
		return 0
	fi
	say "building MinIO $MINIO_VERSION into $tools/bin (a few minutes, once)"
	mkdir -p "$tools/bin"
	# Its own module cache and flags: nothing of the caller's module
	# changes what is built.
	(cd / && GOBIN="$tools/bin" GOFLAGS=-mod=mod GOWORK=off GOTOOLCHAIN=local \
		timeout 1200 go install "github.com/minio/minio@$MINIO_VERSION") >&2
	echo "$MINIO_VERSION" >"$stamp"
}

# ready reports whether the server on port answers its readiness check
# with 200 (plain bash: no curl needed).
ready() {
	local status
	status=$( (exec 3<>"/dev/tcp/127.0.0.1/$1" &&
		printf 'GET /minio/health/ready HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n' >&3 &&
		timeout 2 head -n 1 <&3) 2>/dev/null || true)
	[[ $status == *" 200 "* ]]
}

start() {
	local dir=$1
	install
	if [ -e "$dir" ] && [ -n "$(ls -A "$dir")" ]; then
		say "$dir is not empty"
		exit 1
	fi
	mkdir -p "$dir/data"
	touch "$dir/.modmirror-minio"
	local user pass port started=
	user=test$(head -c 6 /dev/urandom | od -An -tx1 | tr -d ' \n')
	pass=$(head -c 18 /dev/urandom | od -An -tx1 | tr -d ' \n')
	for port in $(seq 59000 59030); do
		if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
			continue # in use
		fi
		MINIO_ROOT_USER=$user MINIO_ROOT_PASSWORD=$pass MINIO_BROWSER=off \
			MINIO_UPDATE=off MINIO_CALLHOME_ENABLE=off \
			nohup "$bin" server --quiet --address "127.0.0.1:$port" "$dir/data" >"$dir/server.log" 2>&1 &
		echo $! >"$dir/pid"
		for _ in $(seq 1 300); do
			if ready "$port"; then
				started=1
				break
			fi
			if ! kill -0 "$(cat "$dir/pid")" 2>/dev/null; then
				break
			fi
			sleep 0.1
		done
		[ -n "$started" ] && break
		kill "$(cat "$dir/pid")" 2>/dev/null || true
		tail -n 5 "$dir/server.log" >&2 || true
	done
	[ -n "$started" ] || { say "could not start the server"; exit 1; }
	say "ready on 127.0.0.1:$port"
	echo "MODMIRROR_TEST_S3_ENDPOINT=127.0.0.1:$port AWS_ACCESS_KEY_ID=$user AWS_SECRET_ACCESS_KEY=$pass"
}

stop() {
	local dir=$1
	if [ ! -e "$dir" ]; then
		return 0
	fi
	if [ ! -e "$dir/.modmirror-minio" ]; then
		say "$dir was not created by minio.sh start; not removing it"
		exit 1
	fi
	if [ -e "$dir/pid" ]; then
		local pid
		pid=$(cat "$dir/pid")
		kill "$pid" 2>/dev/null || true
		for _ in $(seq 1 100); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		kill -9 "$pid" 2>/dev/null || true
	fi
	rm -rf "$dir"
}

case ${1:-} in
install) [ $# -eq 1 ] || usage; install ;;
start) [ $# -eq 2 ] || usage; start "$2" ;;
stop) [ $# -eq 2 ] || usage; stop "$2" ;;
*) usage ;;
esac
