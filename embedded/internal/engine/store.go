package engine

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"

	"github.com/mongotide/mongotide/embedded/internal/vfs"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"
)

// Persistence layout in Options.Dir (format 2):
//
//	MANIFEST               names the snapshot and the journals after it
//	                       (manifest.go); replaced atomically
//	snapshot-<N>.bson      the state as of the start of journal N (written
//	                       to snapshot.tmp, fsynced, renamed)
//	journal-<N>.jnl        commit records appended after that snapshot
//	                       (journal.go: header, checksummed frames)
//
// A journal record is one commit: {e: [entries]}. Replaying the oplog
// entries of every commit rebuilds the data, because entries always carry
// the post-image and catalog entries carry what they changed. Snapshots are
// sequences of 8-byte framed records (uint32 length, uint32 CRC-32C,
// payload). Format 1 (snapshot.bson and journal-<N>.log with those frames,
// no manifest) is read and migrated at Open.

const (
	legacySnapshotFile = "snapshot.bson"
	lockFile           = "LOCK"
	maxRecord          = 1 << 30
)

var crcTable = crc32.MakeTable(crc32.Castagnoli)

func legacyJournalName(seq uint64) string { return fmt.Sprintf("journal-%08d.log", seq) }

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

// replayLegacyJournal replays a format-1 journal (no manifest, 8-byte
// frames). Only a torn record of the newest journal is forgiven; the
// migration that follows rewrites the state in format 2.
func (e *Engine) replayLegacyJournal(fs vfs.FS, path string, newest bool) error {
	f, err := fs.OpenFile(path, os.O_RDONLY, 0)
	if err != nil {
		return fmt.Errorf("engine: open journal: %w", err)
	}
	defer f.Close()
	good, torn, err := readFrames(f, func(payload []byte) error {
		return e.replayCommit(payload)
	})
	if err != nil {
		return fmt.Errorf("engine: replay %s at offset %d: %w", path, good, err)
	}
	if torn {
		if !newest {
			return &journalDamage{File: path, Offset: good, Reason: "damaged record in a journal that is not the newest"}
		}
		e.opts.Logger.Warn("engine: dropping torn journal tail (the last commit before a crash was incomplete)",
			"file", path, "keep_bytes", good)
	}
	return nil
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
		if err := c.setOptions(parseOptions(obj.Options)); err != nil {
			return err
		}
		return c.replayIndexMod(en.Object) // collMod's index option
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
		case "validationLevel":
			o.ValidationLevel, _ = e.Value.(string)
		case "validationAction":
			o.ValidationAction, _ = e.Value.(string)
		case "collation":
			o.Collation, _ = e.Value.(bson.D)
		case "clusteredIndex":
			o.ClusteredIndex, _ = e.Value.(bson.D)
		case "storageEngine":
			o.StorageEngine, _ = e.Value.(bson.D)
		case "indexOptionDefaults":
			o.IndexOptionDefaults, _ = e.Value.(bson.D)
		case "timeseries":
			o.Timeseries, _ = e.Value.(bson.D)
		case "expireAfterSeconds":
			if n, ok := toInt64(e.Value); ok {
				o.ExpireAfterSeconds = &n
			}
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
