// Package checksum checks module hashes against a public checksum database
// (such as sum.golang.org) and proxies that database for the go command.
//
// # Trust model
//
// The database is trusted only through its public key and through the
// history of signed tree heads seen so far. Everything read from the
// [Remote] (an upstream proxy's /sumdb/<name>/ endpoint, or the database
// itself) is untrusted until golang.org/x/mod/sumdb has checked it:
//
//   - A lookup record is accepted only if it comes with a tree head signed
//     by the configured key and consistent with every tree head verified
//     before, and hash tiles prove that the record is in that tree.
//   - A tile is accepted only once its hashes are proven to hash up to a
//     verified tree head.
//
// The [Proxy] passes what the remote says on to the go command, which checks
// it the same way; the Proxy itself authenticates only the full tiles it
// keeps.
//
// # What is cached where
//
//   - The latest verified signed tree head is kept in a [HeadStore]: a
//     file, <StateDir>/<name>/latest, updated by compare-and-swap with
//     atomic, synced writes, or a PostgreSQL table that replicas share
//     (package pgstate). It outlives the process, so a database that
//     forks its log or rolls it back is caught after a restart too, and,
//     shared, by every replica once any of them has seen it.
//   - Verified tiles and lookup records go to the [modmirror.Store] under
//     sumdb/<name>/, the go command's own module-cache layout. Whatever is
//     there is trusted without further checks, so only verified data is
//     ever written there: by the sumdb client after it authenticated it, and
//     by the [Proxy] for full tiles it authenticated itself.
//   - The [Proxy] keeps /latest, lookups and partial tiles in memory for
//     seconds only: they are small, change as the log grows, and the go
//     command verifies them anyway. When the remote fails, or the mirror is
//     offline, they are answered from what the store and the state file
//     keep (all of it verified), so clients of an offline mirror can still
//     verify the modules it stores.
//
// A module version the database does not know cannot be verified, so it is
// reported with an error that does not match fs.ErrNotExist: the module may
// well exist upstream, but a mirror must neither store nor serve what it
// cannot verify, and must not pass that off as an ordinary miss.
package checksum
