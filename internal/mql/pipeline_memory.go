package mql

import (
	"slices"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// Memory accounting of the blocking stages. It only runs when the pipeline
// has limits (c.mem != nil), so unlimited pipelines pay nothing for it.

// agCoalesceSortLimit gives each $sort directly followed by $limit (or by
// $skip then $limit) the number of documents it must keep, as MongoDB's
// optimizer does: such a sort holds only its top documents, so only they
// count against its memory limit.
func agCoalesceSortLimit(stages []agStage) {
	for i, st := range stages {
		srt, ok := st.(*agSort)
		if !ok || i+1 >= len(stages) {
			continue
		}
		next, ok := stages[i+1].(*agSkipLimit)
		if !ok {
			continue
		}
		switch {
		case next.limit:
			srt.keep = next.n
		case i+2 < len(stages):
			if lim, ok := stages[i+2].(*agSkipLimit); ok && lim.limit && next.n <= 1<<62 && lim.n <= 1<<62 {
				srt.keep = next.n + lim.n
			}
		}
	}
}

// allLimited is $sort under memory limits: in memory while the documents it
// holds fit the stage limit, else a 292 under allowDiskUse: false, else an
// external merge sort through temporary files.
func (s *agSort) allLimited(docs []bson.D, g *memGuard) ([]bson.D, error) {
	limit := g.stageBytes()
	if s.keep > 0 && int64(len(docs)) > s.keep {
		// A top-k sort holds only its first keep documents.
		out := slices.Clone(docs)
		slices.SortStableFunc(out, s.s.Compare)
		var held int64
		for _, d := range out[:s.keep] {
			held += DocBytes(d)
		}
		if limit > 0 && held > limit && g.noDiskUse() {
			return nil, SortMemoryError(limit)
		}
		if err := g.charge(held); err != nil {
			return nil, err
		}
		return out, nil
	}
	var total int64
	for _, d := range docs {
		total += DocBytes(d)
		if limit > 0 && total > limit {
			if g.noDiskUse() {
				return nil, SortMemoryError(limit)
			}
			return s.spillSort(docs, g)
		}
	}
	if err := g.charge(total); err != nil {
		return nil, err
	}
	out := slices.Clone(docs)
	slices.SortStableFunc(out, s.s.Compare)
	return out, nil
}

// groupMem accounts the groups of a $group or $bucket and what their
// $push and $addToSet accumulators collect. A nil groupMem accounts nothing.
type groupMem struct {
	stage stageMem
}

// Rough per-group costs beyond the key: the map entry and each
// accumulator's state.
const (
	groupEntryBytes = 64
	accStateBytes   = 32
)

func newGroupMem(c *xCtx) *groupMem {
	if c.mem == nil {
		return nil
	}
	return &groupMem{stage: stageMem{g: c.mem}}
}

// newGroup charges a new group with key id and nAccs accumulators.
func (m *groupMem) newGroup(id any, nAccs int) error {
	if m == nil {
		return nil
	}
	return m.stage.add(groupEntryBytes+valueBytes(id)+int64(nAccs)*accStateBytes, groupOverMsg)
}

// add feeds v to st and charges what st keeps of it. One $push or $addToSet
// over the stage limit is a 146 whatever allowDiskUse says: MongoDB never
// spills an accumulator.
func (m *groupMem) add(st accState, v any) error {
	if m == nil {
		st.add(v)
		return nil
	}
	switch a := st.(type) {
	case *accFirst:
		if a.has {
			return nil
		}
		st.add(v)
		return m.grow(valueBytes(a.v))
	case *accLast:
		old := valueBytes(a.v)
		st.add(v)
		return m.grow(valueBytes(a.v) - old)
	case *accMinMax:
		old := valueBytes(a.best)
		st.add(v)
		return m.grow(valueBytes(a.best) - old)
	case *accPush:
		before := len(a.out)
		st.add(v)
		if len(a.out) == before {
			return nil
		}
		return m.collected("$push", &a.bytes, v)
	case *accAddToSet:
		before := len(a.out)
		st.add(v)
		if len(a.out) == before {
			return nil
		}
		return m.collected("$addToSet", &a.bytes, v)
	}
	st.add(v)
	return nil
}

// collected charges v, just appended to an accumulator's array whose size
// is *bytes.
func (m *groupMem) collected(op string, bytes *int64, v any) error {
	grown := valueBytes(v) + 16 // the array slot
	*bytes += grown
	if lim := m.stage.g.stageBytes(); lim > 0 && *bytes > lim {
		return accTooMuch(op, *bytes, lim)
	}
	return m.stage.add(grown, groupOverMsg)
}

// grow charges a kept value that grew by n bytes (a $first set, a $last
// or $min/$max replaced by a larger value); shrinking gives nothing back.
func (m *groupMem) grow(n int64) error {
	if n <= 0 {
		return nil
	}
	return m.stage.add(n, groupOverMsg)
}

// facetCheck charges a $facet output document and answers MongoDB's
// 4031700 when it is over the stage limit.
func facetCheck(c *xCtx, out bson.D) error {
	if c.mem == nil {
		return nil
	}
	n := DocBytes(out)
	if lim := c.mem.stageBytes(); lim > 0 && n > lim {
		return Errorf(codeFacetTooLarge, "Location4031700",
			"document constructed by $facet is %d bytes, which exceeds the limit of %d bytes", n, lim)
	}
	return c.mem.charge(n)
}

// unwindCharge charges the documents $unwind makes of doc, whose array
// at the unwound path is arr: each copy holds doc without the array plus
// one element.
func unwindCharge(c *xCtx, doc bson.D, arr bson.A) error {
	if c.mem == nil || len(arr) == 0 {
		return nil
	}
	arrBytes := arrayBytes(arr)
	base := DocBytes(doc) - arrBytes
	return c.mem.charge(int64(len(arr))*base + arrBytes)
}

// spilling reports that the stage outgrew its limit with disk use allowed
// and a place to spill to.
func (m *groupMem) spilling() bool {
	return m != nil && m.stage.over && m.stage.g.lim.Spill != nil
}

// spillGroup is $group over its memory limit with disk use allowed: the
// input is sorted on the group key through the external sorter, so that
// only one group is in memory at a time, and the groups come out in key
// order, as mongod's do after a spill. The in-memory groups built so far
// are dropped; docs is run again from the start.
func (g *agGroup) spillGroup(docs []bson.D, c *xCtx) ([]bson.D, error) {
	keyer := spillKeyer{
		key: func(d bson.D) (SortKey, error) {
			id, err := g.id.n.eval(c.forDoc(d))
			if err != nil {
				return nil, err
			}
			if xIsMissing(id) {
				id = nil
			}
			return SortKey{id}, nil
		},
		cmp: func(a, b SortKey) int { return compareColl(a[0], b[0], c.coll) },
	}
	var (
		out    []bson.D
		id     any
		states []accState
		mem    *groupMem
	)
	flush := func() error {
		if states == nil {
			return nil
		}
		d := make(bson.D, 0, len(g.accs)+1)
		d = append(d, bson.E{Key: "_id", Value: id})
		for i, a := range g.accs {
			d = append(d, bson.E{Key: a.field, Value: states[i].result()})
		}
		out = append(out, d)
		return c.mem.charge(DocBytes(d))
	}
	err := externalSort(docs, c.mem, "$group", keyer, func(it sortItem) error {
		if states == nil || compareColl(id, it.key[0], c.coll) != 0 {
			if err := flush(); err != nil {
				return err
			}
			id, states = it.key[0], make([]accState, len(g.accs))
			for i, a := range g.accs {
				states[i] = newAccumulatorState(a.op, c.coll)
			}
			// Each group is accounted on its own: one at a time is held.
			mem = &groupMem{stage: stageMem{g: &memGuard{lim: c.mem.lim}}}
		}
		dc := c.forDoc(it.doc)
		for i, a := range g.accs {
			v, err := a.e.n.eval(dc)
			if err != nil {
				return err
			}
			if n, ok := states[i].(accNState); ok {
				if err := n.addN(v); err != nil {
					return err
				}
				continue
			}
			if err := mem.add(states[i], v); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if err := flush(); err != nil {
		return nil, err
	}
	return out, nil
}
