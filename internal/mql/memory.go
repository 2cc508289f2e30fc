package mql

import (
	"sync/atomic"
)

// Codes of the errors a pipeline answers when it would use too much memory,
// as MongoDB names them.
const (
	// CodeExceededMemoryLimit (146): a limit that spilling cannot lift, such
	// as one $push accumulator, one $range array or the whole aggregation.
	CodeExceededMemoryLimit int32 = 146
	// CodeQueryExceededMemoryLimitNoDiskUseAllowed (292): a blocking stage
	// outgrew its limit and the command said allowDiskUse: false.
	CodeQueryExceededMemoryLimitNoDiskUseAllowed int32 = 292
	// CodeBSONObjectTooLarge (10334): a document over the BSON size limit.
	CodeBSONObjectTooLarge int32 = 10334
	// codeFacetTooLarge is MongoDB's code for a $facet output document
	// over the stage limit.
	codeFacetTooLarge int32 = 4031700
)

// MaxInternalDocumentBytes is the largest document a pipeline may produce:
// MongoDB's BSONObjMaxInternalSize (16 MiB plus 16 KiB of headroom), whose
// error message reads "Size must be between 0 and 16793600(16MB)".
const MaxInternalDocumentBytes = 16<<20 + 16<<10

// rangeMaxBytes is MongoDB's internalQueryMaxRangeBytes: the memory one
// $range array may take, at 16 bytes an element as MongoDB counts it.
const rangeMaxBytes = 100 << 20

// MemoryLimits bound the memory of one pipeline run, as MongoDB bounds its
// aggregations. The zero value sets no limit.
type MemoryLimits struct {
	// StageBytes limits what one blocking stage ($sort, $group, $bucket,
	// $sortByCount) holds, one $push or $addToSet accumulator, and one
	// $facet output document: MongoDB's
	// internalQueryMaxBlockingSortMemoryUsageBytes,
	// internalDocumentSourceGroupMaxMemoryBytes, internalQueryMaxPushBytes
	// and internalQueryFacetMaxOutputDocSizeBytes, 100 MiB each by default.
	// A $sort over it spills to Spill; a $group over it continues in memory.
	// With NoDiskUse both answer 292 instead. 0 means no limit.
	StageBytes int64
	// TotalBytes limits the bytes one run accumulates across its stages
	// (sorted and grouped documents, accumulator arrays, $unwind and $facet
	// output), whether or not disk use is allowed: past it the run answers
	// 146 ExceededMemoryLimit instead of growing the process without bound.
	// 0 means no limit.
	TotalBytes int64
	// NoDiskUse is an explicit allowDiskUse: false. Unset, disk use is
	// allowed, as with MongoDB's allowDiskUseByDefault (true since 6.0).
	NoDiskUse bool
	// Spill is where a $sort over StageBytes writes its sorted runs. Nil
	// refuses spilling with a 146 error that says so.
	Spill *SpillArea
}

func (l MemoryLimits) limited() bool { return l.StageBytes > 0 || l.TotalBytes > 0 }

// memGuard accounts the memory of one pipeline run against its limits. A
// nil guard limits nothing. A run is single-threaded, so no locking.
type memGuard struct {
	lim  MemoryLimits
	used int64
}

func newMemGuard(lim MemoryLimits) *memGuard {
	if !lim.limited() {
		return nil
	}
	return &memGuard{lim: lim}
}

// charge adds n bytes held by the run and fails once the total is over
// TotalBytes. The bytes are never given back: the guard bounds what the
// run builds, not what it still holds at a given moment.
func (g *memGuard) charge(n int64) error {
	if g == nil {
		return nil
	}
	g.used += n
	if g.lim.TotalBytes > 0 && g.used > g.lim.TotalBytes {
		return Errorf(CodeExceededMemoryLimit, "ExceededMemoryLimit",
			"aggregation used too much memory (%d bytes) and cannot spill to disk. Memory limit: %d bytes (the server's per-aggregation limit, embedded Config.MaxAggregationBytes)",
			g.used, g.lim.TotalBytes)
	}
	return nil
}

// stageBytes is the per-stage limit, 0 for none.
func (g *memGuard) stageBytes() int64 {
	if g == nil {
		return 0
	}
	return g.lim.StageBytes
}

// noDiskUse reports an explicit allowDiskUse: false.
func (g *memGuard) noDiskUse() bool { return g != nil && g.lim.NoDiskUse }

// stageMem accounts one blocking stage: everything it holds is charged to
// the run, and the stage's own total is checked against StageBytes.
type stageMem struct {
	g    *memGuard
	used int64
	// over is set once the stage outgrew StageBytes with disk use allowed
	// (it then goes on in memory, bounded by TotalBytes).
	over bool
}

// add charges n bytes; overMsg builds the 292 error the stage answers when
// it outgrows its limit under allowDiskUse: false.
func (s *stageMem) add(n int64, overMsg func(limit int64) *Error) error {
	if s.g == nil {
		return nil
	}
	s.used += n
	if lim := s.g.lim.StageBytes; lim > 0 && s.used > lim && !s.over {
		if s.g.lim.NoDiskUse {
			return overMsg(lim)
		}
		s.over = true
	}
	return s.g.charge(n)
}

// groupOverMsg is the 292 error of $group (and of $bucket, which MongoDB
// runs as a $group) under allowDiskUse: false.
func groupOverMsg(int64) *Error {
	return Errorf(CodeQueryExceededMemoryLimitNoDiskUseAllowed, "QueryExceededMemoryLimitNoDiskUseAllowed",
		"Exceeded memory limit for $group, but didn't allow external spilling. Pass allowDiskUse:true to opt in.")
}

// SortMemoryError is the 292 error of a blocking sort over limit bytes
// without disk use, MongoDB's wording; find uses it too.
func SortMemoryError(limit int64) *Error {
	return Errorf(CodeQueryExceededMemoryLimitNoDiskUseAllowed, "QueryExceededMemoryLimitNoDiskUseAllowed",
		"Sort exceeded memory limit of %d bytes, but did not opt in to external sorting.", limit)
}

// accTooMuch is the 146 error of one $push or $addToSet accumulator over
// its limit: MongoDB does not spill accumulators, whatever allowDiskUse says.
func accTooMuch(op string, used, limit int64) *Error {
	return Errorf(CodeExceededMemoryLimit, "ExceededMemoryLimit",
		"%s used too much memory and cannot spill to disk. Used: %d bytes. Memory limit: %d bytes", op, used, limit)
}

// SpillArea is where spilling stages write temporary files: a directory and
// a byte budget shared by every pipeline of one server. Files are unlinked
// as soon as they are created where the OS allows it (so a crash leaves
// nothing behind) and removed when the stage ends otherwise. It is safe for
// concurrent use.
type SpillArea struct {
	// Dir is the directory of the temporary files; it is created (0700) on
	// first use.
	Dir string
	// MaxBytes bounds the bytes all spills of the server hold on disk at
	// once; a spill past it answers 146. 0 means no limit.
	MaxBytes int64

	inUse  atomic.Int64
	spills atomic.Int64
	bytes  atomic.Int64
}

// SpillStats are a SpillArea's counters since it was made.
type SpillStats struct {
	// Spills is how many sorted runs were written (MongoDB's sortSpills).
	Spills int64
	// Bytes is how many bytes they held (sortSpilledBytes).
	Bytes int64
	// InUse is how many bytes temporary files hold now.
	InUse int64
}

// Stats returns the area's counters.
func (a *SpillArea) Stats() SpillStats {
	return SpillStats{Spills: a.spills.Load(), Bytes: a.bytes.Load(), InUse: a.inUse.Load()}
}
