#!/usr/bin/env bash
# Runs a throwaway PostgreSQL server for the tests of sumlog/postgres.
#
#	scripts/postgres.sh start DIR   create a cluster in DIR, start it, print its URL
#	scripts/postgres.sh stop DIR    stop the cluster in DIR and remove DIR
#
# start installs Debian's postgresql with apt-get when no initdb is found,
# creates a cluster in DIR/data (as the postgres system user when run as
# root: the server refuses to run as root), starts it listening on
# 127.0.0.1 only, on the first free port from 55432, with fsync on, and
# creates a role "modmirror" (with a random password and CREATEDB, so that
# each test can create its own database) and a database of the same name.
# It prints the URL, postgres://modmirror:...@127.0.0.1:PORT/modmirror?sslmode=disable,
# on stdout and everything else on stderr. Every step is bounded in time.
# stop removes only a DIR that start created.
set -euo pipefail

usage() {
	echo "usage: scripts/postgres.sh start DIR | stop DIR" >&2
	exit 2
}
[ $# -eq 2 ] || usage
cmd=$1
dir=$2
marker=$dir/.modmirror-postgres

say() { echo "postgres.sh: $*" >&2; }

# bindir prints the directory of initdb and pg_ctl: the newest
# /usr/lib/postgresql/*/bin (Debian's layout), else the one of initdb on PATH.
bindir() {
	local d
	d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
	if [ -n "$d" ] && [ -x "$d/initdb" ]; then
		echo "$d"
	elif command -v initdb >/dev/null 2>&1; then
		dirname "$(command -v initdb)"
	fi
}

# as_server runs a command as the user that owns the cluster.
as_server() {
	if [ "$(id -u)" -eq 0 ]; then
		runuser -u postgres -- "$@"
	else
		"$@"
	fi
}

install_postgres() {
	if [ "$(id -u)" -ne 0 ]; then
		say "initdb not found and installing postgresql needs root"
		exit 1
	fi
	say "initdb not found; installing postgresql with apt-get"
	# Only the binaries: no cluster of the package's own on port 5432.
	mkdir -p /etc/postgresql-common/createcluster.d
	echo "create_main_cluster = false" >/etc/postgresql-common/createcluster.d/modmirror.conf
	export DEBIAN_FRONTEND=noninteractive
	timeout 300 apt-get update -qq
	timeout 600 apt-get install -y -qq --no-install-recommends postgresql >/dev/null
	hash -r
}

start() {
	local bin
	bin=$(bindir)
	if [ -z "$bin" ]; then
		install_postgres
		bin=$(bindir)
		[ -n "$bin" ] || { say "no initdb after installing postgresql"; exit 1; }
	fi
	say "using $("$bin/postgres" --version) from $bin"

	if [ -e "$dir" ] && [ -n "$(ls -A "$dir")" ]; then
		say "$dir is not empty"
		exit 1
	fi
	mkdir -p "$dir"
	touch "$marker"
	if [ "$(id -u)" -eq 0 ]; then
		chown postgres: "$dir"
	fi
	chmod 0700 "$dir"
	if ! as_server test -w "$dir"; then
		say "the postgres user cannot write $dir (is a parent directory closed to it?)"
		exit 1
	fi

	say "initdb $dir/data"
	as_server timeout 120 "$bin/initdb" -D "$dir/data" -U postgres -E UTF8 --locale=C \
		--auth-local=trust --auth-host=scram-sha-256 >"$dir/initdb.log" 2>&1 ||
		{ cat "$dir/initdb.log" >&2; exit 1; }

	# The first free port from 55432; another run may take it between the
	# check and the start, so a failed start tries the next one.
	local port started=
	for port in $(seq 55432 55462); do
		if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
			continue # in use
		fi
		say "starting on 127.0.0.1:$port (fsync on, synchronous_commit on)"
		if as_server timeout 90 "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
			-o "-c listen_addresses=127.0.0.1 -c port=$port -c unix_socket_directories=$dir -c fsync=on -c synchronous_commit=on -c max_connections=200" \
			start >/dev/null; then
			started=1
			break
		fi
		tail -n 5 "$dir/server.log" >&2 || true
	done
	[ -n "$started" ] || { say "could not start the server"; exit 1; }

	local password
	password=$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')
	as_server timeout 30 "$bin/psql" -X -h "$dir" -p "$port" -U postgres -d postgres -qAt -v ON_ERROR_STOP=1 >/dev/null <<-EOF
		CREATE ROLE modmirror LOGIN CREATEDB PASSWORD '$password';
		CREATE DATABASE modmirror OWNER modmirror;
	EOF
	local url="postgres://modmirror:$password@127.0.0.1:$port/modmirror?sslmode=disable"
	# Checks the password over TCP, as the tests connect.
	timeout 30 "$bin/psql" -X "$url" -qAt -c "SELECT 1" >/dev/null
	say "ready: postgres://modmirror:xxxxx@127.0.0.1:$port/modmirror?sslmode=disable"
	echo "$url"
}

stop() {
	if [ ! -e "$dir" ]; then
		return 0
	fi
	if [ ! -e "$marker" ]; then
		say "$dir was not created by postgres.sh start; not removing it"
		exit 1
	fi
	if [ -e "$dir/data/postmaster.pid" ]; then
		local bin
		bin=$(bindir)
		say "stopping the server in $dir"
		as_server timeout 90 "$bin/pg_ctl" -D "$dir/data" -m fast -w -t 60 stop >/dev/null
	fi
	rm -rf "$dir"
}

case $cmd in
start) start ;;
stop) stop ;;
*) usage ;;
esac
