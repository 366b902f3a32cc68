# Sourced by the bench/*/run.sh scripts that run a modmirror binary.
#
# bench_args "$@" takes -rev REV (or --rev REV) out of the arguments:
# it sets rev (empty: the working tree) and args (the rest, for the
# driver).
#
# bench_build_modmirror OUT builds ./cmd/modmirror into OUT: from the
# working tree, or from a clean checkout of $rev (a git worktree, removed
# once built), so that uncommitted changes can be compared with a commit.
# It builds as the Dockerfile does: static (CGO_ENABLED=0), -trimpath.

bench_args() {
	rev=
	args=()
	while [ $# -gt 0 ]; do
		case "$1" in
		-rev | --rev) rev=$2; shift 2 ;;
		*) args+=("$1"); shift ;;
		esac
	done
}

bench_build_modmirror() {
	local out=$1
	if [ -z "$rev" ]; then
		CGO_ENABLED=0 go build -trimpath -o "$out" ./cmd/modmirror
		return
	fi
	local src
	src=$(mktemp -d)
	rmdir "$src"
	git worktree add --detach -q "$src" "$rev"
	local rc=0
	(cd "$src" && CGO_ENABLED=0 go build -trimpath -o "$out" ./cmd/modmirror) || rc=$?
	git worktree remove --force "$src"
	return $rc
}
