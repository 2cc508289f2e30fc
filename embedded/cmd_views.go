package embedded

import (
	"slices"
	"strings"

	"github.com/mongotide/mongotide/embedded/internal/engine"
	"github.com/mongotide/mongotide/internal/mql"
	"go.mongodb.org/mongo-driver/v2/bson"
)

// Views are stored as MongoDB stores them: one document per view in the
// database's system.views collection, {_id: "db.view", viewOn, pipeline}.
// Keeping them in the engine makes them persistent with the data and
// dropped with the database, at no cost to databases without views.
const viewsCollection = "system.views"

// maxViewDepth is MongoDB's limit on views defined on views.
const maxViewDepth = 20

const (
	codeViewDepthLimitExceeded    int32 = 165
	codeCommandNotSupportedOnView int32 = 166
	codeOptionNotSupportedOnView  int32 = 167
)

// view is a view definition.
type view struct {
	viewOn   string
	pipeline []bson.D
	// collation is the view's default collation (nil: simple); every
	// operation on the view runs with it.
	collation bson.D
}

func viewsNS(db string) engine.Namespace { return engine.Namespace{DB: db, Coll: viewsCollection} }

// viewOf returns the definition of ns when it is a view, else nil.
func (s *Server) viewOf(ns engine.Namespace) (*view, error) {
	if ns.Coll == "" || ns.Coll == viewsCollection {
		return nil, nil
	}
	raw, ok := s.engine.FindByID(viewsNS(ns.DB), ns.String())
	if !ok {
		return nil, nil
	}
	var d struct {
		ViewOn    string   `bson:"viewOn"`
		Pipeline  []bson.D `bson:"pipeline"`
		Collation bson.D   `bson:"collation,omitempty"`
	}
	if err := bson.Unmarshal(raw, &d); err != nil {
		return nil, cmdError(codeBadValue, "BadValue", "invalid view definition for %s in %s: %v", ns, viewsCollection, err)
	}
	return &view{viewOn: d.ViewOn, pipeline: d.Pipeline, collation: d.Collation}, nil
}

// resolveView follows ns through views to the collection that backs it and
// the pipeline that computes the view from it. isView is false (and the
// pipeline empty) when ns is not a view.
func (s *Server) resolveView(ns engine.Namespace) (base engine.Namespace, pipeline []bson.D, isView bool, err error) {
	base = ns
	for depth := 0; ; depth++ {
		v, err := s.viewOf(base)
		if err != nil {
			return base, nil, false, err
		}
		if v == nil {
			return base, pipeline, depth > 0, nil
		}
		if depth >= maxViewDepth {
			return base, nil, false, cmdError(codeViewDepthLimitExceeded, "ViewDepthLimitExceeded",
				"View depth too deep or view cycle detected. Maximum depth is %d", maxViewDepth)
		}
		// An outer view's stages run after those of the view it is on.
		pipeline = append(slices.Clone(v.pipeline), pipeline...)
		base = engine.Namespace{DB: base.DB, Coll: v.viewOn}
	}
}

// errOnView is MongoDB's refusal of collection-only commands on a view.
func errOnView(ns engine.Namespace) error {
	return cmdError(codeCommandNotSupportedOnView, "CommandNotSupportedOnView", "Namespace %s is a view, not a collection", ns)
}

// checkWritable refuses user writes to system collections, as MongoDB does
// (system.js excepted); they would corrupt view definitions.
func checkWritable(ns engine.Namespace) error {
	if strings.HasPrefix(ns.Coll, "system.") && ns.Coll != "system.js" {
		return cmdError(codeInvalidNamespace, "InvalidNamespace", "cannot write to '%s'", ns)
	}
	return nil
}

// refuseViewWrite is refuseView for data writes: views and system
// collections are not writable.
func (s *Server) refuseViewWrite(ns engine.Namespace) error {
	if err := checkWritable(ns); err != nil {
		return err
	}
	return s.refuseView(ns)
}

// refuseView fails when ns is a view (writes, indexes, change streams).
func (s *Server) refuseView(ns engine.Namespace) error {
	v, err := s.viewOf(ns)
	if err != nil {
		return err
	}
	if v != nil {
		return errOnView(ns)
	}
	return nil
}

