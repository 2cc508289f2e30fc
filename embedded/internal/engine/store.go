package engine

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"
)

// Persistence layout in Options.Dir:
//
//	snapshot.bson        the state as of the start of journal N (written to
//	                     snapshot.tmp, fsynced, renamed)
//	journal-<N>.log      commit records appended after that snapshot
//
// Both files are sequences of framed records: uint32 length, uint32 CRC-32C
// of the payload, payload (a BSON document). A journal record is one commit:
// {e: [entries]}. Replaying the oplog entries of every commit rebuilds the
// data, because entries always carry the post-image and catalog entries
// carry what they changed. A record cut short by a crash (torn tail) is
// truncated away at Open with a warning.

const (
	snapshotFile = "snapshot.bson"
	lockFile     = "LOCK"
	maxRecord    = 1 << 30
)

var crcTable = crc32.MakeTable(crc32.Castagnoli)

type store struct {
	dir  string
	lock *os.File
	f    *os.File
	w    *bufio.Writer
	seq  uint64
	size int64
	buf  []byte

	// The background snapshot writer reports through these; it must not
	// take Engine.mu, which Close holds while waiting for it.
	wg         sync.WaitGroup
	bgMu       sync.Mutex
	compacting bool
	bgErr      error
}

func journalName(seq uint64) string { return fmt.Sprintf("journal-%08d.log", seq) }

func appendFrame(dst []byte, payload []byte) []byte {
	dst = binary.LittleEndian.AppendUint32(dst, uint32(len(payload)))
	dst = binary.LittleEndian.AppendUint32(dst, crc32.Checksum(payload, crcTable))
	return append(dst, payload...)
}

// readFrames calls fn for each intact record of r and returns the offset
// after the last one and whether the file ended in a torn record.
func readFrames(r io.Reader, fn func(payload []byte) error) (good int64, torn bool, err error) {
	br := bufio.NewReaderSize(r, 1<<20)
	var hdr [8]byte
	var payload []byte
	for {
		if _, err := io.ReadFull(br, hdr[:]); err != nil {
			if err == io.EOF {
				return good, false, nil
			}
			if err == io.ErrUnexpectedEOF {
				return good, true, nil
			}
			return good, false, err
		}
		n := binary.LittleEndian.Uint32(hdr[:4])
		if n > maxRecord {
			return good, true, nil
		}
		if cap(payload) < int(n) {
			payload = make([]byte, n)
		}
		payload = payload[:n]
		if _, err := io.ReadFull(br, payload); err != nil {
			if err == io.EOF || err == io.ErrUnexpectedEOF {
				return good, true, nil
			}
			return good, false, err
		}
		if crc32.Checksum(payload, crcTable) != binary.LittleEndian.Uint32(hdr[4:]) {
			return good, true, nil
		}
		if err := fn(payload); err != nil {
			return good, false, err
		}
		good += 8 + int64(n)
	}
}

// load restores the state from Dir and opens the journal for appending.
func (e *Engine) load() error {
	dir := e.opts.Dir
	if err := os.MkdirAll(dir, DataDirMode); err != nil {
		return fmt.Errorf("engine: create data directory: %w", err)
	}
	lock, err := lockDir(filepath.Join(dir, lockFile))
	if err != nil {
		return err
	}
	s := &store{dir: dir, lock: lock}
	fail := func(err error) error {
		_ = lock.Close()
		return err
	}
	_ = os.Remove(filepath.Join(dir, "snapshot.tmp"))
	startSeq, err := e.loadSnapshot(filepath.Join(dir, snapshotFile))
	if err != nil {
		return fail(err)
	}
	seqs, err := journalSeqs(dir)
	if err != nil {
		return fail(err)
	}
	s.seq = startSeq
	for i, seq := range seqs {
		if seq < startSeq { // covered by the snapshot; left over from a crash during compaction
			_ = os.Remove(filepath.Join(dir, journalName(seq)))
			continue
		}
		size, err := e.replayJournal(filepath.Join(dir, journalName(seq)), i == len(seqs)-1)
		if err != nil {
			return fail(err)
		}
		s.seq, s.size = seq, size
	}
	f, err := os.OpenFile(filepath.Join(dir, journalName(s.seq)), os.O_CREATE|os.O_WRONLY|os.O_APPEND, DataFileMode)
	if err != nil {
		return fail(fmt.Errorf("engine: open journal: %w", err))
	}
	s.f, s.w = f, bufio.NewWriterSize(f, 256<<10)
	e.store = s
	return nil
}

