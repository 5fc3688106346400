// Package web holds Parley's browser assets: the landing and demo page
// templates, the widget loader (static/widget.js), the widget frame
// (static/frame/) and the agent console (static/console/). They are
// embedded in the binary, so serving the UI needs no Node and no build
// step. Package httpapi serves them: a file at static/P is served at the
// URL path /P, and a folder's index.html at the folder's path with a
// trailing slash (static/console/index.html at /console/).
package web

import (
	"embed"
	"io/fs"
)

//go:embed static
var static embed.FS

//go:embed pages
var pages embed.FS

// Static is the tree of assets served as they are, rooted at static/: it
// holds "widget.js", "frame/index.html", "console/index.html" and so on.
var Static fs.FS = mustSub(static, "static")

// Pages holds the html/template sources of the pages the server renders
// per request: "landing.html" (the page at /) and "demo.html" (/demo).
var Pages fs.FS = mustSub(pages, "pages")

func mustSub(f fs.FS, dir string) fs.FS {
	sub, err := fs.Sub(f, dir)
	if err != nil {
		panic(err) // dir is a constant of this package: a programming error
	}
	return sub
}
