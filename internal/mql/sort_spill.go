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
	files []*spillFile
}

type spillFile struct {
	f     *os.File
	path  string // non-empty while the file still has a name to remove
	r     *bufio.Reader
	bytes int64 // counted in the area's bytes in use until closed
}

// spillSort sorts docs with at most g's stage limit of them in memory at a
// time. It clears docs' entries as it writes them out.
func (s *agSort) spillSort(docs []bson.D, g *memGuard) (out []bson.D, err error) {
	limit := g.lim.StageBytes
	if g.lim.Spill == nil {
		return nil, Errorf(CodeExceededMemoryLimit, "ExceededMemoryLimit",
			"Sort exceeded memory limit of %d bytes and this server has no temporary directory to spill to", limit)
	}
	sp := &spiller{area: g.lim.Spill}
	defer func() {
		if cerr := sp.close(); err == nil && cerr != nil {
			out, err = nil, cerr
		}
	}()
	var (
		chunk      []sortItem
		chunkBytes int64
		maxChunk   int64
	)
	for i, d := range docs {
		chunk = append(chunk, sortItem{key: s.s.Key(d), doc: d})
		chunkBytes += DocBytes(d)
		docs[i] = nil
		if chunkBytes >= limit {
			if err := sp.writeRun(s.s, chunk); err != nil {
				return nil, err
			}
			maxChunk = max(maxChunk, chunkBytes)
			clear(chunk)
			chunk, chunkBytes = chunk[:0], 0
		}
	}
	if err := g.charge(max(maxChunk, chunkBytes)); err != nil {
		return nil, err
	}
	// The last chunk stays in memory as the last run.
	s.sortItems(chunk)
	for len(sp.files) > maxSpillFanIn {
		if err := sp.mergeHead(s.s); err != nil {
			return nil, err
		}
	}
	srcs := make([]runSource, 0, len(sp.files)+1)
	for _, f := range sp.files {
		srcs = append(srcs, &fileRun{f: f, s: s.s})
	}
	srcs = append(srcs, &memRun{items: chunk})
	out = make([]bson.D, 0, len(docs))
	err = mergeRuns(s.s, srcs, func(it sortItem) error {
		if it.doc == nil {
			d, err := bsonx.Decode(it.raw)
			if err != nil {
				return spillErr("decode a spilled document", err)
			}
			it.doc = d
		}
		out = append(out, it.doc)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

func (s *agSort) sortItems(items []sortItem) {
	slices.SortStableFunc(items, func(a, b sortItem) int { return s.s.CompareKeys(a.key, b.key) })
}

// writeRun sorts chunk and writes it to a new temporary file.
func (sp *spiller) writeRun(srt *Sort, chunk []sortItem) error {
	slices.SortStableFunc(chunk, func(a, b sortItem) int { return srt.CompareKeys(a.key, b.key) })
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
func (sp *spiller) mergeHead(srt *Sort) error {
	head := slices.Clone(sp.files[:maxSpillFanIn])
	srcs := make([]runSource, len(head))
	for i, f := range head {
		srcs[i] = &fileRun{f: f, s: srt}
	}
	rest := slices.Clone(sp.files[maxSpillFanIn:])
	sp.files = nil
	err := sp.newRun(func(emit func([]byte) error) error {
		return mergeRuns(srt, srcs, func(it sortItem) error { return emit(it.raw) })
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
				"Sort would spill more than %d bytes to disk (the server's spill limit, embedded Config.MaxSpillBytes)", sp.area.MaxBytes)
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
	s *Sort
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
	return sortItem{key: r.s.Key(doc), doc: doc, raw: raw}, true, nil
}

// mergeRuns emits the items of srcs in sort order; ties go to the earlier
// source.
func mergeRuns(srt *Sort, srcs []runSource, emit func(sortItem) error) error {
	h := &runHeap{srt: srt}
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
	srt   *Sort
	items []sortItem
}

func (h *runHeap) Len() int { return len(h.items) }
func (h *runHeap) Less(i, j int) bool {
	if c := h.srt.CompareKeys(h.items[i].key, h.items[j].key); c != 0 {
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
