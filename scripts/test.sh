#!/usr/bin/env bash
# Runs the whole test suite. Needs Go (the end-to-end tests drive the go
# command on PATH), nix, PostgreSQL, systemd-analyze and Chromium, which it
# installs with apt-get when missing, and MinIO and govulncheck, which it builds with the go command once and keeps in
# ${MODMIRROR_TEST_TOOLS_DIR:-~/.cache/modmirror-tools}; the tests themselves use
# no network: every upstream is a fixture on 127.0.0.1, and so are the
# PostgreSQL and MinIO servers it starts.
# Extra arguments go to "go test", e.g. scripts/test.sh -run TestE2E.
set -euo pipefail
cd "$(dirname "$0")/.."

# The end-to-end tests run the go command with their own GOPROXY, GOSUMDB,
# GOMODCACHE and GOPATH; make sure nothing from the caller's environment
# changes how this suite itself builds.
export GOTOOLCHAIN=local

# The snapshot hash must equal what Nix computes: the tests compare with the
# real nix command, installed here when missing (Debian's nix-bin).
echo "== nix"
scripts/install-nix.sh
export MODMIRROR_TEST_REQUIRE_NIX=1

# The systemd unit in deploy/ is checked with systemd-analyze (Debian's
# systemd package; nothing is started with it).
echo "== systemd-analyze"
scripts/need.sh systemd-analyze systemd
export MODMIRROR_TEST_REQUIRE_SYSTEMD=1

# The status page is checked in a real headless browser (Debian's
# chromium, driven by chromedp).
echo "== chromium"
scripts/need.sh chromium chromium
export MODMIRROR_TEST_REQUIRE_CHROMIUM=1

# The mirror's /vuln/ endpoint is checked with the real govulncheck, built
# once into the tools directory.
echo "== govulncheck"
MODMIRROR_TEST_GOVULNCHECK=$(scripts/govulncheck.sh)
export MODMIRROR_TEST_GOVULNCHECK MODMIRROR_TEST_REQUIRE_GOVULNCHECK=1

# sumlog/postgres, pgstate and the replica tests run against a throwaway
# server in a temp dir, removed on exit; every step of scripts/postgres.sh
# is bounded in time.
echo "== postgres"
pgstart=$SECONDS
pgdir=$(mktemp -d "${TMPDIR:-/tmp}/modmirror-postgres.XXXXXX")
miniodir=$(mktemp -d "${TMPDIR:-/tmp}/modmirror-minio.XXXXXX")
trap 'scripts/postgres.sh stop "$pgdir" || true; scripts/minio.sh stop "$miniodir" || true' EXIT
MODMIRROR_TEST_POSTGRES_URL=$(scripts/postgres.sh start "$pgdir")
export MODMIRROR_TEST_POSTGRES_URL MODMIRROR_TEST_REQUIRE_POSTGRES=1
echo "postgres ready in $((SECONDS - pgstart))s"

# s3store and the replica tests run against a throwaway MinIO, built once
# into ${MODMIRROR_TEST_TOOLS_DIR:-~/.cache/modmirror-tools} (a few minutes the
# first time).
echo "== minio"
miniostart=$SECONDS
miniovars=$(scripts/minio.sh start "$miniodir")
export $miniovars MODMIRROR_TEST_REQUIRE_S3=1
export MODMIRROR_TEST_MINIO_BIN=${MODMIRROR_TEST_TOOLS_DIR:-$HOME/.cache/modmirror-tools}/bin/minio
echo "minio ready in $((SECONDS - miniostart))s"

echo "== go vet"
go vet ./...
echo "== go test"
go test -race -count=1 -timeout 20m "$@" ./...
