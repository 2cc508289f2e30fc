package embedded

import (
	"context"

	"github.com/mongotide/mongotide/embedded/internal/engine"
	"go.mongodb.org/mongo-driver/v2/bson"
)

// registerCommands adds the data and catalog commands to r. The server
// core registers its own commands (hello, getMore, transactions, ...) first.
func (s *Server) registerCommands(r map[string]handler) {
	// Only these read at a snapshot outside transactions; their replies
	// carry atClusterTime (see snapshotReply).
	for name, h := range map[string]handler{
		"find":      cmdFind,
		"aggregate": cmdAggregate,
		"distinct":  cmdDistinct,
	} {
		r[name] = h
	}
	for name, h := range map[string]handler{
		"insert":           cmdInsert,
		"update":           cmdUpdate,
		"delete":           cmdDelete,
		"findAndModify":    cmdFindAndModify,
		"findandmodify":    cmdFindAndModify,
		"count":            cmdCount,
		"create":           cmdCreate,
		"collMod":          cmdCollMod,
		"createIndexes":    cmdCreateIndexes,
		"listIndexes":      cmdListIndexes,
		"dropIndexes":      cmdDropIndexes,
		"deleteIndexes":    cmdDropIndexes,
		"listCollections":  cmdListCollections,
		"listDatabases":    cmdListDatabases,
		"drop":             cmdDrop,
		"dropDatabase":     cmdDropDatabase,
		"renameCollection": cmdRenameCollection,
		"dbStats":          cmdDBStats,
		"dbstats":          cmdDBStats,
		"collStats":        cmdCollStats,
		"collstats":        cmdCollStats,
		"explain":          cmdExplain,
		"bulkWrite":        cmdBulkWrite,
		// Atlas Search only: refused as mongod refuses them.
		"createSearchIndexes": cmdSearchIndexes,
		"updateSearchIndex":   cmdSearchIndexes,
		"dropSearchIndex":     cmdSearchIndexes,
	} {
		r[name] = refuseSnapshot(h)
	}
}

// isSnapshotRead reports readConcern level "snapshot" outside a
// transaction (inside one, every command reads the transaction's snapshot).
func isSnapshotRead(req *request) bool {
	return req.Txn == nil && readConcernLevel(req.Body) == "snapshot"
}

// readOps returns what a read command reads through and the cluster time it
// reads at. A snapshot read outside a transaction reads the engine's
// snapshot history at readConcern.atClusterTime (a snapshot session's
// later reads) or at the current cluster time, so its reply's atClusterTime
// names exactly the state it saw; older than the history window it fails
// with 239 SnapshotTooOld, as on mongod.
func (s *Server) readOps(req *request) (engine.Ops, bson.Timestamp, error) {
	if !isSnapshotRead(req) {
		return s.ops(req), s.engine.ClusterTime(), nil
	}
	ts := s.engine.ClusterTime()
	if v, ok := lookup(req.Body, "readConcern"); ok {
		rc, _ := v.(bson.D)
		if at, ok := lookup(rc, "atClusterTime"); ok {
			ts, _ = at.(bson.Timestamp) // checkConcerns checked the type
		}
	}
	snap, err := s.engine.ReadAt(ts)
	if err != nil {
		return nil, ts, err
	}
	return snap, ts, nil
}

// refuseSnapshot wraps a command that, as in MongoDB, cannot run with
// readConcern snapshot outside a transaction.
func refuseSnapshot(h handler) handler {
	return func(ctx context.Context, s *Server, req *request) (bson.D, error) {
		if isSnapshotRead(req) {
			return nil, cmdError(codeInvalidOptions, "InvalidOptions",
				"Command %s does not support { readConcern: { level: \"snapshot\" } } outside a transaction", req.Name)
		}
		return h(ctx, s, req)
	}
}

// snapshotReply adds atClusterTime to the reply of a snapshot read, in the
// cursor document for cursor replies and at the top level otherwise, so the
// driver's snapshot session pins its later reads to the same time (see
// readOps).
func snapshotReply(req *request, reply bson.D, ts bson.Timestamp) bson.D {
	if !isSnapshotRead(req) {
		return reply
	}
	for i, e := range reply {
		if c, ok := e.Value.(bson.D); ok && e.Key == "cursor" {
			reply[i].Value = append(c, bson.E{Key: "atClusterTime", Value: ts})
			return reply
		}
	}
	return append(reply, bson.E{Key: "atClusterTime", Value: ts})
}
