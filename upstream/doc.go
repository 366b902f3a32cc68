// Package upstream fetches module versions from the module proxies a mirror
// fills its store from, named by a list in the syntax of the go command's
// GOPROXY variable.
//
// # The list
//
// [Parse] reads a list of entries separated by "," or "|", as the go command
// does (https://go.dev/ref/mod#goproxy-protocol). Each request tries the
// entries in order until one answers. After an entry followed by ",", the next
// entry is tried only if this one answered "not found"; after an entry
// followed by "|", it is tried after any error: a refused connection, a
// timeout, a 5xx. Each entry is one of:
//
//   - an http, https or file URL of a module proxy ([Proxy]); a file URL
//     names a directory in the layout of the module download cache. An entry
//     without a scheme that looks like a host name, such as
//     "proxy.example.com", means https, as in the go command.
//   - "off": every request fails with an error matching [fs.ErrNotExist]
//     ("module lookup disabled by GOPROXY=off"), so that a mirror with no
//     upstream answers "not found" for what it does not hold.
//   - "direct": fetching from the origin version control system. It is not
//     supported yet: module requests that reach it fail with an error that
//     does not match fs.ErrNotExist. Checksum database requests that reach it
//     go to the database's own URL, https://<name>.
//
// As in the go command, "off" and "direct" end the list: entries after them
// are ignored. An empty list means "https://proxy.golang.org".
//
// # Not found
//
// A proxy answers "not found" with 404 or 410, as the protocol says, and also
// with 403: unlike the go command, this package treats 403 as not found,
// because the upstream modmirror is built for answers 403 for modules it does
// not hold. Not-found errors match [fs.ErrNotExist] under errors.Is.
//
// When every entry tried fails, the error returned is the most useful one, as
// for the go command with the same list: the
// error from "direct" if it was reached, else the last error that is not a
// not-found, else the last not-found.
//
// # Errors
//
// Every error begins with "upstream: ", names the module (path@version, or
// path@query, path@latest, "module path" for lists) or the checksum
// database, and the URL asked, with any password redacted. An error response
// that is plain text adds its first line (for not-found) or first few lines
// (for other errors) to the message, as the go command prints them.
package upstream
