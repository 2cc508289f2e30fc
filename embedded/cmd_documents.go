package embedded

import (
	"github.com/mongotide/mongotide/internal/mql"
	"go.mongodb.org/mongo-driver/v2/bson"
)

// runDocuments serves {aggregate: 1, pipeline: [{$documents: expr}, ...]}:
// the expression (evaluated once, with the command's let variables) must
// give an array of documents, which the rest of the pipeline runs over.
func runDocuments(a aggregateArgs) ([]bson.Raw, error) {
	e, err := mql.NewExpr(a.pipeline[0][0].Value)
	if err != nil {
		return nil, err
	}
	v, err := e.Eval(nil, a.vars)
	if err != nil {
		return nil, err
	}
	arr, ok := v.(bson.A)
	if !ok {
		return nil, cmdError(5858203, "Location5858203", "error during aggregation :: caused by :: an array is expected")
	}
	docs := make([]bson.D, len(arr))
	for i, x := range arr {
		d, ok := x.(bson.D)
		if !ok {
			return nil, cmdError(40228, "Location40228", "'$documents' must evaluate to an array of objects, found an element of type %s", mql.TypeName(x))
		}
		docs[i] = d
	}
	var coll *mql.Collation
	if a.collation != nil {
		if coll, err = mql.ParseCollation(a.collation); err != nil {
			return nil, err
		}
	}
	p, err := mql.NewPipeline(a.pipeline[1:], mql.PipelineOptions{Vars: a.vars, Collation: coll})
	if err != nil {
		return nil, err
	}
	out, err := p.Run(docs)
	if err != nil {
		return nil, err
	}
	return toRaw(out)
}
