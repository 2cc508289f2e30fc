package vfs

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"sort"
	"sync"
)

// Op names a counted file operation of Fault.
type Op string

// The operations Fault counts and can fail.
const (
	OpCreate   Op = "create"
	OpOpen     Op = "open"
	OpWrite    Op = "write"
	OpSync     Op = "sync"
	OpTruncate Op = "truncate"
	OpRename   Op = "rename"
	OpRemove   Op = "remove"
	OpReadDir  Op = "readdir"
	OpSyncDir  Op = "syncdir"
)

// ErrCrashed is returned by every operation between Fault.Crash and
// Fault.Restart, and by files opened before the crash.
var ErrCrashed = errors.New("vfs: the simulated machine lost power")

// ErrPowerLoss, returned by an injector, makes that operation the moment
// of a simulated power loss (Crash) instead of an error.
var ErrPowerLoss = errors.New("vfs: power loss")

// Fault is an in-memory FS for tests, in the manner of RocksDB's
// FaultInjectionTestFS and SQLite's I/O-error tests: it counts operations,
// fails the ones Inject chooses, and Crash simulates a power loss that keeps
// only what was made durable (file contents as of their last Sync, directory
// entries as of their directory's last SyncDir).
type Fault struct {
	mu     sync.Mutex
	gen    int
	down   bool              // between Crash and Restart
	files  map[string]*inode // current directory entries, by full path
	stable map[string]*inode // directory entries as of the last SyncDir
	dirs   map[string]bool
	counts map[Op]int
	inject func(op Op, path string) error
	// partial makes a failing write store half of its bytes first, as a
	// disk filling up mid-write does.
	partial bool
}

type inode struct {
	data    []byte
	durable []byte
}

// NewFault returns an empty Fault.
func NewFault() *Fault {
	return &Fault{files: map[string]*inode{}, stable: map[string]*inode{}, dirs: map[string]bool{}, counts: map[Op]int{}}
}

// SetInject installs fn, called before every counted operation with the
// operation and path; a non-nil error fails the operation. partial makes a
// failed write store half its bytes first. nil removes the injector.
func (f *Fault) SetInject(fn func(op Op, path string) error, partial bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.inject, f.partial = fn, partial
}

// Count returns how many times op was attempted.
func (f *Fault) Count(op Op) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.counts[op]
}

// Crash simulates a power loss: unsynced bytes and entries not made durable
// by a directory sync are lost, and every open file handle goes stale.
func (f *Fault) Crash() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.crashLocked()
}

// Crashed reports whether the machine is down (Crash without Restart).
func (f *Fault) Crashed() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.down
}

// Restart powers the machine back on after Crash.
func (f *Fault) Restart() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.down = false
}

func (f *Fault) crashLocked() {
	f.down = true
	f.gen++
	f.files = map[string]*inode{}
	for name, ino := range f.stable {
		ino.data = append([]byte(nil), ino.durable...)
		f.files[name] = ino
	}
	f.inject = nil
}

// Corrupt applies fn to the current contents of the file name (tests use it
// to flip bytes or empty a journal); the change counts as durable.
func (f *Fault) Corrupt(name string, fn func([]byte) []byte) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	ino := f.files[filepath.Clean(name)]
	if ino == nil {
		return &os.PathError{Op: "corrupt", Path: name, Err: os.ErrNotExist}
	}
	ino.data = fn(ino.data)
	ino.durable = append([]byte(nil), ino.data...)
	return nil
}

// Delete removes name durably (a test's stand-in for a user deleting it).
func (f *Fault) Delete(name string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.files, filepath.Clean(name))
	delete(f.stable, filepath.Clean(name))
}

// Size returns the current length of name, or -1 when it does not exist.
func (f *Fault) Size(name string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	if ino := f.files[filepath.Clean(name)]; ino != nil {
		return len(ino.data)
	}
	return -1
}

// check counts op and asks the injector. Callers hold f.mu.
func (f *Fault) check(op Op, path string) error {
	if f.down {
		return &os.PathError{Op: string(op), Path: path, Err: ErrCrashed}
	}
	f.counts[op]++
	if f.inject == nil {
		return nil
	}
	err := f.inject(op, path)
	if errors.Is(err, ErrPowerLoss) {
		f.crashLocked()
		return &os.PathError{Op: string(op), Path: path, Err: ErrCrashed}
	}
	if err != nil {
		return &os.PathError{Op: string(op), Path: path, Err: err}
	}
	return nil
}

// OpenFile implements FS.
func (f *Fault) OpenFile(name string, flag int, _ os.FileMode) (File, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	name = filepath.Clean(name)
	ino := f.files[name]
	if ino == nil {
		if flag&os.O_CREATE == 0 {
			return nil, &os.PathError{Op: "open", Path: name, Err: os.ErrNotExist}
		}
		if !f.dirs[filepath.Dir(name)] {
			return nil, &os.PathError{Op: "open", Path: name, Err: os.ErrNotExist}
		}
		if err := f.check(OpCreate, name); err != nil {
			return nil, err
		}
		ino = &inode{}
		f.files[name] = ino
	} else if err := f.check(OpOpen, name); err != nil {
		return nil, err
	}
	if flag&os.O_TRUNC != 0 {
		ino.data = ino.data[:0]
	}
	return &faultFile{fs: f, ino: ino, name: name, flag: flag, gen: f.gen}, nil
}

