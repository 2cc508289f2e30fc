package embedded

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/mongotide/mongotide/internal/mql"
	"go.mongodb.org/mongo-driver/v2/bson"
)

// memLimits are the server's memory limits for queries and aggregations
// (Config.MaxBlockingStageBytes, MaxAggregationBytes, MaxSpillBytes) and
// the temporary directory spilling sorts write to.
type memLimits struct {
	stageBytes int64 // 0: no limit
	totalBytes int64 // 0: no limit
	spill      *mql.SpillArea
}

func newMemLimits(cfg Config) *memLimits {
	dir := filepath.Join(os.TempDir(), "mongotide-spill-"+bson.NewObjectID().Hex())
	if cfg.Dir != "" {
		dir = filepath.Join(cfg.Dir, "_tmp")
		// Files of an earlier process are unlinked already; a crash on a
		// system that cannot unlink open files may have left some.
		_ = os.RemoveAll(dir)
	}
	return &memLimits{
		stageBytes: max(cfg.MaxBlockingStageBytes, 0),
		totalBytes: max(cfg.MaxAggregationBytes, 0),
		spill:      &mql.SpillArea{Dir: dir, MaxBytes: max(cfg.MaxSpillBytes, 0)},
	}
}

// defaultBytes is v, or def when v is unset (0).
func defaultBytes(v, def int64) int64 {
	if v == 0 {
		return def
	}
	return v
}

// forCommand returns the limits of one command. noDiskUse is an explicit
// allowDiskUse: false; unset means allowed, as with mongod's
// allowDiskUseByDefault (true since 6.0; this server reports 8.0).
func (m *memLimits) forCommand(noDiskUse bool) mql.MemoryLimits {
	return mql.MemoryLimits{StageBytes: m.stageBytes, TotalBytes: m.totalBytes, NoDiskUse: noDiskUse, Spill: m.spill}
}

// close removes the temporary directory (its files are gone already).
func (m *memLimits) close() { _ = os.RemoveAll(m.spill.Dir) }

// allowDiskUseArg parses an allowDiskUse option into "disk use refused".
func allowDiskUseArg(cmd, key string, v any) (noDiskUse bool, err error) {
	allowed, err := argBool(cmd, key, v)
	return !allowed, err
}

// checkDocSize answers MongoDB's 10334 BSONObjectTooLarge for a result
// document over the size a reply may carry, instead of sending it.
func checkDocSize(raw bson.Raw, d bson.D) error {
	if len(raw) <= mql.MaxInternalDocumentBytes {
		return nil
	}
	first := "EOO"
	if len(d) > 0 {
		first = fmt.Sprintf("%s: %s", d[0].Key, shortValue(d[0].Value))
	}
	return cmdError(mql.CodeBSONObjectTooLarge, "BSONObjectTooLarge",
		"BSONObj size: %d (0x%X) is invalid. Size must be between 0 and %d(16MB) First element: %s",
		len(raw), len(raw), mql.MaxInternalDocumentBytes, first)
}

// shortValue renders a value the way MongoDB's messages show a first
// element: strings quoted, documents and arrays elided.
func shortValue(v any) string {
	switch x := v.(type) {
	case string:
		return fmt.Sprintf("%q", x)
	case bson.D, bson.A:
		return "{ ... }"
	case nil:
		return "null"
	}
	return fmt.Sprint(v)
}

// metrics is serverStatus' metrics.query: how many sorted runs sorts and
// $group wrote to disk (sort.spillToDisk, as mongod reports it) and their
// bytes.
func (m *memLimits) metrics() bson.D {
	st := m.spill.Stats()
	return bson.D{{Key: "sort", Value: bson.D{
		{Key: "spillToDisk", Value: st.Spills},
		{Key: "spillToDiskBytes", Value: st.Bytes},
	}}}
}
