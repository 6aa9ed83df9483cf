// Package static holds the CSS and JavaScript of sockplay's pages, embedded
// in the binary.
package static

import (
	"embed"
	"net/http"
)

//go:embed *.css *.js
var files embed.FS

// Handler serves the embedded files. They change only with the binary, so
// browsers may cache them briefly.
func Handler() http.Handler {
	fs := http.FileServerFS(files)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-cache")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		fs.ServeHTTP(w, r)
	})
}
