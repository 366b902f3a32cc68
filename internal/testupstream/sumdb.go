package testupstream

import (
	"io/fs"
	"net/http"
	"strings"
)

// serveSumDB serves the checksum database at /sumdb/<name>/; rest is the
// URL path after "/sumdb/".
func (s *Server) serveSumDB(w http.ResponseWriter, r *http.Request, rest string) {
	sub, ok := strings.CutPrefix(rest, s.sumdbName+"/")
	switch {
	case !ok:
		// Like a proxy that does not proxy this database: the go command
		// would then try to reach it directly.
		notFound(w, "checksum database %s is not proxied here", strings.Split(rest, "/")[0])
	case sub == "supported":
		// An empty 200 is all the go command looks for before sending
		// every lookup and tile request through this proxy.
		w.WriteHeader(http.StatusOK)
	default:
		s.sumdb.ServeHTTP(w, r)
	}
}

// gosum returns the record that the checksum database logs for a module
// version the first time it is looked up: its two go.sum lines. Unknown
// versions must be reported as a *fs.PathError wrapping fs.ErrNotExist,
// because sumdb.Server checks with os.IsNotExist, which does not unwrap
// further, before answering 404 rather than 500.
func (s *Server) gosum(path, version string) ([]byte, error) {
	v := s.lookupVersion(path, version)
	if v == nil {
		return nil, &fs.PathError{Op: "not found:", Path: path + "@" + version, Err: fs.ErrNotExist}
	}
	return []byte(strings.Join(v.goSumLines(path, version), "\n") + "\n"), nil
}
