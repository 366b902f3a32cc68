package modmirror

import (
	"archive/zip"
	"bytes"
	"fmt"
	"io"
	"io/fs"
	"strings"

	"golang.org/x/mod/module"
	"golang.org/x/mod/sumdb/dirhash"
	modzip "golang.org/x/mod/zip"
)

// HashGoMod returns the go.sum hash ("h1:...") of a go.mod file, computed
// as the go command computes it: dirhash.Hash1 over one file named go.mod.
func HashGoMod(data []byte) (string, error) {
	return dirhash.Hash1([]string{"go.mod"}, func(string) (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(data)), nil
	})
}

// HashZip returns the go.sum hash ("h1:...") of a module zip file.
func HashZip(file string) (string, error) {
	return dirhash.HashZip(file, dirhash.Hash1)
}

// CheckZip checks a module zip file with golang.org/x/mod/zip, as the go
// command does before it extracts one: file names, the path@version/ prefix,
// sizes. Toolchain zips (golang.org/toolchain) hold a whole Go distribution
// and need follow only the prefix rule.
func CheckZip(path, version, file string) error {
	mv := module.Version{Path: path, Version: version}
	if path != "golang.org/toolchain" {
		cf, err := modzip.CheckZip(mv, file)
		if err != nil {
			return err
		}
		return cf.Err()
	}
	z, err := zip.OpenReader(file)
	if err != nil {
		return err
	}
	defer z.Close()
	prefix := path + "@" + version + "/"
	for _, f := range z.File {
		name, ok := strings.CutPrefix(f.Name, prefix)
		if !ok || name == "" || !fs.ValidPath(strings.TrimSuffix(name, "/")) {
			return fmt.Errorf("zip file contains %q, which is not a clean name under %s", f.Name, prefix)
		}
	}
	return nil
}