func journalSeqs(dir string) ([]uint64, error) {
	names, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("engine: read data directory: %w", err)
	}
	var seqs []uint64
	for _, n := range names {
		name := n.Name()
		if !strings.HasPrefix(name, "journal-") || !strings.HasSuffix(name, ".log") {
			continue
		}
		seq, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimPrefix(name, "journal-"), ".log"), 10, 64)
		if err != nil {
			continue
		}
		seqs = append(seqs, seq)
	}
	sort.Slice(seqs, func(i, j int) bool { return seqs[i] < seqs[j] })
	return seqs, nil
}

func (e *Engine) replayJournal(path string, last bool) (int64, error) {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return 0, fmt.Errorf("engine: open journal: %w", err)
	}
	defer f.Close()
	good, torn, err := readFrames(f, func(payload []byte) error {
		return e.replayCommit(payload)
	})
	if err != nil {
		return 0, fmt.Errorf("engine: replay %s: %w", filepath.Base(path), err)
	}
	if torn {
		st, _ := f.Stat()
		e.opts.Logger.Warn("engine: truncating torn journal tail (the last commit before a crash was incomplete)",
			"file", path, "keep_bytes", good, "file_bytes", st.Size())
		if !last {
			e.opts.Logger.Warn("engine: torn record in a journal that is not the newest", "file", path)
		}
		if err := f.Truncate(good); err != nil {
			return 0, fmt.Errorf("engine: truncate torn journal: %w", err)
		}
	}
	return good, nil
}

func (e *Engine) replayCommit(payload []byte) error {
	arr, err := bsoncore.Document(payload).LookupErr("e")
	if err != nil {
		return fmt.Errorf("commit record without entries: %w", err)
	}
	vals, err := arr.Array().Values()
	if err != nil {
		return err
	}
	for _, v := range vals {
		doc, ok := v.DocumentOK()
		if !ok {
			return errors.New("commit record entry is not a document")
		}
		en, err := decodeEntry(doc)
		if err != nil {
			return err
		}
		if err := e.replayEntry(&en); err != nil {
			return fmt.Errorf("replay %v entry on %s: %w", en.Op, en.NS, err)
		}
		e.oplog.push(en)
		if en.Pos.TS.After(e.last) {
			e.last = en.Pos.TS
		}
	}
	return nil
}

// replayEntry applies a logged entry to the state.
func (e *Engine) replayEntry(en *Entry) error {
	switch en.Op {
	case OpCreate:
		var obj struct {
			UUID    bson.Binary `bson:"uuid"`
			Options bson.D      `bson:"options"`
		}
		if err := bson.Unmarshal(en.Object, &obj); err != nil {
			return err
		}
		c, err := newCollection(en.NS, obj.UUID, parseOptions(obj.Options))
		if err != nil {
			return err
		}
		e.colls[en.NS] = c
	case OpDrop:
		delete(e.colls, en.NS)
	case OpRename:
		c := e.colls[en.NS]
		if c == nil {
			return errors.New("rename of a missing collection")
		}
		delete(e.colls, en.NS)
		delete(e.colls, en.To) // dropTarget
		c.ns = en.To
		e.colls[en.To] = c
	case OpDropDatabase:
	case OpCollMod:
		c := e.colls[en.NS]
		if c == nil {
			return errors.New("collMod of a missing collection")
		}
		var obj struct {
			Options bson.D `bson:"options"`
		}
		if err := bson.Unmarshal(en.Object, &obj); err != nil {
			return err
		}
		return c.setOptions(parseOptions(obj.Options))
	case OpCreateIndexes:
		c := e.colls[en.NS]
		if c == nil {
			return errors.New("createIndexes on a missing collection")
		}
		var obj struct {
			Indexes []bson.D `bson:"indexes"`
		}
		if err := bson.Unmarshal(en.Object, &obj); err != nil {
			return err
		}
		for _, d := range obj.Indexes {
			if err := c.addIndexDoc(d); err != nil {
				return err
			}
		}
	case OpDropIndexes:
		c := e.colls[en.NS]
		if c == nil {
			return errors.New("dropIndexes on a missing collection")
		}
		var obj struct {
			Names []string `bson:"names"`
		}
		if err := bson.Unmarshal(en.Object, &obj); err != nil {
			return err
		}
		drop := map[string]bool{}
		for _, n := range obj.Names {
			drop[n] = true
		}
		keep := c.indexes[:0:0]
		for _, ix := range c.indexes {
			if !drop[ix.spec.Name] {
				keep = append(keep, ix)
			}
		}
		c.indexes = keep
	case OpInsert, OpUpdate, OpReplace, OpDelete:
		c := e.colls[en.NS]
		if c == nil {
			return errors.New("write to a missing collection")
		}
		rec, err := replayDoc(c, en)
		if err != nil {
			return err
		}
		if rec != nil {
			rec.ver = en.Pos.TS
		}
	default:
		return fmt.Errorf("unknown oplog op %d", en.Op)
	}
	return nil
}

