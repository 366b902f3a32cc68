package modmirror

import (
	"bytes"
	"io/fs"
	"path"
	"time"
)

// MemFile returns data as an open File named name (Stat reports its base
// name), modified at modTime: a file held in memory, or one answered
// before it is stored (a zero modTime). data must not change while the
// file is in use.
func MemFile(name string, data []byte, modTime time.Time) File {
	f := &memFile{name: name, modTime: modTime}
	f.Reset(data)
	return f
}

// A memFile is one allocation: a hit served from memory makes one.
type memFile struct {
	bytes.Reader
	name    string
	modTime time.Time
}

func (f *memFile) Close() error               { return nil }
func (f *memFile) Stat() (fs.FileInfo, error) { return memFileInfo{f}, nil }

type memFileInfo struct{ f *memFile }

func (i memFileInfo) Name() string       { return path.Base(i.f.name) }
func (i memFileInfo) Size() int64        { return i.f.Size() }
func (i memFileInfo) Mode() fs.FileMode  { return 0o444 }
func (i memFileInfo) ModTime() time.Time { return i.f.modTime }
func (i memFileInfo) IsDir() bool        { return false }
func (i memFileInfo) Sys() any           { return nil }
