package engine

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"github.com/mongotide/mongotide/embedded/internal/vfs"
	"go.mongodb.org/mongo-driver/v2/bson"
)

// RepairReport lists what Options.Repair left out at Open.
type RepairReport struct {
	// Dropped describes each damaged or missing piece that was dropped:
	// file, offset and reason.
	Dropped []string
}

// recovery is the state of one Open of a data directory.
type recovery struct {
	e      *Engine
	s      *store
	repair bool
	report RepairReport
	// rewrite makes Open write a fresh snapshot and journal (after a
	// repair or to migrate the format-1 layout).
	rewrite bool
}

func (r *recovery) drop(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	r.report.Dropped = append(r.report.Dropped, msg)
	r.e.opts.Logger.Error("engine: repair dropped damaged data", "what", msg)
	r.rewrite = true
}

// damaged returns err (refusing Open) unless repairing, in which case it
// is reported and nil is returned.
func (r *recovery) damaged(err error) error {
	if !r.repair {
		return fmt.Errorf("%w (start with Repair / --repair to keep every intact record and drop the rest)", err)
	}
	r.drop("%v", err)
	return nil
}

// load restores the state from Dir and opens the journal for appending.
func (e *Engine) load() error {
	fs := e.opts.FS
	if fs == nil {
		fs = vfs.OS(func(p string) (*os.File, error) { return lockDir(p) })
	}
	dir := e.opts.Dir
	if err := fs.MkdirAll(dir, DataDirMode); err != nil {
		return fmt.Errorf("engine: create data directory: %w", err)
	}
	lock, err := fs.Lock(filepath.Join(dir, lockFile))
	if err != nil {
		return err
	}
	s := &store{fs: fs, dir: dir, lock: lock, log: e.opts.Logger, interval: e.opts.CommitInterval, stop: make(chan struct{})}
	s.syncCond = sync.NewCond(&s.syncMu)
	s.onFatal = e.failStop
	r := &recovery{e: e, s: s, repair: e.opts.Repair}
	if err := r.run(); err != nil {
		if s.f != nil {
			_ = s.f.Close()
		}
		_ = lock.Close()
		return err
	}
	e.store = s
	e.repair = r.report
	s.wg.Add(1)
	go s.flusher()
	return nil
}

func (r *recovery) run() error {
	e, s := r.e, r.s
	names, err := s.fs.ReadDir(s.dir)
	if err != nil {
		return fmt.Errorf("engine: read data directory: %w", err)
	}
	m, ok, err := readManifest(s.fs, s.dir)
	switch {
	case err != nil:
		if err := r.damaged(err); err != nil {
			return err
		}
		err = r.loadUnlisted(names)
	case ok:
		err = r.loadManifest(m)
	case hasLegacy(names):
		err = r.loadLegacy(names)
	case hasCurrent(names):
		err = r.damaged(fmt.Errorf("engine: %s is missing from %s but journals or snapshots exist", manifestFile, s.dir))
		if err == nil {
			err = r.loadUnlisted(names)
		}
	default:
		r.rewrite = true // a new directory
	}
	if err != nil {
		return err
	}
	// Never hand out a timestamp that a lost (unsynced, torn or repaired
	// away) commit may have had: start after every second the clock can
	// have reached, and persist that as the next floor.
	start := max(e.last.T, s.man.Reserved.T, uint32(e.opts.Now().Unix())) + 1
	e.last = bson.Timestamp{T: start, I: 0}
	s.durableTS = e.oplog.lastPos.TS
	s.appendedTS = s.durableTS
	if r.rewrite {
		return r.writeFresh(start)
	}
	if err := s.updateManifest(func(m *manifest) { m.Reserved = bson.Timestamp{T: start} }); err != nil {
		return err
	}
	r.removeUnlisted(names)
	return nil
}