// checkViewPipeline rejects pipelines a view may not have.
func checkViewPipeline(pipeline []bson.D) error {
	for _, st := range pipeline {
		if len(st) == 0 {
			continue
		}
		switch st[0].Key {
		case "$out", "$merge", "$changeStream":
			return cmdError(codeOptionNotSupportedOnView, "OptionNotSupportedOnView",
				"%s cannot be used in a view definition", st[0].Key)
		}
	}
	_, err := mql.NewPipeline(pipeline, mql.PipelineOptions{})
	return err
}

// createView defines ns as a view. As for collections (MongoDB 7.0+),
// defining an existing view again identically succeeds.
func (s *Server) createView(ns engine.Namespace, viewOn string, pipeline []bson.D, collation bson.D) error {
	if viewOn == "" {
		return cmdError(codeBadValue, "BadValue", "'viewOn' cannot be empty")
	}
	if err := validCollectionName(ns.DB, viewOn); err != nil {
		return err
	}
	if err := checkViewPipeline(pipeline); err != nil {
		return err
	}
	if existing, err := s.viewOf(ns); err != nil {
		return err
	} else if existing != nil {
		if existing.viewOn == viewOn && mql.Equal(toArray(existing.pipeline), toArray(pipeline)) &&
			mql.Equal(existing.collation, collation) {
			return nil
		}
		return cmdError(engine.CodeNamespaceExists, "NamespaceExists", "namespace %s already exists, but with different options", ns)
	}
	if _, ok := s.engine.Collection(ns); ok {
		return cmdError(engine.CodeNamespaceExists, "NamespaceExists", "Collection %s already exists.", ns)
	}
	if err := s.checkViewCycle(ns, viewOn); err != nil {
		return err
	}
	def := bson.D{
		{Key: "_id", Value: ns.String()},
		{Key: "viewOn", Value: viewOn},
		{Key: "pipeline", Value: toArray(pipeline)},
	}
	if len(collation) > 0 {
		def = append(def, bson.E{Key: "collation", Value: collation})
	}
	_, err := s.engine.Insert(viewsNS(ns.DB), def)
	return err
}

// modifyView redefines an existing view (collMod).
func (s *Server) modifyView(ns engine.Namespace, viewOn string, pipeline []bson.D) error {
	if viewOn == "" {
		return cmdError(codeBadValue, "BadValue", "'viewOn' cannot be empty")
	}
	if err := validCollectionName(ns.DB, viewOn); err != nil {
		return err
	}
	if err := checkViewPipeline(pipeline); err != nil {
		return err
	}
	if err := s.checkViewCycle(ns, viewOn); err != nil {
		return err
	}
	_, err := s.engine.Update(viewsNS(ns.DB), engine.UpdateArgs{
		Filter: bson.D{{Key: "_id", Value: ns.String()}},
		Update: bson.D{{Key: "viewOn", Value: viewOn}, {Key: "pipeline", Value: toArray(pipeline)}},
	})
	return err
}

// checkViewCycle fails when defining ns on viewOn would make a view depend
// on itself.
func (s *Server) checkViewCycle(ns engine.Namespace, viewOn string) error {
	target := viewOn
	for depth := 0; depth <= maxViewDepth; depth++ {
		if target == ns.Coll {
			return cmdError(160, "GraphContainsCycle", "View cycle detected: %s", ns)
		}
		v, err := s.viewOf(engine.Namespace{DB: ns.DB, Coll: target})
		if err != nil {
			return err
		}
		if v == nil {
			return nil
		}
		target = v.viewOn
	}
	return cmdError(codeViewDepthLimitExceeded, "ViewDepthLimitExceeded",
		"View depth too deep or view cycle detected. Maximum depth is %d", maxViewDepth)
}

// dropView removes a view definition; it reports whether ns was a view.
func (s *Server) dropView(ns engine.Namespace) (bool, error) {
	n, err := s.engine.Delete(viewsNS(ns.DB), bson.D{{Key: "_id", Value: ns.String()}}, 1)
	return n > 0, err
}

