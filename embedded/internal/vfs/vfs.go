// Package vfs is the file layer of the storage engine: every file operation
// the engine's persistence makes goes through FS, so tests can inject I/O
// errors and simulate a power loss (Fault) without touching real disks.
package vfs

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"sort"
)

// File is an open file.
type File interface {
	io.Reader
	io.Writer
	Sync() error
	Truncate(size int64) error
	Size() (int64, error)
	Close() error
}

// FS is the set of file operations the engine uses.
type FS interface {
	// OpenFile opens name like os.OpenFile (O_CREATE, O_TRUNC, O_APPEND,
	// O_RDONLY, O_WRONLY, O_RDWR are honoured).
	OpenFile(name string, flag int, perm os.FileMode) (File, error)
	Rename(oldpath, newpath string) error
	Remove(name string) error
	// ReadDir lists the names in dir, sorted.
	ReadDir(dir string) ([]string, error)
	MkdirAll(dir string, perm os.FileMode) error
	// SyncDir makes creates, renames and removes in dir durable.
	SyncDir(dir string) error
	// Lock takes an exclusive lock on the file name (created if missing) so
	// two engines never share a directory.
	Lock(name string) (io.Closer, error)
}

// OS returns the operating system's file system. lock takes the directory
// lock (an advisory file lock where the platform has one).
func OS(lock func(path string) (*os.File, error)) FS { return osFS{lock: lock} }

type osFS struct {
	lock func(path string) (*os.File, error)
}

type osFile struct{ *os.File }

func (f osFile) Size() (int64, error) {
	st, err := f.Stat()
	if err != nil {
		return 0, err
	}
	return st.Size(), nil
}

func (osFS) OpenFile(name string, flag int, perm os.FileMode) (File, error) {
	f, err := os.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return osFile{f}, nil
}

func (osFS) Rename(oldpath, newpath string) error { return os.Rename(oldpath, newpath) }
func (osFS) Remove(name string) error             { return os.Remove(name) }

func (osFS) ReadDir(dir string) ([]string, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	names := make([]string, len(ents))
	for i, e := range ents {
		names[i] = e.Name()
	}
	sort.Strings(names)
	return names, nil
}

func (osFS) MkdirAll(dir string, perm os.FileMode) error { return os.MkdirAll(dir, perm) }

func (osFS) SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	// Some platforms cannot fsync a directory; the rename is as durable as
	// they make it.
	if errors.Is(err, os.ErrInvalid) {
		return nil
	}
	return err
}

func (fs osFS) Lock(name string) (io.Closer, error) {
	if fs.lock == nil {
		return os.OpenFile(filepath.Clean(name), os.O_CREATE|os.O_RDWR, 0o600)
	}
	return fs.lock(name)
}