// loadManifest replays the snapshot and journals the manifest names and
// opens the newest journal for appending.
func (r *recovery) loadManifest(m manifest) error {
	e, s := r.e, r.s
	s.man = m
	if m.Snapshot != "" {
		if _, err := e.loadSnapshotFS(s.fs, s.path(m.Snapshot)); err != nil {
			if err := r.damaged(err); err != nil {
				return err
			}
			e.resetState() // repairing: no half-loaded snapshot under the journals
		}
	}
	for i, seq := range m.Journals {
		newest := i == len(m.Journals)-1
		good, err := r.replay(uint64(seq), newest)
		if err != nil {
			return err
		}
		if newest && !r.rewrite {
			f, err := s.fs.OpenFile(s.path(journalFileName(uint64(seq))), os.O_WRONLY|os.O_APPEND, DataFileMode)
			if err != nil {
				return fmt.Errorf("engine: open journal: %w", err)
			}
			s.f, s.seq, s.size = f, uint64(seq), good
		}
	}
	return nil
}

// replay replays one journal and returns the length of its intact prefix;
// a torn tail of the newest journal is truncated away.
func (r *recovery) replay(seq uint64, newest bool) (int64, error) {
	e, s := r.e, r.s
	name := journalFileName(seq)
	f, err := s.fs.OpenFile(s.path(name), os.O_RDWR, 0)
	if errors.Is(err, os.ErrNotExist) {
		return 0, r.damaged(&journalDamage{File: s.path(name), Reason: "the journal named by the manifest is missing"})
	}
	if err != nil {
		return 0, fmt.Errorf("engine: open journal: %w", err)
	}
	defer f.Close()
	size, err := f.Size()
	if err != nil {
		return 0, fmt.Errorf("engine: read journal %s: %w", name, err)
	}
	data, err := readAll(f, size)
	if err != nil {
		return 0, fmt.Errorf("engine: read journal %s: %w", name, err)
	}
	good, torn, err := scanJournal(s.path(name), data, seq, newest, r.repair,
		func(_ int64, payload []byte) error { return e.replayCommit(payload) },
		func(d *journalDamage) {
			r.drop("%s at offset %d: %s (%d bytes)", d.File, d.Offset, d.Reason, d.Next-d.Offset)
		})
	if err != nil {
		return 0, r.damaged(err)
	}
	if torn {
		e.opts.Logger.Warn("engine: truncating torn journal tail (the last commit before a crash was incomplete)",
			"file", s.path(name), "keep_bytes", good, "file_bytes", len(data))
		if err := f.Truncate(good); err != nil {
			return 0, fmt.Errorf("engine: truncate torn journal %s: %w", name, err)
		}
		if err := f.Sync(); err != nil {
			return 0, fmt.Errorf("engine: sync journal %s: %w", name, err)
		}
	}
	return good, nil
}

// loadUnlisted recovers (Repair only) without a usable manifest: the newest
// snapshot that loads, then every journal after it.
func (r *recovery) loadUnlisted(names []string) error {
	snaps, journals := listFiles(names, "snapshot-", ".bson"), listFiles(names, "journal-", ".jnl")
	var from uint64
	for i := len(snaps) - 1; i >= 0; i-- {
		if seq, err := r.e.loadSnapshotFS(r.s.fs, r.s.path(snapshotName(snaps[i]))); err == nil {
			from = seq
			break
		} else {
			r.drop("%v", err)
			r.e.resetState()
		}
	}
	for i, seq := range journals {
		if seq < from {
			continue
		}
		if i > 0 && seq != journals[i-1]+1 && journals[i-1] >= from {
			r.drop("journals %d to %d are missing", journals[i-1]+1, seq-1)
		}
		if _, err := r.replay(seq, i == len(journals)-1); err != nil {
			return err
		}
	}
	r.rewrite = true
	return nil
}

