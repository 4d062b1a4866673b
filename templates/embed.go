package templates

import (
	"embed"
	"html/template"
	"io/fs"
)

//go:embed *.html static
var files embed.FS

// Parse parses every page. Each page is named after its file
// ("login.html") and uses the "layout" template.
func Parse() (*template.Template, error) {
	return template.New("").ParseFS(files, "*.html")
}

// Static is the folder served at /static/ (CSS, scripts).
func Static() fs.FS {
	sub, err := fs.Sub(files, "static")
	if err != nil {
		panic(err) // the folder is embedded above; this cannot fail
	}
	return sub
}
