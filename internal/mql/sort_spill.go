package mql

import (
	"bufio"
	"container/heap"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"

	"github.com/mongotide/mongotide/internal/bsonx"
	"go.mongodb.org/mongo-driver/v2/bson"
)

// An external merge sort for a $sort over its memory limit with disk use
// allowed: the input is cut into chunks of at most the stage limit, each
// chunk is sorted and written to a temporary file as a run of BSON
// documents (the references to it dropped), and the runs are merged. Ties
// keep their input order: runs are merged in input order and a tie goes to
// the earlier run.

// maxSpillFanIn bounds the runs merged at once, and so the files open at
// once: more runs are first merged into bigger runs, 32 at a time.
const maxSpillFanIn = 32

const spillBufBytes = 64 << 10

type sortItem struct {
	key SortKey
	doc bson.D
	raw []byte // the encoded document, when read from a run
	run int
}

// spiller owns the temporary files of one sort.
type spiller struct {
	area  *SpillArea
	k     spillKeyer
	files []*spillFile
}

type spillFile struct {
	f     *os.File
	path  string // non-empty while the file still has a name to remove
	r     *bufio.Reader
	bytes int64 // counted in the area's bytes in use until closed
}

// spillKeyer orders the documents of an external sort: key computes a
// document's key (again for documents read back from disk) and cmp orders
// keys.
type spillKeyer struct {
	key func(bson.D) (SortKey, error)
	cmp func(a, b SortKey) int
}

func sortKeyer(s *Sort) spillKeyer {
	return spillKeyer{key: func(d bson.D) (SortKey, error) { return s.Key(d), nil }, cmp: s.CompareKeys}
}

