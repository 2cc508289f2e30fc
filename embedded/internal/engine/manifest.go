package engine

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/mongotide/mongotide/embedded/internal/vfs"
	"go.mongodb.org/mongo-driver/v2/bson"
)

// The manifest names the files that hold the state: the snapshot (if any)
// and the journals after it, numbered consecutively. It is replaced
// atomically (MANIFEST.tmp written and fsynced, renamed, directory
// fsynced), so Open knows exactly which files must exist: a missing,
// emptied or damaged one is corruption, not an empty database.

const (
	manifestFile = "MANIFEST"
	manifestTmp  = "MANIFEST.tmp"
)

type manifest struct {
	Version  int32   `bson:"v"`
	Snapshot string  `bson:"snapshot"` // file name, "" for none
	SnapSeq  int64   `bson:"snapSeq"`  // first journal the snapshot does not cover
	Journals []int64 `bson:"journals"` // consecutive sequence numbers
	// Reserved is above every timestamp handed out before the manifest
	// was written: Open starts the clock after it.
	Reserved bson.Timestamp `bson:"reserved"`
}

func snapshotName(seq uint64) string { return fmt.Sprintf("snapshot-%08d.bson", seq) }

func (m *manifest) newest() uint64 { return uint64(m.Journals[len(m.Journals)-1]) }

// readManifest returns the manifest, or ok = false when there is none.
func readManifest(fs vfs.FS, dir string) (m manifest, ok bool, err error) {
	path := filepath.Join(dir, manifestFile)
	f, err := fs.OpenFile(path, os.O_RDONLY, 0)
	if errors.Is(err, os.ErrNotExist) {
		return m, false, nil
	}
	if err != nil {
		return m, false, fmt.Errorf("engine: open %s: %w", path, err)
	}
	defer f.Close()
	size, err := f.Size()
	if err != nil {
		return m, false, fmt.Errorf("engine: read %s: %w", path, err)
	}
	data, err := readAll(f, size)
	if err != nil {
		return m, false, fmt.Errorf("engine: read %s: %w", path, err)
	}
	payload, end, _, reason := recordAt(data, 0)
	if reason == "" && end != int64(len(data)) {
		reason = "trailing bytes"
	}
	if reason != "" {
		return m, false, &journalDamage{File: path, Reason: "manifest is damaged: " + reason}
	}
	if err := bson.Unmarshal(payload, &m); err != nil {
		return m, false, &journalDamage{File: path, Reason: "manifest is damaged: " + err.Error()}
	}
	if m.Version != 2 || len(m.Journals) == 0 {
		return m, false, &journalDamage{File: path, Reason: fmt.Sprintf("manifest version %d with %d journals is not supported", m.Version, len(m.Journals))}
	}
	for i := 1; i < len(m.Journals); i++ {
		if m.Journals[i] != m.Journals[i-1]+1 {
			return m, false, &journalDamage{File: path, Reason: fmt.Sprintf("journal numbers are not consecutive (%d after %d)", m.Journals[i], m.Journals[i-1])}
		}
	}
	return m, true, nil
}

// writeManifest installs m atomically.
func writeManifest(fs vfs.FS, dir string, m manifest) error {
	m.Version = 2
	payload, err := bson.Marshal(m)
	if err != nil {
		return err
	}
	buf := make([]byte, recordHeaderLen, recordHeaderLen+len(payload))
	buf = append(buf, payload...)
	frameRecord(buf)
	tmp := filepath.Join(dir, manifestTmp)
	if err := writeFileSynced(fs, tmp, buf); err != nil {
		return fmt.Errorf("engine: write manifest: %w", err)
	}
	if err := fs.Rename(tmp, filepath.Join(dir, manifestFile)); err != nil {
		return fmt.Errorf("engine: install manifest: %w", err)
	}
	if err := fs.SyncDir(dir); err != nil {
		return fmt.Errorf("engine: sync data directory: %w", err)
	}
	return nil
}

// writeFileSynced creates (or replaces) name with data and fsyncs it.
func writeFileSynced(fs vfs.FS, name string, data []byte) error {
	f, err := fs.OpenFile(name, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		_ = f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		_ = f.Close()
		return err
	}
	return f.Close()
}