// addIndexDoc adds (and builds) an index from its listIndexes document.
func (c *collection) addIndexDoc(d bson.D) error {
	spec, err := ParseIndexSpec(d)
	if err != nil {
		return err
	}
	ix, err := newIndex(spec)
	if err != nil {
		return err
	}
	if err := c.buildIndex(ix); err != nil {
		return err
	}
	c.indexes = append(c.indexes, ix)
	return nil
}

func parseOptions(d bson.D) CollectionOptions {
	var o CollectionOptions
	for _, e := range d {
		switch e.Key {
		case "validator":
			o.Validator, _ = e.Value.(bson.D)
		case "capped":
			o.Capped = truthy(e.Value)
		case "size":
			o.CappedSize, _ = toInt64(e.Value)
		case "max":
			o.CappedMax, _ = toInt64(e.Value)
		case "changeStreamPreAndPostImages":
			if sub, ok := e.Value.(bson.D); ok {
				for _, x := range sub {
					if x.Key == "enabled" {
						o.ChangeStreamPreAndPostImages = truthy(x.Value)
					}
				}
			}
		}
	}
	return o
}

// appendCommit journals one commit. Callers hold e.mu exclusively.
func (s *store) appendCommit(e *Engine, entries []Entry) error {
	s.bgMu.Lock()
	bgErr, compacting := s.bgErr, s.compacting
	s.bgErr = nil
	s.bgMu.Unlock()
	if bgErr != nil {
		e.opts.Logger.Error("engine: background snapshot failed; the journal still holds every commit", "err", bgErr)
	}
	payload := s.buf[:0]
	idx, payload := bsoncore.AppendDocumentStart(payload)
	aidx, payload := bsoncore.AppendArrayElementStart(payload, "e")
	var err error
	for i := range entries {
		if payload, err = appendEntry(payload, itoa(i), &entries[i]); err != nil {
			return err
		}
	}
	payload, _ = bsoncore.AppendArrayEnd(payload, aidx)
	payload, _ = bsoncore.AppendDocumentEnd(payload, idx)
	var hdr [8]byte
	binary.LittleEndian.PutUint32(hdr[:4], uint32(len(payload)))
	binary.LittleEndian.PutUint32(hdr[4:], crc32.Checksum(payload, crcTable))
	if _, err := s.w.Write(hdr[:]); err != nil {
		return fmt.Errorf("engine: journal write: %w", err)
	}
	if _, err := s.w.Write(payload); err != nil {
		return fmt.Errorf("engine: journal write: %w", err)
	}
	if err := s.w.Flush(); err != nil {
		return fmt.Errorf("engine: journal write: %w", err)
	}
	s.size += int64(8 + len(payload))
	if cap(payload) <= 1<<20 {
		s.buf = payload[:0]
	}
	if s.size >= e.opts.CompactBytes && !compacting {
		return e.startCompaction()
	}
	return nil
}

func (s *store) close() error {
	s.wg.Wait()
	err := s.w.Flush()
	if serr := s.f.Sync(); err == nil {
		err = serr
	}
	if cerr := s.f.Close(); err == nil {
		err = cerr
	}
	_ = s.lock.Close()
	return err
}
