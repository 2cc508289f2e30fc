package embedded

import (
	"github.com/mongotide/mongotide/embedded/internal/engine"
)

// createCollection creates ns in the request's transaction, if any (where
// MongoDB 4.4+ allows it: the collection appears at commit), else at once.
func (s *Server) createCollection(req *request, ns engine.Namespace, opts engine.CollectionOptions) error {
	if req.Txn != nil {
		return req.Txn.CreateCollection(ns, opts)
	}
	return s.engine.CreateCollection(ns, opts)
}

// createIndexes creates indexes in the request's transaction, if any
// (MongoDB allows it on a collection the transaction creates), else at once.
func (s *Server) createIndexes(req *request, ns engine.Namespace, specs []engine.IndexSpec) (engine.CreateIndexesResult, error) {
	if req.Txn != nil {
		return req.Txn.CreateIndexes(ns, specs)
	}
	return s.engine.CreateIndexes(ns, specs)
}
