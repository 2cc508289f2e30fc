package engine

import (
	"sort"

	"github.com/mongotide/mongotide/internal/mql"
	"go.mongodb.org/mongo-driver/v2/bson"
)

// Reads work on a B-tree that no writer mutates while they run: a
// copy-on-write snapshot (auto-commit) or a transaction's private copy.

func findTree(v view, args FindArgs) ([]bson.Raw, error) {
	m, coll, err := collatedMatcher(args.Filter, args.Collation, v.collation)
	if err != nil {
		return nil, err
	}
	srt, err := newSortCollation(args.Sort, coll)
	if err != nil {
		return nil, err
	}
	var proj *mql.Projection
	if len(args.Projection) > 0 {
		if proj, err = mql.NewProjection(args.Projection); err != nil {
			return nil, err
		}
	}
	if args.Skip < 0 {
		return nil, errorf(CodeBadValue, "BadValue", "skip value must be non-negative, but received: %d", args.Skip)
	}
	var out []match
	if ascendingByID(args.Sort) && coll == nil {
		out, err = findByIDOrder(v, args.Filter, m, args.Skip, args.Limit)
	} else if srt == nil {
		skip, limit := args.Skip, args.Limit
		err = scan(v, args.Filter, m, proj != nil, func(mt match) bool {
			if skip > 0 {
				skip--
				return true
			}
			out = append(out, mt)
			return limit <= 0 || int64(len(out)) < limit
		})
	} else if args.Limit > 0 {
		// keep only the first skip+limit documents by sort order instead of
		// every decoded match
		out, err = topK(v, args.Filter, m, srt, int(args.Skip+args.Limit))
		if err == nil {
			err = checkSortMemory(args.Memory, out)
		}
		out = window(out, args.Skip, args.Limit)
	} else {
		err = scan(v, args.Filter, m, true, func(mt match) bool {
			out = append(out, mt)
			return true
		})
		if err == nil {
			err = checkSortMemory(args.Memory, out)
		}
		if err == nil {
			sort.SliceStable(out, func(i, j int) bool { return srt.Compare(out[i].doc, out[j].doc) < 0 })
			out = window(out, args.Skip, args.Limit)
		}
	}
	if err != nil {
		return nil, err
	}
	res := make([]bson.Raw, len(out))
	for i, mt := range out {
		if proj == nil {
			res[i] = mt.rec.raw
			continue
		}
		if res[i], err = project(proj, mt.rec.raw, mt.doc); err != nil {
			return nil, err
		}
	}
	return res, nil
}

func window[T any](s []T, skip, limit int64) []T {
	if skip >= int64(len(s)) {
		return s[:0]
	}
	s = s[skip:]
	if limit > 0 && limit < int64(len(s)) {
		s = s[:limit]
	}
	return s
}

func countTree(v view, args CountArgs) (int64, error) {
	if args.Skip < 0 {
		return 0, errorf(CodeBadValue, "BadValue", "skip value must be non-negative, but received: %d", args.Skip)
	}
	var n int64
	if len(args.Filter) == 0 {
		n = int64(v.len())
	} else {
		m, _, err := collatedMatcher(args.Filter, args.Collation, v.collation)
		if err != nil {
			return 0, err
		}
		if err := scan(v, args.Filter, m, false, func(match) bool { n++; return true }); err != nil {
			return 0, err
		}
	}
	n -= args.Skip
	if n < 0 {
		n = 0
	}
	if args.Limit > 0 && n > args.Limit {
		n = args.Limit
	}
	return n, nil
}

func distinctTree(v view, key string, filter bson.D) ([]any, error) {
	return distinctTreeCollation(v, key, filter, nil)
}

