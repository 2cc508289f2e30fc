package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/mongotide/mongotide/resume"
	"go.mongodb.org/mongo-driver/v2/bson"
)

// tokenFile is the resume.Store behind `listen --resume-file F`: F holds the
// raw BSON of the last handled event's resume token and nothing else.
//
// A single file (rather than resume.NewFileStore, which names files after
// encoded keys inside a directory) keeps the flag's meaning obvious: the path
// the user gives is the file that holds the position. The key is ignored; one
// file serves one listener. Writes are atomic (temp file, fsync, rename,
// directory fsync) so a crash leaves the old or the new token, never a torn
// one.
type tokenFile struct{ path string }

var _ resume.Store = tokenFile{}

func (f tokenFile) Load(_ context.Context, key string) (bson.Raw, error) {
	raw, err := os.ReadFile(f.path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read resume file: %w", err)
	}
	tok, err := resume.CheckLoaded(key, raw)
	if err != nil {
		return nil, fmt.Errorf("resume file %s: %w (delete it to start from now)", f.path, err)
	}
	return tok, nil
}

func (f tokenFile) Save(_ context.Context, key string, token bson.Raw) error {
	if err := resume.CheckSave(key, token); err != nil {
		return err
	}
	dir := filepath.Dir(f.path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(f.path)+".tmp*")
	if err != nil {
		return fmt.Errorf("write resume file: %w", err)
	}
	defer os.Remove(tmp.Name()) // no-op after the rename
	if _, err := tmp.Write(token); err != nil {
		tmp.Close()
		return fmt.Errorf("write resume file: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("write resume file: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write resume file: %w", err)
	}
	if err := os.Rename(tmp.Name(), f.path); err != nil {
		return fmt.Errorf("write resume file: %w", err)
	}
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
	return nil
}
