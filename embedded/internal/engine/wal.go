package engine

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"syscall"
	"time"

	"github.com/mongotide/mongotide/embedded/internal/vfs"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"
)

// CodeOutOfDiskSpace is MongoDB's OutOfDiskSpace (14031).
const CodeOutOfDiskSpace int32 = 14031

// store is the persistent side of an engine with Options.Dir: the journal
// being appended, group commit, the manifest and the background snapshot.
type store struct {
	fs       vfs.FS
	dir      string
	lock     io.Closer
	log      *slog.Logger
	interval time.Duration

	// The journal being appended. Callers hold Engine.mu exclusively.
	f     vfs.File
	seq   uint64
	size  int64 // bytes of intact records (the append offset)
	dirty bool  // a failed append may have left bytes past size
	buf   []byte

	// Group commit: one goroutine at a time (the leader) fsyncs the
	// journal for everyone waiting; positions are bytes appended since
	// Open over every journal.
	syncMu     sync.Mutex
	syncCond   *sync.Cond
	syncing    bool
	closedF    bool
	appended   int64
	appendedTS bson.Timestamp
	durable    int64
	durableTS  bson.Timestamp
	fatal      error
	onFatal    func(error)

	// manMu serializes manifest updates (rotation under Engine.mu, the
	// snapshot writer without it); man is the installed manifest.
	manMu sync.Mutex
	man   manifest

	stop      chan struct{}
	closeOnce sync.Once
	closeErr  error

	// The background snapshot writer and the flusher report through
	// these; they must not take Engine.mu.
	wg         sync.WaitGroup
	bgMu       sync.Mutex
	compacting bool
	bgErr      error
}

func journalFileName(seq uint64) string { return fmt.Sprintf("journal-%08d.jnl", seq) }

func (s *store) path(name string) string { return filepath.Join(s.dir, name) }

// ioError names the cause of a failed journal write; the write was not
// applied. A full disk is MongoDB's OutOfDiskSpace.
func ioError(what string, err error) error {
	if errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT) {
		return errorf(CodeOutOfDiskSpace, "OutOfDiskSpace",
			"engine: %s failed: the disk is full (%v); the write was not applied and later writes succeed once space is freed", what, err)
	}
	return fmt.Errorf("engine: %s failed, the write was not applied: %w", what, err)
}

// appendCommit journals one commit (flushed to the OS, not fsynced). On
// error nothing of it is in the journal and the caller must undo it.
// Callers hold Engine.mu exclusively.
func (s *store) appendCommit(e *Engine, entries []Entry) error {
	s.bgMu.Lock()
	bgErr := s.bgErr
	s.bgErr = nil
	s.bgMu.Unlock()
	if bgErr != nil {
		e.opts.Logger.Error("engine: background snapshot failed; the journal still holds every commit", "err", bgErr)
	}
	if err := s.fatalErr(); err != nil {
		return err
	}
	if s.dirty {
		// A failed append left part of a record: cut it off before the
		// next one, or it would sit in the middle of the journal.
		if err := s.f.Truncate(s.size); err != nil {
			return ioError("journal truncate", err)
		}
		s.dirty = false
	}
	var hdr [recordHeaderLen]byte // filled by frameRecord
	buf := append(s.buf[:0], hdr[:]...)
	idx, buf := bsoncore.AppendDocumentStart(buf)
	aidx, buf := bsoncore.AppendArrayElementStart(buf, "e")
	var err error
	for i := range entries {
		if buf, err = appendEntry(buf, itoa(i), &entries[i]); err != nil {
			return err
		}
	}
	buf, _ = bsoncore.AppendArrayEnd(buf, aidx)
	buf, _ = bsoncore.AppendDocumentEnd(buf, idx)
	frameRecord(buf)
	if _, err := s.f.Write(buf); err != nil {
		s.dirty = true
		if terr := s.f.Truncate(s.size); terr == nil {
			s.dirty = false
		}
		return ioError("journal write", err)
	}
	s.size += int64(len(buf))
	if cap(buf) <= 1<<20 {
		s.buf = buf[:0]
	}
	s.syncMu.Lock()
	s.appended += int64(len(buf))
	s.appendedTS = entries[0].Pos.TS
	s.syncMu.Unlock()
	return nil
}

func (s *store) fatalErr() error {
	s.syncMu.Lock()
	defer s.syncMu.Unlock()
	return s.fatal
}

// position returns what has been appended so far.
func (s *store) position() int64 {
	s.syncMu.Lock()
	defer s.syncMu.Unlock()
	return s.appended
}

// durableTime returns the timestamp of the last fsynced commit.
func (s *store) durableTime() bson.Timestamp {
	s.syncMu.Lock()
	defer s.syncMu.Unlock()
	return s.durableTS
}

