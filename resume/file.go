package resume

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// FileStore keeps one file per key in a directory. Each Save writes a temp
// file in the same directory, fsyncs it, renames it over the key's file and
// fsyncs the directory, so a crash leaves either the old or the new token,
// never a torn one, and concurrent writers of one key cannot interleave
// bytes (the last rename wins).
type FileStore struct {
	dir     string
	fenceMu sync.Mutex // serialises SaveFenced within the process
}

// fileSuffix marks token files so that stray files in the directory are not
// mistaken for tokens and temp files (prefix ".tmp-") are never loaded.
const fileSuffix = ".token"

// maxNameLen keeps file names well under the common 255-byte limit.
const maxNameLen = 200

// NewFileStore returns a FileStore rooted at dir, creating dir (mode 0o700)
// if needed.
func NewFileStore(dir string) (*FileStore, error) {
	if dir == "" {
		return nil, errors.New("resume: NewFileStore: empty directory")
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("resume: NewFileStore: %w", err)
	}
	return &FileStore{dir: dir}, nil
}

// Dir returns the directory the store writes to.
func (s *FileStore) Dir() string { return s.dir }

// Path returns the file that holds key's token.
func (s *FileStore) Path(key string) string {
	return filepath.Join(s.dir, fileName(key))
}

// fileName encodes key so that distinct keys map to distinct names on every
// file system, including case-insensitive ones: only [a-z0-9_-] pass through,
// every other byte (uppercase letters included) becomes %XX. Overlong names
// are cut and suffixed with a SHA-256 of the whole key.
func fileName(key string) string {
	var b strings.Builder
	for i := 0; i < len(key); i++ {
		c := key[i]
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9', c == '-', c == '_':
			b.WriteByte(c)
		default:
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	name := b.String()
	if len(name) > maxNameLen {
		sum := sha256.Sum256([]byte(key))
		name = name[:maxNameLen-33] + "~" + hex.EncodeToString(sum[:16])
	}
	return name + fileSuffix
}

// Load implements Store.
func (s *FileStore) Load(ctx context.Context, key string) (bson.Raw, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := CheckKey(key); err != nil {
		return nil, err
	}
	raw, err := os.ReadFile(s.Path(key))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("resume: load key %q: %w", key, err)
	}
	return CheckLoaded(key, raw)
}

// Save implements Store.
func (s *FileStore) Save(ctx context.Context, key string, token bson.Raw) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := CheckSave(key, token); err != nil {
		return err
	}
	if err := s.writeAtomic(key, token); err != nil {
		return fmt.Errorf("resume: save key %q: %w", key, err)
	}
	return nil
}

func (s *FileStore) writeAtomic(key string, data []byte) error {
	return s.writeFileAtomic(s.Path(key), data)
}

func (s *FileStore) writeFileAtomic(path string, data []byte) (err error) {
	tmp, err := os.CreateTemp(s.dir, ".tmp-*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			_ = tmp.Close()
			_ = os.Remove(tmp.Name())
		}
	}()
	if _, err = tmp.Write(data); err != nil {
		return err
	}
	if err = tmp.Sync(); err != nil {
		return err
	}
	if err = tmp.Close(); err != nil {
		return err
	}
	if err = os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	return syncDir(s.dir)
}

// syncDir makes the rename durable. Some platforms cannot fsync a directory;
// that is not an error worth failing a checkpoint over.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, os.ErrInvalid) && !errors.Is(err, fs.ErrPermission) {
		return err
	}
	return nil
}

// SaveFenced implements FencedStore. The fence lives next to the token in
// "<file>.fence", written before the token (a crash between the two leaves
// the fence ahead, which only refuses more). Processes on one machine
// serialise on a lock file in the directory (flock; on platforms without
// it, only goroutines of one process are serialised).
func (s *FileStore) SaveFenced(ctx context.Context, key string, token bson.Raw, fence uint64) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := CheckSave(key, token); err != nil {
		return err
	}
	s.fenceMu.Lock()
	defer s.fenceMu.Unlock()
	unlock, err := lockFile(filepath.Join(s.dir, ".fence.lock"))
	if err != nil {
		return fmt.Errorf("resume: save key %q: lock: %w", key, err)
	}
	defer unlock()
	fencePath := s.Path(key) + ".fence"
	cur := uint64(0)
	if b, err := os.ReadFile(fencePath); err == nil {
		if cur, err = strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64); err != nil {
			return fmt.Errorf("%w: key %q: fence file %s: %v", ErrCorruptToken, key, fencePath, err)
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("resume: save key %q: %w", key, err)
	}
	if fence < cur {
		return fenced(key, fence, cur)
	}
	if fence > cur {
		if err := s.writeFileAtomic(fencePath, []byte(strconv.FormatUint(fence, 10))); err != nil {
			return fmt.Errorf("resume: save key %q: fence: %w", key, err)
		}
	}
	if err := s.writeAtomic(key, token); err != nil {
		return fmt.Errorf("resume: save key %q: %w", key, err)
	}
	return nil
}
