// Package snapshot turns the go.sum files of Go projects into a
// deterministic, hash-pinned, offline bundle of their dependencies: a
// directory that works as GOPROXY=file://<dir> in a build sandbox without
// network, and whose content hash (a Nix NAR hash) can be pinned in a build
// recipe.
//
// # What a snapshot holds
//
// The snapshot is defined by go.sum lines alone. For every line
//
//	<path> <version> h1:...         the module zip: <path>/@v/<version>.zip
//	<path> <version>/go.mod h1:...  the go.mod file: <path>/@v/<version>.mod
//
// and an .info file for every module version named by either, plus a list
// file per module path, in the go command's module download cache layout
// (paths and versions escaped with golang.org/x/mod/module):
//
//	<escaped path>/@v/list
//	<escaped path>/@v/<escaped version>.info
//	<escaped path>/@v/<escaped version>.mod
//	<escaped path>/@v/<escaped version>.zip
//
// Nothing else: no lock files, no .ziphash, no checksum database tiles. The
// list file names the versions that have a .mod file, sorted by semver, one
// a line, as the go command's cache rewrites it; a module path whose go.sum
// lines are all zip lines has no list file.
//
// # Determinism
//
// Two runs over the same go.sum lines produce byte-identical trees, whatever
// the number of workers or the order of completion:
//
//   - .zip and .mod are the upstream's bytes, checked against go.sum, so they
//     cannot vary.
//   - .info is written by this package, not copied: the compact JSON
//     {"Version":"<version>","Time":"<time>"} with no trailing newline, where
//     time is the upstream .info's Time in UTC, truncated to whole seconds,
//     in RFC 3339 form. Proxies agree on the time of a version (it comes
//     from the origin's commit), but not always on its precision or zone, nor
//     on the other fields (Origin); dropping them keeps the tree the same
//     across proxies. If the upstream has no .info (not found), the time
//     comes from the version itself when it is a pseudo-version, and is
//     otherwise 1970-01-01T00:00:00Z; the go command reads the time only for
//     display and for sorting queries, not for builds.
//   - Files have mode 0644 and directories 0755, whatever the umask, and
//     every file and directory, the root included, has the modification time
//     1970-01-01T00:00:01Z (the Unix epoch plus one second, as in the Nix
//     store), so that even tools that look at times see the same tree.
//
// # Verification and reuse
//
// A .zip is downloaded to a temporary file in a staging directory beside the
// output directory (on the same filesystem, removed at the end), checked
// with golang.org/x/mod/zip.CheckZip, hashed with dirhash.HashZip and
// compared with go.sum before it is renamed into place; a .mod is hashed as
// the go command hashes go.mod files. A mismatch is an error that wraps
// [modmirror.ErrSecurity] and names the module and both hashes, and nothing
// is left at that file's name. Files already in the output directory that
// match go.sum are kept without asking the upstream, so a second run with
// nothing new does no network I/O at all.
//
// # The output directory is exactly the snapshot
//
// Files in the output directory that the go.sum lines do not name are
// removed. Because that deletes, [Run] first checks that an existing
// directory looks like a snapshot (every file in the layout above) and
// refuses to touch it otherwise.
//
// # Toolchains
//
// With [Options.Toolchains], the snapshot also holds, for each platform,
// the golang.org/toolchain module version that the go command downloads
// when a project's go.mod (or go.work) asks for a newer Go than the one
// running: v0.0.1-<toolchain>.<goos>-<goarch>, as .zip, .mod and .info,
// with a list file. The toolchain is chosen as the go command chooses it:
// the toolchain line if it is newer than the go line, else the go line,
// where a language version such as "go 1.22" means its first release,
// go1.22.0. A go line older than 1.21 selects nothing, since toolchain
// switching (and the golang.org/toolchain module) began with Go 1.21; a
// toolchain line that names no Go release (a custom suffix) is an error.
//
// No go.sum line names a toolchain, so these files are checked against a
// checksum database instead, through [Options.Checker] (the command uses
// sum.golang.org through the upstream's /sumdb/ endpoint), including files
// kept from an earlier run. Without a Checker they are only checked for
// being well-formed; the snapshot's hash then pins what was fetched. Their
// hashes appear in the manifest as go.sum lines, so a pinned snapshot says
// which toolchain zips it trusts. A toolchain version is never reported as
// skew.
//
// # Manifest
//
// Beside the tree, at <out>.manifest, Run writes what the tree holds, so
// that a hash that changed can be explained: see [Manifest].
package snapshot