// Rename implements FS.
func (f *Fault) Rename(oldpath, newpath string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	oldpath, newpath = filepath.Clean(oldpath), filepath.Clean(newpath)
	ino := f.files[oldpath]
	if ino == nil {
		return &os.LinkError{Op: "rename", Old: oldpath, New: newpath, Err: os.ErrNotExist}
	}
	if err := f.check(OpRename, newpath); err != nil {
		return err
	}
	delete(f.files, oldpath)
	f.files[newpath] = ino
	return nil
}

// Remove implements FS.
func (f *Fault) Remove(name string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	name = filepath.Clean(name)
	if f.files[name] == nil {
		return &os.PathError{Op: "remove", Path: name, Err: os.ErrNotExist}
	}
	if err := f.check(OpRemove, name); err != nil {
		return err
	}
	delete(f.files, name)
	return nil
}

// ReadDir implements FS.
func (f *Fault) ReadDir(dir string) ([]string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	dir = filepath.Clean(dir)
	if !f.dirs[dir] {
		return nil, &os.PathError{Op: "readdir", Path: dir, Err: os.ErrNotExist}
	}
	if err := f.check(OpReadDir, dir); err != nil {
		return nil, err
	}
	var names []string
	for name := range f.files {
		if filepath.Dir(name) == dir {
			names = append(names, filepath.Base(name))
		}
	}
	sort.Strings(names)
	return names, nil
}

// MkdirAll implements FS (directories themselves are always durable).
func (f *Fault) MkdirAll(dir string, _ os.FileMode) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	for d := filepath.Clean(dir); !f.dirs[d]; d = filepath.Dir(d) {
		f.dirs[d] = true
		if d == filepath.Dir(d) {
			break
		}
	}
	return nil
}

// SyncDir implements FS: the entries of dir become durable.
func (f *Fault) SyncDir(dir string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	dir = filepath.Clean(dir)
	if err := f.check(OpSyncDir, dir); err != nil {
		return err
	}
	for name := range f.stable {
		if filepath.Dir(name) == dir {
			delete(f.stable, name)
		}
	}
	for name, ino := range f.files {
		if filepath.Dir(name) == dir {
			f.stable[name] = ino
		}
	}
	return nil
}

// Lock implements FS (no cross-process locking in memory).
func (f *Fault) Lock(string) (io.Closer, error) { return nopCloser{}, nil }

type nopCloser struct{}

func (nopCloser) Close() error { return nil }

type faultFile struct {
	fs   *Fault
	ino  *inode
	name string
	flag int
	gen  int
	pos  int64
}

func (h *faultFile) stale() error {
	if h.gen != h.fs.gen || h.fs.down {
		return &os.PathError{Op: "io", Path: h.name, Err: ErrCrashed}
	}
	return nil
}

func (h *faultFile) Read(p []byte) (int, error) {
	h.fs.mu.Lock()
	defer h.fs.mu.Unlock()
	if err := h.stale(); err != nil {
		return 0, err
	}
	if h.pos >= int64(len(h.ino.data)) {
		return 0, io.EOF
	}
	n := copy(p, h.ino.data[h.pos:])
	h.pos += int64(n)
	return n, nil
}

func (h *faultFile) Write(p []byte) (int, error) {
	h.fs.mu.Lock()
	defer h.fs.mu.Unlock()
	if err := h.stale(); err != nil {
		return 0, err
	}
	if h.flag&(os.O_WRONLY|os.O_RDWR) == 0 {
		return 0, &os.PathError{Op: "write", Path: h.name, Err: os.ErrPermission}
	}
	n := len(p)
	err := h.fs.check(OpWrite, h.name)
	if err != nil {
		if !h.fs.partial || h.fs.down {
			return 0, err
		}
		n = len(p) / 2
	}
	if h.flag&os.O_APPEND != 0 {
		h.pos = int64(len(h.ino.data))
	}
	end := h.pos + int64(n)
	if end > int64(len(h.ino.data)) {
		h.ino.data = append(h.ino.data, make([]byte, end-int64(len(h.ino.data)))...)
	}
	copy(h.ino.data[h.pos:end], p[:n])
	h.pos = end
	return n, err
}

func (h *faultFile) Sync() error {
	h.fs.mu.Lock()
	defer h.fs.mu.Unlock()
	if err := h.stale(); err != nil {
		return err
	}
	if err := h.fs.check(OpSync, h.name); err != nil {
		return err
	}
	h.ino.durable = append(h.ino.durable[:0], h.ino.data...)
	return nil
}

func (h *faultFile) Truncate(size int64) error {
	h.fs.mu.Lock()
	defer h.fs.mu.Unlock()
	if err := h.stale(); err != nil {
		return err
	}
	if err := h.fs.check(OpTruncate, h.name); err != nil {
		return err
	}
	if size < int64(len(h.ino.data)) {
		h.ino.data = h.ino.data[:size]
	} else {
		h.ino.data = append(h.ino.data, make([]byte, size-int64(len(h.ino.data)))...)
	}
	return nil
}

func (h *faultFile) Size() (int64, error) {
	h.fs.mu.Lock()
	defer h.fs.mu.Unlock()
	if err := h.stale(); err != nil {
		return 0, err
	}
	return int64(len(h.ino.data)), nil
}

func (h *faultFile) Close() error { return nil }
