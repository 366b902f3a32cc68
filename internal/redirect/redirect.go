// Package redirect is the redirect policy of every HTTP client that
// modmirror uses to fetch modules, as the go command's is: never from https
// to anything less, and at most ten redirects.
package redirect

import (
	"errors"
	"fmt"
	"net/http"
)

// Check is an http.Client CheckRedirect function: it refuses a redirect
// away from https once the first request was https, and an eleventh
// redirect.
func Check(req *http.Request, via []*http.Request) error {
	if len(via) > 0 && via[0].URL.Scheme == "https" && req.URL.Scheme != "https" {
		return fmt.Errorf("redirected from secure URL %s to insecure URL %s", via[len(via)-1].URL.Redacted(), req.URL.Redacted())
	}
	if len(via) >= 10 {
		return errors.New("stopped after 10 redirects")
	}
	return nil
}
