package demo

import (
	"bytes"
	_ "embed"
	"net/http"
	"time"
)

// baseCSS is the stylesheet the example pages share.
//
//go:embed base.css
var baseCSS []byte

// StylePath is where the examples serve the shared stylesheet.
const StylePath = "/base.css"

// Style serves the stylesheet the example pages share.
func Style(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/css; charset=utf-8")
	http.ServeContent(w, r, "base.css", time.Time{}, bytes.NewReader(baseCSS))
}