// loadLegacy reads the format-1 layout (snapshot.bson, journal-N.log, no
// manifest) and migrates it.
func (r *recovery) loadLegacy(names []string) error {
	e, s := r.e, r.s
	startSeq, err := e.loadSnapshotFS(s.fs, s.path(legacySnapshotFile))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	seqs := listFiles(names, "journal-", ".log")
	for i, seq := range seqs {
		if seq < startSeq {
			continue
		}
		if err := e.replayLegacyJournal(s.fs, s.path(legacyJournalName(seq)), i == len(seqs)-1); err != nil {
			return err
		}
	}
	r.rewrite = true
	return nil
}

// writeFresh writes the whole state as a new snapshot with an empty journal
// after it and installs a manifest naming only those: used for a new
// directory, after a repair and to migrate format 1. Old files are removed
// afterwards.
func (r *recovery) writeFresh(start uint32) error {
	e, s := r.e, r.s
	var next uint64 = 1
	if len(s.man.Journals) > 0 {
		next = s.man.newest() + 1
	}
	if names, err := s.fs.ReadDir(s.dir); err == nil {
		for _, seq := range listFiles(names, "journal-", ".jnl") {
			next = max(next, seq+1)
		}
		for _, seq := range listFiles(names, "snapshot-", ".bson") {
			next = max(next, seq+1)
		}
	}
	st := e.snapshotState(next)
	snap := ""
	if len(st.colls) > 0 || len(st.oplog) > 0 || st.hasDropped {
		snap = snapshotName(next)
		if err := writeSnapshotFS(s.fs, s.dir, snap, st); err != nil {
			return err
		}
	}
	f, err := s.createJournal(next)
	if err != nil {
		return err
	}
	s.f, s.seq, s.size = f, next, journalHeaderLen
	m := manifest{Snapshot: snap, SnapSeq: int64(next), Journals: []int64{int64(next)}, Reserved: bson.Timestamp{T: start}}
	if err := s.updateManifest(func(mm *manifest) { *mm = m }); err != nil {
		return err
	}
	if names, err := s.fs.ReadDir(s.dir); err == nil {
		r.removeUnlisted(names)
	}
	return nil
}

// removeUnlisted deletes data files the manifest does not name (left over
// from a crash during compaction, or from before a repair or migration).
func (r *recovery) removeUnlisted(names []string) {
	s := r.s
	keep := map[string]bool{manifestFile: true, lockFile: true, s.man.Snapshot: true}
	for _, seq := range s.man.Journals {
		keep[journalFileName(uint64(seq))] = true
	}
	for _, n := range names {
		if keep[n] || !isDataFile(n) {
			continue
		}
		_ = s.fs.Remove(s.path(n))
	}
}

func isDataFile(n string) bool {
	return strings.HasPrefix(n, "journal-") || strings.HasPrefix(n, "snapshot") || n == manifestTmp
}

func hasLegacy(names []string) bool {
	for _, n := range names {
		if n == legacySnapshotFile || (strings.HasPrefix(n, "journal-") && strings.HasSuffix(n, ".log")) {
			return true
		}
	}
	return false
}

func hasCurrent(names []string) bool {
	return len(listFiles(names, "journal-", ".jnl")) > 0 || len(listFiles(names, "snapshot-", ".bson")) > 0
}

// listFiles returns the sequence numbers of prefix<N>suffix names, sorted.
func listFiles(names []string, prefix, suffix string) []uint64 {
	var seqs []uint64
	for _, n := range names {
		if !strings.HasPrefix(n, prefix) || !strings.HasSuffix(n, suffix) {
			continue
		}
		seq, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimPrefix(n, prefix), suffix), 10, 64)
		if err == nil {
			seqs = append(seqs, seq)
		}
	}
	// names are sorted and the numbers zero-padded
	return seqs
}

// resetState forgets a partly loaded snapshot (repair tries an older one).
func (e *Engine) resetState() {
	e.colls = make(map[Namespace]*collection)
	e.oplog = newOplogRing(e.opts.OplogCapacity, e.opts.OplogSizeBytes)
	e.last = bson.Timestamp{}
}
