package engine

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"

	"github.com/mongotide/mongotide/embedded/internal/vfs"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"
)

// snapshotState is what a snapshot holds: copy-on-write copies taken under
// the engine lock, written out without it.
type snapshotState struct {
	nextSeq    uint64
	last       bson.Timestamp
	dropped    Position
	hasDropped bool
	colls      []*collection
	oplog      []Entry
}

// snapshotState takes the state for a snapshot covering every journal
// before nextSeq. Callers hold e.mu exclusively (or own the engine).
func (e *Engine) snapshotState(nextSeq uint64) *snapshotState {
	st := &snapshotState{
		nextSeq: nextSeq, last: e.last,
		dropped: e.oplog.dropped, hasDropped: e.oplog.hasDropped,
		oplog: e.oplog.entries(),
	}
	for _, c := range e.colls {
		st.colls = append(st.colls, c.copy())
	}
	return st
}

// startCompaction rotates the journal and writes a snapshot in the
// background. Callers hold e.mu exclusively.
func (e *Engine) startCompaction() error {
	s := e.store
	st := e.snapshotState(s.seq + 1)
	// Rotate: records from now on go to the next journal, which the
	// snapshot does not cover.
	if fatal, err := s.rotate(); err != nil {
		if fatal != nil {
			e.failStopLocked(fatal)
		}
		return err
	}
	s.bgMu.Lock()
	s.compacting = true
	s.bgMu.Unlock()
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		err := s.installSnapshot(st)
		s.bgMu.Lock()
		s.compacting = false
		if err != nil {
			s.bgErr = err
		}
		s.bgMu.Unlock()
	}()
	return nil
}

// installSnapshot writes st, names it in the manifest with the journals
// it does not cover, then removes what it replaced.
func (s *store) installSnapshot(st *snapshotState) error {
	name := snapshotName(st.nextSeq)
	if err := writeSnapshotFS(s.fs, s.dir, name, st); err != nil {
		return err
	}
	var old manifest
	err := s.updateManifest(func(m *manifest) {
		old = *m
		// Its own copy: the filter below reuses m.Journals' array, which
		// left old.Journals naming the kept journals instead of the
		// replaced ones (those were then never removed).
		old.Journals = slices.Clone(m.Journals)
		m.Snapshot, m.SnapSeq = name, int64(st.nextSeq)
		keep := m.Journals[:0]
		for _, q := range m.Journals {
			if q >= int64(st.nextSeq) {
				keep = append(keep, q)
			}
		}
		m.Journals = keep
	})
	if err != nil {
		_ = s.fs.Remove(s.path(name))
		return err
	}
	if old.Snapshot != "" && old.Snapshot != name {
		_ = s.fs.Remove(s.path(old.Snapshot))
	}
	for _, q := range old.Journals {
		if q < int64(st.nextSeq) {
			_ = s.fs.Remove(s.path(journalFileName(uint64(q))))
		}
	}
	return nil
}

// Snapshot records: {k:"h", seq, last, dropped...} first, then per
// collection {k:"c", ...} followed by {k:"d", docs:[...]} batches, then
// {k:"o", e:[entries]} batches.