// syncTo returns once the journal is fsynced up to target. Concurrent
// callers share fsyncs: the first becomes the leader and syncs everything
// appended so far; the others wait for it (group commit). A failed fsync
// is fatal: the data it covered may be gone from the page cache, so the
// engine stops (onFatal) instead of serving it. Callers do not hold
// Engine.mu.
func (s *store) syncTo(target int64) error {
	s.syncMu.Lock()
	defer s.syncMu.Unlock()
	for s.durable < target {
		if s.fatal != nil {
			return s.fatal
		}
		if s.closedF {
			return ErrClosed
		}
		if s.syncing {
			s.syncCond.Wait()
			continue
		}
		s.syncing = true
		f, upto, uptoTS, seq := s.f, s.appended, s.appendedTS, s.seq
		s.syncMu.Unlock()
		err := f.Sync()
		s.syncMu.Lock()
		s.syncing = false
		if err != nil {
			s.fatal = fmt.Errorf("engine: fsync of %s failed, so writes already acknowledged may not be on disk; "+
				"the engine stopped instead of serving data it cannot keep: %w", journalFileName(seq), err)
			s.syncCond.Broadcast()
			fatal := s.fatal
			s.syncMu.Unlock()
			s.onFatal(fatal)
			s.syncMu.Lock()
			return fatal
		}
		if upto > s.durable {
			s.durable, s.durableTS = upto, uptoTS
		}
		s.syncCond.Broadcast()
	}
	return nil
}

// flusher fsyncs what was appended every interval, like mongod's
// commitIntervalMs: writes without j: true are durable within it.
func (s *store) flusher() {
	defer s.wg.Done()
	t := time.NewTicker(s.interval)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
			if err := s.syncTo(s.position()); err != nil {
				return
			}
		}
	}
}

// createJournal creates journal seq with its header, fsynced, and makes
// its directory entry durable.
func (s *store) createJournal(seq uint64) (vfs.File, error) {
	name := s.path(journalFileName(seq))
	f, err := s.fs.OpenFile(name, os.O_CREATE|os.O_TRUNC|os.O_WRONLY|os.O_APPEND, DataFileMode)
	if err != nil {
		return nil, fmt.Errorf("engine: create journal: %w", err)
	}
	err = func() error {
		if _, err := f.Write(journalHeader(seq)); err != nil {
			return err
		}
		if err := f.Sync(); err != nil {
			return err
		}
		return s.fs.SyncDir(s.dir)
	}()
	if err != nil {
		_ = f.Close()
		_ = s.fs.Remove(name)
		return nil, fmt.Errorf("engine: create journal %s: %w", filepath.Base(name), err)
	}
	return f, nil
}

// updateManifest applies fn to a copy of the manifest and installs it.
func (s *store) updateManifest(fn func(m *manifest)) error {
	s.manMu.Lock()
	defer s.manMu.Unlock()
	m := s.man
	m.Journals = slices.Clone(m.Journals)
	fn(&m)
	if err := writeManifest(s.fs, s.dir, m); err != nil {
		return err
	}
	s.man = m
	return nil
}

// rotate makes journal seq+1 the one appended to: created, named in the
// manifest, and the old journal fsynced, so "durable" stays one offset.
// Callers hold Engine.mu exclusively. errFatal is set when the old
// journal's fsync failed (the caller stops the engine).
func (s *store) rotate() (errFatal, err error) {
	next := s.seq + 1
	f, err := s.createJournal(next)
	if err != nil {
		return nil, err
	}
	if err := s.updateManifest(func(m *manifest) { m.Journals = append(m.Journals, int64(next)) }); err != nil {
		_ = f.Close()
		_ = s.fs.Remove(s.path(journalFileName(next)))
		return nil, err
	}
	s.syncMu.Lock()
	for s.syncing {
		s.syncCond.Wait()
	}
	if s.fatal != nil {
		s.syncMu.Unlock()
		_ = f.Close()
		return s.fatal, s.fatal
	}
	if err := s.f.Sync(); err != nil {
		s.fatal = fmt.Errorf("engine: fsync of %s failed, so writes already acknowledged may not be on disk; "+
			"the engine stopped instead of serving data it cannot keep: %w", journalFileName(s.seq), err)
		s.syncCond.Broadcast()
		s.syncMu.Unlock()
		_ = f.Close()
		return s.fatal, s.fatal
	}
	s.durable, s.durableTS = s.appended, s.appendedTS
	old := s.f
	s.f, s.seq, s.size, s.dirty = f, next, journalHeaderLen, false
	s.syncCond.Broadcast()
	s.syncMu.Unlock()
	_ = old.Close()
	return nil, nil
}

// close stops the flusher and the snapshot writer, fsyncs the journal and
// releases the directory. Callers do not hold Engine.mu. Idempotent.
func (s *store) close() error {
	s.closeOnce.Do(func() {
		close(s.stop)
		s.wg.Wait()
		s.syncMu.Lock()
		for s.syncing {
			s.syncCond.Wait()
		}
		err := s.fatal
		if err == nil && s.dirty {
			err = s.f.Truncate(s.size)
		}
		if err == nil {
			if err = s.f.Sync(); err == nil {
				s.durable, s.durableTS = s.appended, s.appendedTS
			}
		}
		s.closedF = true
		s.syncCond.Broadcast()
		s.syncMu.Unlock()
		if cerr := s.f.Close(); err == nil {
			err = cerr
		}
		_ = s.lock.Close()
		s.closeErr = err
	})
	return s.closeErr
}