// listViews returns the listCollections entries of db's views.
func (s *Server) listViews(db string) ([]bson.D, error) {
	raws, err := s.engine.Find(viewsNS(db), engine.FindArgs{Sort: bson.D{{Key: "_id", Value: 1}}})
	if err != nil {
		return nil, err
	}
	out := make([]bson.D, 0, len(raws))
	for _, raw := range raws {
		var d struct {
			ID        string `bson:"_id"`
			ViewOn    string `bson:"viewOn"`
			Pipeline  bson.A `bson:"pipeline"`
			Collation bson.D `bson:"collation,omitempty"`
		}
		if err := bson.Unmarshal(raw, &d); err != nil || len(d.ID) <= len(db)+1 {
			continue
		}
		opts := bson.D{{Key: "viewOn", Value: d.ViewOn}, {Key: "pipeline", Value: d.Pipeline}}
		if len(d.Collation) > 0 {
			opts = append(opts, bson.E{Key: "collation", Value: d.Collation})
		}
		out = append(out, bson.D{
			{Key: "name", Value: d.ID[len(db)+1:]},
			{Key: "type", Value: "view"},
			{Key: "options", Value: opts},
			{Key: "info", Value: bson.D{{Key: "readOnly", Value: true}}},
		})
	}
	return out, nil
}

func toArray(stages []bson.D) bson.A {
	a := make(bson.A, len(stages))
	for i, st := range stages {
		a[i] = st
	}
	return a
}

// findPipeline translates a find on a view into the stages appended to the
// view's pipeline.
func findPipeline(args engine.FindArgs) []bson.D {
	var p []bson.D
	if len(args.Filter) > 0 {
		p = append(p, bson.D{{Key: "$match", Value: args.Filter}})
	}
	if len(args.Sort) > 0 {
		p = append(p, bson.D{{Key: "$sort", Value: args.Sort}})
	}
	if args.Skip > 0 {
		p = append(p, bson.D{{Key: "$skip", Value: args.Skip}})
	}
	if args.Limit > 0 {
		p = append(p, bson.D{{Key: "$limit", Value: args.Limit}})
	}
	if len(args.Projection) > 0 {
		p = append(p, bson.D{{Key: "$project", Value: args.Projection}})
	}
	return p
}

// countPipeline translates a count on a view.
func countPipeline(args engine.CountArgs) []bson.D {
	p := findPipeline(engine.FindArgs{Filter: args.Filter, Skip: args.Skip, Limit: args.Limit})
	return append(p, bson.D{{Key: "$count", Value: "n"}})
}

// distinctValues computes distinct over documents as the distinct command
// does: values at the dotted path, arrays unwound one level, in BSON order,
// values equal under the collation (already validated) counted once.
func distinctValues(docs []bson.D, key string, collation bson.D) []any {
	cmp := mql.Compare
	if c, _ := mql.ParseCollation(collation); c != nil && len(collation) > 0 {
		cmp = c.Compare
	}
	var vals []any
	for _, d := range docs {
		for _, v := range pathValues(d, splitDotted(key)) {
			if a, ok := v.(bson.A); ok {
				vals = append(vals, a...)
				continue
			}
			vals = append(vals, v)
		}
	}
	slices.SortStableFunc(vals, cmp)
	return slices.CompactFunc(vals, func(a, b any) bool { return cmp(a, b) == 0 })
}

// pathValues collects the values at path, descending into arrays of
// documents along the way.
func pathValues(v any, path []string) []any {
	if len(path) == 0 {
		return []any{v}
	}
	switch x := v.(type) {
	case bson.D:
		for _, e := range x {
			if e.Key == path[0] {
				return pathValues(e.Value, path[1:])
			}
		}
	case bson.A:
		var out []any
		for _, el := range x {
			if d, ok := el.(bson.D); ok {
				out = append(out, pathValues(d, path)...)
			}
		}
		return out
	}
	return nil
}

func splitDotted(path string) []string {
	var out []string
	start := 0
	for i := 0; i < len(path); i++ {
		if path[i] == '.' {
			out = append(out, path[start:i])
			start = i + 1
		}
	}
	return append(out, path[start:])
}
