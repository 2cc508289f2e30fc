package embedded

import (
	"context"

	"github.com/mongotide/mongotide/embedded/internal/changestream"
	"go.mongodb.org/mongo-driver/v2/bson"
)

// openChangeStream serves an aggregate whose first stage is $changeStream:
// on a collection, on a database ({aggregate: 1}) or, on admin with
// allChangesForCluster, on the whole deployment. The stream is a tailable,
// awaitData cursor; validation of the stage, its options and the stages
// after it is the change-stream package's.
func (s *Server) openChangeStream(ctx context.Context, req *request, a aggregateArgs) (bson.D, error) {
	if err := notInTxn(req); err != nil {
		return nil, err
	}
	stage := a.pipeline[0]
	if len(stage) != 1 {
		return nil, cmdError(40323, "Location40323", "A pipeline stage specification object must contain exactly one field.")
	}
	spec, ok := stage[0].Value.(bson.D)
	if !ok {
		return nil, cmdError(50808, "Location50808", "$changeStream stage expects a document as argument")
	}
	if a.coll != "" {
		if err := s.refuseView(nsOf(req, a.coll)); err != nil {
			return nil, err
		}
	}
	stream, err := changestream.Open(s.engine, changestream.Scope{DB: req.DB, Coll: a.coll}, spec, a.pipeline[1:])
	if err != nil {
		return nil, err
	}
	ns := req.DB + "." + a.coll
	if a.coll == "" {
		ns = req.DB + ".$cmd.aggregate"
	}
	opts := a.copts
	opts.Tailable, opts.AwaitData = true, true
	return s.newCursor(ctx, req, ns, stream, opts)
}

// checkNoChangeStream refuses $changeStream anywhere but first.
func checkNoChangeStream(pipeline []bson.D) error {
	for _, st := range pipeline {
		if len(st) > 0 && st[0].Key == "$changeStream" {
			return cmdError(40602, "Location40602", "$changeStream is only valid as the first stage in a pipeline")
		}
	}
	return nil
}