func distinctTreeCollation(v view, key string, filter bson.D, collation bson.D) ([]any, error) {
	if key == "" {
		return nil, errorf(CodeInvalidOptions, "InvalidOptions", "distinct key must not be empty")
	}
	m, coll, err := collatedMatcher(filter, collation, v.collation)
	if err != nil {
		return nil, err
	}
	cmp := mql.Compare
	if coll != nil {
		cmp = coll.Compare
	}
	var vals []any
	err = scan(v, filter, m, true, func(mt match) bool {
		vs, found := keyValues(mt.doc, key)
		if !found {
			return true
		}
		for _, v := range vs {
			if _, undef := v.(bson.Undefined); undef {
				continue
			}
			vals = append(vals, v)
		}
		return true
	})
	if err != nil {
		return nil, err
	}
	sort.SliceStable(vals, func(i, j int) bool { return cmp(vals[i], vals[j]) < 0 })
	out := vals[:0]
	for i, v := range vals {
		if i > 0 && cmp(out[len(out)-1], v) == 0 {
			continue
		}
		out = append(out, v)
	}
	return out, nil
}

func aggregateTree(v view, args AggregateArgs, vars map[string]any) ([]bson.D, error) {
	stages := args.Stages
	// A leading $match filters during the scan instead of after decoding
	// everything into the pipeline.
	var filter bson.D
	var m *mql.Matcher
	coll, err := opCollation(args.Collation, v.collation)
	if err != nil {
		return nil, err
	}
	if len(stages) > 0 && len(stages[0]) == 1 && stages[0][0].Key == "$match" {
		// $expr may use pipeline variables ($$NOW, let): leave those to the pipeline.
		if f, ok := stages[0][0].Value.(bson.D); ok && !hasKey(f, "$expr") {
			if mm, err := mql.NewMatcherCollation(f, coll); err == nil {
				filter, m, stages = f, mm, stages[1:]
			}
		}
	}
	p, err := mql.NewPipeline(stages, mql.PipelineOptions{Collation: coll, Vars: vars, Memory: args.Memory})
	if err != nil {
		return nil, err
	}
	var docs []bson.D
	if err := scan(v, filter, m, true, func(mt match) bool {
		docs = append(docs, mt.doc)
		return true
	}); err != nil {
		return nil, err
	}
	return p.Run(docs)
}

func findByIDTree(v view, id any) (bson.Raw, bool) {
	if v.byID == nil {
		return nil, false
	}
	rec, ok := v.byID.Get(&docRec{id: id})
	if !ok {
		return nil, false
	}
	return rec.raw, true
}

// hasKey reports whether key appears anywhere in v.
func hasKey(v any, key string) bool {
	switch x := v.(type) {
	case bson.D:
		for _, e := range x {
			if e.Key == key || hasKey(e.Value, key) {
				return true
			}
		}
	case bson.A:
		for _, el := range x {
			if hasKey(el, key) {
				return true
			}
		}
	}
	return false
}

// topK returns the first k matches in sort order (ties in natural order)
// holding at most k decoded documents: a max-heap whose root is the worst
// kept match.
func topK(v view, filter bson.D, m *mql.Matcher, srt *mql.Sort, k int) ([]match, error) {
	type item struct {
		match
		seq int
	}
	worse := func(a, b item) bool { // a sorts after b
		if c := srt.Compare(a.doc, b.doc); c != 0 {
			return c > 0
		}
		return a.seq > b.seq
	}
	h := make([]item, 0, min(k, 1024))
	down := func(i int) {
		for {
			l := 2*i + 1
			if l >= len(h) {
				return
			}
			j := l
			if r := l + 1; r < len(h) && worse(h[r], h[l]) {
				j = r
			}
			if !worse(h[j], h[i]) {
				return
			}
			h[i], h[j] = h[j], h[i]
			i = j
		}
	}
	seq := 0
	err := scan(v, filter, m, true, func(mt match) bool {
		it := item{mt, seq}
		seq++
		if len(h) < k {
			h = append(h, it)
			for i := len(h) - 1; i > 0; {
				p := (i - 1) / 2
				if !worse(h[i], h[p]) {
					break
				}
				h[i], h[p] = h[p], h[i]
				i = p
			}
			return true
		}
		if worse(h[0], it) {
			h[0] = it
			down(0)
		}
		return true
	})
	if err != nil {
		return nil, err
	}
	sort.Slice(h, func(i, j int) bool { return worse(h[j], h[i]) })
	out := make([]match, len(h))
	for i := range h {
		out[i] = h[i].match
	}
	return out, nil
}
