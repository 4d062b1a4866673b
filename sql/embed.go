package sql

import (
	"embed"
	"io/fs"
)

//go:embed *.sql
var files embed.FS

// FS holds the migrations, NNNN_name.sql, applied in lexical order.
var FS fs.FS = files