// spillSort sorts docs with at most g's stage limit of them in memory at a
// time. It clears docs' entries as it writes them out.
func (s *agSort) spillSort(docs []bson.D, g *memGuard) ([]bson.D, error) {
	out := make([]bson.D, 0, len(docs))
	err := externalSort(docs, g, "Sort", sortKeyer(s.s), func(it sortItem) error {
		out = append(out, it.doc)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// externalSort emits docs in k's order, stable, with at most g's stage
// limit of them in memory: the rest wait in sorted runs on disk. It clears
// docs' entries as it writes them out. what names the stage in errors.
func externalSort(docs []bson.D, g *memGuard, what string, k spillKeyer, emit func(sortItem) error) (err error) {
	limit := g.lim.StageBytes
	if g.lim.Spill == nil {
		return Errorf(CodeExceededMemoryLimit, "ExceededMemoryLimit",
			"%s exceeded memory limit of %d bytes and this server has no temporary directory to spill to", what, limit)
	}
	sp := &spiller{area: g.lim.Spill, k: k}
	defer func() {
		if cerr := sp.close(); err == nil && cerr != nil {
			err = cerr
		}
	}()
	var (
		chunk      []sortItem
		chunkBytes int64
		maxChunk   int64
	)
	for i, d := range docs {
		key, err := k.key(d)
		if err != nil {
			return err
		}
		chunk = append(chunk, sortItem{key: key, doc: d})
		chunkBytes += DocBytes(d)
		docs[i] = nil
		if chunkBytes >= limit {
			if err := sp.writeRun(chunk); err != nil {
				return err
			}
			maxChunk = max(maxChunk, chunkBytes)
			clear(chunk)
			chunk, chunkBytes = chunk[:0], 0
		}
	}
	if err := g.charge(max(maxChunk, chunkBytes)); err != nil {
		return err
	}
	// The last chunk stays in memory as the last run.
	sp.sortItems(chunk)
	for len(sp.files) > maxSpillFanIn {
		if err := sp.mergeHead(); err != nil {
			return err
		}
	}
	srcs := make([]runSource, 0, len(sp.files)+1)
	for _, f := range sp.files {
		srcs = append(srcs, &fileRun{f: f, k: k})
	}
	srcs = append(srcs, &memRun{items: chunk})
	return mergeRuns(k.cmp, srcs, emit)
}

func (sp *spiller) sortItems(items []sortItem) {
	slices.SortStableFunc(items, func(a, b sortItem) int { return sp.k.cmp(a.key, b.key) })
}

// writeRun sorts chunk and writes it to a new temporary file.
func (sp *spiller) writeRun(chunk []sortItem) error {
	sp.sortItems(chunk)
	return sp.newRun(func(emit func([]byte) error) error {
		var buf []byte
		for _, it := range chunk {
			var err error
			if buf, err = bsonx.AppendDocument(buf[:0], it.doc); err != nil {
				return spillErr("encode a document to spill", err)
			}
			if err := emit(buf); err != nil {
				return err
			}
		}
		return nil
	})
}

// mergeHead merges the first maxSpillFanIn runs into one run that takes
// their place (so the runs stay in input order).
func (sp *spiller) mergeHead() error {
	head := slices.Clone(sp.files[:maxSpillFanIn])
	srcs := make([]runSource, len(head))
	for i, f := range head {
		srcs[i] = &fileRun{f: f, k: sp.k}
	}
	rest := slices.Clone(sp.files[maxSpillFanIn:])
	sp.files = nil
	err := sp.newRun(func(emit func([]byte) error) error {
		return mergeRuns(sp.k.cmp, srcs, func(it sortItem) error { return emit(it.raw) })
	})
	merged := sp.files
	sp.files = append(merged, rest...)
	for _, f := range head {
		if cerr := sp.closeFile(f); err == nil {
			err = cerr
		}
	}
	return err
}

// newRun creates a temporary file, lets fill write documents to it and
// rewinds it for reading.
func (sp *spiller) newRun(fill func(emit func([]byte) error) error) error {
	if err := os.MkdirAll(sp.area.Dir, 0o700); err != nil {
		return spillErr("create the temporary directory", err)
	}
	f, err := os.CreateTemp(sp.area.Dir, "sort-*.run")
	if err != nil {
		return spillErr("create a temporary file", err)
	}
	sf := &spillFile{f: f, path: f.Name()}
	// Unlinked at once where the OS allows it: the data lives until the
	// file is closed, and nothing is left behind by a crash.
	if os.Remove(sf.path) == nil {
		sf.path = ""
	}
	sp.files = append(sp.files, sf)
	w := bufio.NewWriterSize(f, spillBufBytes)
	err = fill(func(b []byte) error {
		n := int64(len(b))
		sf.bytes += n
		inUse := sp.area.inUse.Add(n)
		if sp.area.MaxBytes > 0 && inUse > sp.area.MaxBytes {
			return Errorf(CodeExceededMemoryLimit, "ExceededMemoryLimit",
				"spilling to disk would take more than %d bytes (the server's spill limit, embedded Config.MaxSpillBytes)", sp.area.MaxBytes)
		}
		sp.area.bytes.Add(n)
		if _, err := w.Write(b); err != nil {
			return spillErr("write a temporary file", err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	if err := w.Flush(); err != nil {
		return spillErr("write a temporary file", err)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return spillErr("rewind a temporary file", err)
	}
	sf.r = bufio.NewReaderSize(f, spillBufBytes)
	sp.area.spills.Add(1)
	return nil
}

func (sp *spiller) closeFile(f *spillFile) error {
	sp.area.inUse.Add(-f.bytes)
	f.bytes = 0
	err := f.f.Close()
	if f.path != "" {
		if rerr := os.Remove(f.path); rerr != nil && !errors.Is(rerr, os.ErrNotExist) && err == nil {
			err = rerr
		}
		f.path = ""
	}
	if err != nil {
		return spillErr("remove a temporary file", err)
	}
	return nil
}

// close removes every file of the sort and gives their bytes back.
func (sp *spiller) close() error {
	var first error
	for _, f := range sp.files {
		if err := sp.closeFile(f); err != nil && first == nil {
			first = err
		}
	}
	sp.files = nil
	return first
}

func spillErr(what string, err error) *Error {
	return Errorf(CodeExceededMemoryLimit, "ExceededMemoryLimit", "sort spilling to disk could not %s: %v", what, err)
}

// runSource yields one sorted run.
type runSource interface {
	next() (sortItem, bool, error)
}

type memRun struct {
	items []sortItem
	i     int
}

func (m *memRun) next() (sortItem, bool, error) {
	if m.i >= len(m.items) {
		return sortItem{}, false, nil
	}
	it := m.items[m.i]
	m.items[m.i] = sortItem{}
	m.i++
	return it, true, nil
}

type fileRun struct {
	f *spillFile
	k spillKeyer
}

func (r *fileRun) next() (sortItem, bool, error) {
	var hdr [4]byte
	if _, err := io.ReadFull(r.f.r, hdr[:]); err != nil {
		if errors.Is(err, io.EOF) {
			return sortItem{}, false, nil
		}
		return sortItem{}, false, spillErr("read a temporary file", err)
	}
	n := int(binary.LittleEndian.Uint32(hdr[:]))
	if n < 5 || n > MaxInternalDocumentBytes {
		return sortItem{}, false, spillErr("read a temporary file", fmt.Errorf("bad document length %d", n))
	}
	raw := make([]byte, n)
	copy(raw, hdr[:])
	if _, err := io.ReadFull(r.f.r, raw[4:]); err != nil {
		return sortItem{}, false, spillErr("read a temporary file", err)
	}
	doc, err := bsonx.Decode(raw)
	if err != nil {
		return sortItem{}, false, spillErr("decode a spilled document", err)
	}
	key, err := r.k.key(doc)
	if err != nil {
		return sortItem{}, false, err
	}
	return sortItem{key: key, doc: doc, raw: raw}, true, nil
}

// mergeRuns emits the items of srcs in sort order; ties go to the earlier
// source.
func mergeRuns(cmp func(a, b SortKey) int, srcs []runSource, emit func(sortItem) error) error {
	h := &runHeap{cmp: cmp}
	for i, src := range srcs {
		it, ok, err := src.next()
		if err != nil {
			return err
		}
		if ok {
			it.run = i
			h.items = append(h.items, it)
		}
	}
	heap.Init(h)
	for h.Len() > 0 {
		it := h.items[0]
		if err := emit(it); err != nil {
			return err
		}
		nx, ok, err := srcs[it.run].next()
		if err != nil {
			return err
		}
		if ok {
			nx.run = it.run
			h.items[0] = nx
			heap.Fix(h, 0)
		} else {
			heap.Pop(h)
		}
	}
	return nil
}

type runHeap struct {
	cmp   func(a, b SortKey) int
	items []sortItem
}

func (h *runHeap) Len() int { return len(h.items) }
func (h *runHeap) Less(i, j int) bool {
	if c := h.cmp(h.items[i].key, h.items[j].key); c != 0 {
		return c < 0
	}
	return h.items[i].run < h.items[j].run
}
func (h *runHeap) Swap(i, j int) { h.items[i], h.items[j] = h.items[j], h.items[i] }
func (h *runHeap) Push(x any)    { h.items = append(h.items, x.(sortItem)) }
func (h *runHeap) Pop() any {
	it := h.items[len(h.items)-1]
	h.items = h.items[:len(h.items)-1]
	return it
}
