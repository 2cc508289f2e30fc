package engine

import "github.com/mongotide/mongotide/internal/mql"

// checkSortMemory holds a find's blocking sort to its memory limit, the
// matches counted at their stored BSON size: over it with allowDiskUse:
// false the find fails with 292 as on mongod. With disk use allowed the
// sort stays in memory: the documents are the collection's own, already
// held by the snapshot.
func checkSortMemory(lim mql.MemoryLimits, ms []match) error {
	if lim.StageBytes <= 0 || !lim.NoDiskUse {
		return nil
	}
	var n int64
	for i := range ms {
		if n += int64(len(ms[i].rec.raw)); n > lim.StageBytes {
			return mql.SortMemoryError(lim.StageBytes)
		}
	}
	return nil
}
