package changestream

import (
	"strings"

	"github.com/mongotide/mongotide/embedded/internal/engine"
)

// Scope is where the aggregate command ran: {aggregate: "coll"} on DB is
// Scope{DB, Coll}; {aggregate: 1} on DB is Scope{DB: DB}, a database stream,
// or a whole-cluster stream when DB is "admin" and the $changeStream spec has
// allChangesForCluster: true.
type Scope struct {
	DB   string
	Coll string
}

type scopeKind uint8

const (
	scopeCollection scopeKind = iota
	scopeDatabase
	scopeCluster
)

// aggregateNS is the namespace MongoDB names in scope errors.
func (s Scope) aggregateNS() string {
	if s.Coll == "" {
		return s.DB + ".$cmd.aggregate"
	}
	return s.DB + "." + s.Coll
}

// checkScope applies MongoDB's assertIsLegalSpecification namespace rules.
func checkScope(s Scope, sp *spec) (scopeKind, error) {
	if s.DB == "" {
		return 0, errorf(CodeInvalidNamespace, "InvalidNamespace", "$changeStream requires a database name")
	}
	if sp.allChangesForCluster && (s.DB != "admin" || s.Coll != "") {
		return 0, errorf(CodeInvalidOptions, "InvalidOptions",
			"A $changeStream with 'allChangesForCluster:true' may only be opened on the 'admin' database, "+
				"and with no collection name; found %s", s.aggregateNS())
	}
	if s.DB == "admin" {
		if !sp.allChangesForCluster {
			return 0, errorf(CodeInvalidNamespace, "InvalidNamespace",
				"$changeStream may not be opened on the internal admin database")
		}
	} else if s.DB == "local" || (s.DB == "config" && !sp.allowToRunOnConfigDB) {
		return 0, errorf(CodeInvalidNamespace, "InvalidNamespace",
			"$changeStream may not be opened on the internal %s database", s.DB)
	}
	if strings.HasPrefix(s.Coll, "system.") && !sp.allowToRunOnSystemNS {
		return 0, errorf(CodeInvalidNamespace, "InvalidNamespace",
			"$changeStream may not be opened on the internal %s.%s collection", s.DB, s.Coll)
	}
	switch {
	case sp.allChangesForCluster:
		return scopeCluster, nil
	case s.Coll == "":
		return scopeDatabase, nil
	}
	return scopeCollection, nil
}

// internalDB reports databases a cluster-wide stream never reports.
func internalDB(db string) bool {
	return db == "admin" || db == "config" || db == "local"
}

// visibleColl reports whether a whole-database or whole-cluster stream
// reports changes to collection coll of db.
func visibleColl(kind scopeKind, db, coll string) bool {
	if strings.HasPrefix(coll, "system.") {
		return false
	}
	return kind != scopeCluster || !internalDB(db)
}

// matches reports whether an oplog entry produces an event for this scope,
// and whether that event invalidates the stream.
func (s Scope) matches(kind scopeKind, e *engine.Entry) (match, invalidates bool) {
	switch e.Op {
	case engine.OpInsert, engine.OpUpdate, engine.OpReplace, engine.OpDelete, engine.OpDrop:
		switch kind {
		case scopeCollection:
			m := e.NS.DB == s.DB && e.NS.Coll == s.Coll
			return m, m && e.Op == engine.OpDrop
		case scopeDatabase:
			return e.NS.DB == s.DB && visibleColl(kind, e.NS.DB, e.NS.Coll), false
		default:
			return visibleColl(kind, e.NS.DB, e.NS.Coll), false
		}
	case engine.OpRename:
		switch kind {
		case scopeCollection:
			m := (e.NS.DB == s.DB && e.NS.Coll == s.Coll) || (e.To.DB == s.DB && e.To.Coll == s.Coll)
			return m, m
		case scopeDatabase:
			from := e.NS.DB == s.DB && visibleColl(kind, e.NS.DB, e.NS.Coll)
			to := e.To.DB == s.DB && visibleColl(kind, e.To.DB, e.To.Coll)
			return from || to, false
		default:
			return visibleColl(kind, e.NS.DB, e.NS.Coll) || visibleColl(kind, e.To.DB, e.To.Coll), false
		}
	case engine.OpDropDatabase:
		switch kind {
		case scopeCollection, scopeDatabase:
			m := e.NS.DB == s.DB
			return m, m
		default:
			return !internalDB(e.NS.DB), false
		}
	}
	// Catalog entries (create, indexes, collMod) are expanded events, which
	// a stream without showExpandedEvents never reports.
	return false, false
}