func writeSnapshotFS(fs vfs.FS, dir, name string, st *snapshotState) (err error) {
	tmp := filepath.Join(dir, "snapshot.tmp")
	f, err := fs.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, DataFileMode)
	if err != nil {
		return fmt.Errorf("engine: create snapshot: %w", err)
	}
	defer func() {
		if err != nil {
			_ = f.Close()
			_ = fs.Remove(tmp)
		}
	}()
	w := bufio.NewWriterSize(f, 1<<20)
	var frame []byte
	put := func(payload []byte) error {
		frame = appendFrame(frame[:0], payload)
		_, err := w.Write(frame)
		return err
	}
	hdr, err := bson.Marshal(bson.D{
		{Key: "k", Value: "h"}, {Key: "v", Value: int32(1)},
		{Key: "seq", Value: int64(st.nextSeq)}, {Key: "last", Value: st.last},
		{Key: "dropped", Value: st.dropped.TS}, {Key: "droppedIndex", Value: int64(st.dropped.Index)},
		{Key: "hasDropped", Value: st.hasDropped},
	})
	if err != nil {
		return err
	}
	if err := put(hdr); err != nil {
		return err
	}
	const batchBytes = 4 << 20
	for _, c := range st.colls {
		var idx bson.A
		for _, ix := range c.indexes {
			idx = append(idx, ix.spec.Doc())
		}
		ch, err := bson.Marshal(bson.D{
			{Key: "k", Value: "c"}, {Key: "db", Value: c.ns.DB}, {Key: "c", Value: c.ns.Coll},
			{Key: "uuid", Value: c.uuid}, {Key: "options", Value: c.opts.Doc()}, {Key: "indexes", Value: idx},
		})
		if err != nil {
			return err
		}
		if err := put(ch); err != nil {
			return err
		}
		var batch []byte
		var aidx int32
		n := 0
		start := func() {
			var didx int32
			didx, batch = bsoncore.AppendDocumentStart(batch[:0])
			_ = didx
			batch = bsoncore.AppendStringElement(batch, "k", "d")
			aidx, batch = bsoncore.AppendArrayElementStart(batch, "docs")
			n = 0
		}
		flush := func() error {
			batch, _ = bsoncore.AppendArrayEnd(batch, aidx)
			batch, _ = bsoncore.AppendDocumentEnd(batch, 0)
			return put(batch)
		}
		start()
		var werr error
		c.natural.Scan(func(r *docRec) bool { // natural order survives the restart
			batch = bsoncore.AppendDocumentElement(batch, itoa(n), r.raw)
			n++
			if len(batch) >= batchBytes {
				if werr = flush(); werr != nil {
					return false
				}
				start()
			}
			return true
		})
		if werr != nil {
			return werr
		}
		if n > 0 {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	for i := 0; i < len(st.oplog); {
		var batch []byte
		_, batch = bsoncore.AppendDocumentStart(batch)
		batch = bsoncore.AppendStringElement(batch, "k", "o")
		aidx, b := bsoncore.AppendArrayElementStart(batch, "e")
		batch = b
		n := 0
		for ; i < len(st.oplog) && len(batch) < batchBytes; i++ {
			if batch, err = appendEntry(batch, itoa(n), &st.oplog[i]); err != nil {
				return err
			}
			n++
		}
		batch, _ = bsoncore.AppendArrayEnd(batch, aidx)
		batch, _ = bsoncore.AppendDocumentEnd(batch, 0)
		if err := put(batch); err != nil {
			return err
		}
	}
	if err := w.Flush(); err != nil {
		return fmt.Errorf("engine: write snapshot: %w", err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("engine: sync snapshot: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("engine: close snapshot: %w", err)
	}
	if err := fs.Rename(tmp, filepath.Join(dir, name)); err != nil {
		return fmt.Errorf("engine: install snapshot: %w", err)
	}
	if err := fs.SyncDir(dir); err != nil {
		return fmt.Errorf("engine: sync data directory: %w", err)
	}
	return nil
}

// loadSnapshot restores a snapshot (if any) and returns the first journal
// sequence number it does not cover.
func (e *Engine) loadSnapshotFS(fs vfs.FS, path string) (uint64, error) {
	f, err := fs.OpenFile(path, os.O_RDONLY, 0)
	if err != nil {
		return 0, fmt.Errorf("engine: open snapshot %s: %w", path, err)
	}
	defer f.Close()
	var seq uint64
	var cur *collection
	sawHeader := false
	good, torn, err := readFrames(f, func(payload []byte) error {
		doc := bsoncore.Document(payload)
		kind, _ := doc.Lookup("k").StringValueOK()
		switch kind {
		case "h":
			var h struct {
				Seq          int64          `bson:"seq"`
				Last         bson.Timestamp `bson:"last"`
				Dropped      bson.Timestamp `bson:"dropped"`
				DroppedIndex int64          `bson:"droppedIndex"`
				HasDropped   bool           `bson:"hasDropped"`
			}
			if err := bson.Unmarshal(payload, &h); err != nil {
				return err
			}
			seq, e.last = uint64(h.Seq), h.Last
			e.oplog.dropped = Position{TS: h.Dropped, Index: uint32(h.DroppedIndex)}
			e.oplog.hasDropped = h.HasDropped
			sawHeader = true
		case "c":
			if cur != nil {
				if err := e.finishLoadedCollection(cur); err != nil {
					return err
				}
			}
			var c struct {
				DB      string      `bson:"db"`
				C       string      `bson:"c"`
				UUID    bson.Binary `bson:"uuid"`
				Options bson.D      `bson:"options"`
				Indexes []bson.D    `bson:"indexes"`
			}
			if err := bson.Unmarshal(payload, &c); err != nil {
				return err
			}
			ns := Namespace{DB: c.DB, Coll: c.C}
			coll, err := newCollection(ns, c.UUID, parseOptions(c.Options))
			if err != nil {
				return err
			}
			for _, d := range c.Indexes {
				spec, err := ParseIndexSpec(d)
				if err != nil {
					return err
				}
				ix, err := newIndex(spec)
				if err != nil {
					return err
				}
				coll.indexes = append(coll.indexes, ix)
			}
			e.colls[ns] = coll
			cur = coll
		case "d":
			if cur == nil {
				return errors.New("documents before their collection")
			}
			vals, err := doc.Lookup("docs").Array().Values()
			if err != nil {
				return err
			}
			for _, v := range vals {
				raw := cloneRaw(v.Data)
				id, err := rawID(raw)
				if err != nil {
					return err
				}
				cur.nextRID++
				rec := &docRec{id: id, raw: raw, rid: cur.nextRID}
				cur.docs.Set(rec)
				cur.natural.Load(rec)
				cur.size += int64(len(raw))
			}
		case "o":
			vals, err := doc.Lookup("e").Array().Values()
			if err != nil {
				return err
			}
			for _, v := range vals {
				en, err := decodeEntry(v.Document())
				if err != nil {
					return err
				}
				e.oplog.push(en)
			}
		default:
			return fmt.Errorf("unknown snapshot record %q", kind)
		}
		return nil
	})
	if err == nil && cur != nil {
		err = e.finishLoadedCollection(cur)
	}
	if err == nil && (torn || !sawHeader) {
		err = errors.New("the snapshot is truncated, emptied or corrupt")
	}
	if err != nil {
		return 0, &journalDamage{File: path, Offset: good, Reason: "cannot load snapshot: " + err.Error()}
	}
	return seq, nil
}

// finishLoadedCollection fills unique index entries after the documents
// were loaded.
func (e *Engine) finishLoadedCollection(c *collection) error {
	for _, ix := range c.indexes {
		if err := c.buildIndex(ix); err != nil {
			return err
		}
	}
	return nil
}
