// Package ui is the web UI that every agent serves at /ui/: plain HTML, CSS
// and JavaScript embedded in the binary, with no build step. The pages hold
// no cluster data; the script reads and changes the cluster through the
// /v1 API with the token the user logs in with, so the UI can do exactly
// what that token may do and nothing more.
package ui

import (
	"embed"
	"io/fs"
	"net/http"
)

//go:embed static
var static embed.FS

// contentPolicy lets the pages run only the script and style sheet served
// with them and talk only to their own agent, so that a name or a log line
// that smuggles markup in can neither run code nor send the token
// elsewhere; frame-ancestors keeps other sites from framing the UI to trick
// clicks out of a logged-in user.
const contentPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// Handler serves the UI's files, named relative to the path the UI is
// mounted at (the API strips its prefix). It is safe for concurrent use. The files are the same for everyone, so they need no token; every
// request the script makes for data does.
func Handler() http.Handler {
	sub, err := fs.Sub(static, "static")
	if err != nil {
		// The embedded tree always has the directory; failing here is a
		// build that lost it.
		panic(err)
	}
	files := http.FileServerFS(sub)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", contentPolicy)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "no-referrer")
		// The files change with the binary, which embeds them without a
		// modification time, so browsers revalidate rather than keep a
		// copy from an older release.
		h.Set("Cache-Control", "no-cache")
		files.ServeHTTP(w, r)
	})
}
