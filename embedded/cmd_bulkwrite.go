package embedded

import (
	"context"
	"fmt"

	"github.com/mongotide/mongotide/embedded/internal/engine"
	"go.mongodb.org/mongo-driver/v2/bson"
)

// bulkWriteOp is one element of bulkWrite.ops (MongoDB 8.0's cluster-level
// bulk write, which the v2 driver's Client.BulkWrite sends).
type bulkWriteOp struct {
	kind   string // "insert", "update" or "delete"
	nsIdx  int
	doc    bson.D
	update engine.UpdateArgs
	filter bson.D
	multi  bool
	hint   any
	consts map[string]any
}

func parseBulkWriteOp(i int, d bson.D, nNS int) (bulkWriteOp, error) {
	const cmd = "bulkWrite"
	var op bulkWriteOp
	if len(d) == 0 {
		return op, cmdError(codeFailedToParse, "FailedToParse", "BSON field 'bulkWrite.ops.%d' is empty", i)
	}
	op.kind = d[0].Key
	path := func(f string) string { return fmt.Sprintf("ops.%d.%s", i, f) }
	switch op.kind {
	case "insert", "update", "delete":
	default:
		return op, cmdError(codeFailedToParse, "FailedToParse", "Unrecognized bulkWrite operation: %s", op.kind)
	}
	n, err := argInt64(cmd, path(op.kind), d[0].Value)
	if err != nil {
		return op, err
	}
	if n < 0 || n >= int64(nNS) {
		return op, cmdError(codeBadValue, "BadValue", "BulkWrite ops entry %d has an invalid nsInfo index %d", i, n)
	}
	op.nsIdx = int(n)
	haveDoc, haveFilter, haveMods := false, false, false
	for _, e := range d[1:] {
		switch {
		case e.Key == "document" && op.kind == "insert":
			op.doc, err = argDoc(cmd, path(e.Key), e.Value)
			haveDoc = true
		case e.Key == "filter" && op.kind != "insert":
			op.filter, err = argDoc(cmd, path(e.Key), e.Value)
			haveFilter = true
		case e.Key == "multi" && op.kind != "insert":
			op.multi, err = argBool(cmd, path(e.Key), e.Value)
		case e.Key == "hint" && op.kind != "insert":
			op.hint = e.Value
		case e.Key == "collation" && op.kind != "insert":
			op.update.Collation, err = collationArg(cmd, e.Value)
		case e.Key == "updateMods" && op.kind == "update":
			switch u := e.Value.(type) {
			case bson.D:
				op.update.Update = u
			case bson.A:
				op.update.Update = u
			default:
				err = wrongType(cmd, path(e.Key), e.Value, "object or array")
			}
			haveMods = true
		case e.Key == "upsert" && op.kind == "update":
			op.update.Upsert, err = argBool(cmd, path(e.Key), e.Value)
		case e.Key == "arrayFilters" && op.kind == "update":
			if e.Value != nil {
				op.update.ArrayFilters, err = argDocs(cmd, path(e.Key), e.Value)
			}
		case e.Key == "sort" && op.kind == "update":
			op.update.Sort, err = argOptDoc(cmd, path(e.Key), e.Value)
		case e.Key == "constants" && op.kind == "update":
			op.consts, err = parseLet(cmd, e.Value)
		default:
			err = unknownField(cmd, "ops."+e.Key)
		}
		if err != nil {
			return op, err
		}
	}
	switch {
	case op.kind == "insert" && !haveDoc:
		return op, missingField(cmd, path("document"))
	case op.kind != "insert" && !haveFilter:
		return op, missingField(cmd, path("filter"))
	case op.kind == "update" && !haveMods:
		return op, missingField(cmd, path("updateMods"))
	}
	op.update.Filter = op.filter
	op.update.Multi = op.multi
	return op, nil
}

func parseNSInfo(v any) ([]engine.Namespace, []*bson.Binary, error) {
	const cmd = "bulkWrite"
	docs, err := argDocs(cmd, "nsInfo", v)
	if err != nil {
		return nil, nil, err
	}
	out := make([]engine.Namespace, len(docs))
	uuids := make([]*bson.Binary, len(docs))
	for i, d := range docs {
		have := false
		for _, e := range d {
			switch e.Key {
			case "ns":
				full, err := argString(cmd, fmt.Sprintf("nsInfo.%d.ns", i), e.Value)
				if err != nil {
					return nil, nil, err
				}
				if out[i], err = splitNamespace(cmd, "nsInfo", full); err != nil {
					return nil, nil, err
				}
				have = true
			case "collectionUUID":
				u, ok := e.Value.(bson.Binary)
				if !ok || u.Subtype != 4 {
					return nil, nil, wrongType(cmd, fmt.Sprintf("nsInfo.%d.collectionUUID", i), e.Value, "uuid")
				}
				uuids[i] = &u
			default:
				return nil, nil, unknownField(cmd, "nsInfo."+e.Key)
			}
		}
		if !have {
			return nil, nil, missingField(cmd, fmt.Sprintf("nsInfo.%d.ns", i))
		}
	}
	return out, uuids, nil
}

// cmdBulkWrite runs MongoDB 8.0's bulkWrite command on admin: mixed
// inserts, updates and deletes over several namespaces, one result per
// operation in a cursor.
func cmdBulkWrite(ctx context.Context, s *Server, req *request) (bson.D, error) {
	const cmd = "bulkWrite"
	if err := requireAdmin(req); err != nil {
		return nil, err
	}
	var (
		rawOps     bson.A
		haveOps    bool
		nsInfo     []engine.Namespace
		nsUUIDs    []*bson.Binary // nsInfo's collectionUUIDs (nil when absent)
		ordered    = true
		errorsOnly bool
		vars       map[string]any
		copts      = cursorOptions{BatchSize: -1}
		err        error
		// bypassEmptyTs keeps Timestamp(0, 0) in inserts and replacements.
		bypassEmptyTs bool
		// bypassValidation skips validators (bypassDocumentValidation).
		bypassValidation bool
	)
	for _, e := range req.Body[1:] {
		switch e.Key {
		case "ops":
			rawOps, err = argArray(cmd, e.Key, e.Value)
			haveOps = true
		case "nsInfo":
			nsInfo, nsUUIDs, err = parseNSInfo(e.Value)
		case "ordered":
			ordered, err = argBool(cmd, e.Key, e.Value)
		case "errorsOnly":
			errorsOnly, err = argBool(cmd, e.Key, e.Value)
		case "bypassDocumentValidation":
			bypassValidation, err = argBool(cmd, e.Key, e.Value)
		case "bypassEmptyTsReplacement":
			bypassEmptyTs, err = argBool(cmd, e.Key, e.Value)
		case "let":
			vars, err = parseLet(cmd, e.Value)
		case "cursor":
			err = parseCursorOption(cmd, e.Value, &copts)
		default:
			if !isGenericField(e.Key) {
				err = unknownField(cmd, e.Key)
			}
		}
		if err != nil {
			return nil, err
		}
	}
	if !haveOps {
		return nil, missingField(cmd, "ops")
	}
	if nsInfo == nil {
		return nil, missingField(cmd, "nsInfo")
	}
	if err := checkBatchSize(len(rawOps)); err != nil {
		return nil, err
	}
	ops := make([]bulkWriteOp, len(rawOps))
	for i, r := range rawOps {
		d, err := argDoc(cmd, fmt.Sprintf("ops.%d", i), r)
		if err != nil {
			return nil, err
		}
		if ops[i], err = parseBulkWriteOp(i, d, len(nsInfo)); err != nil {
			return nil, err
		}
	}
	var (
		items                                            []bson.D
		nErrors, nInserted, nMatched, nModified, nUpsert int64
		nDeleted                                         int64
	)
	store := withoutValidation(s.ops(req), bypassValidation)
	for i, op := range ops {
		ns := nsInfo[op.nsIdx]
		item := bson.D{{Key: "ok", Value: 1.0}, {Key: "idx", Value: int32(i)}}
		err := s.refuseViewWrite(ns)
		if err == nil {
			err = s.checkCollectionUUID(ns, nsUUIDs[op.nsIdx])
		}
		if err == nil {
			err = s.refuseCappedTxnWrite(req, ns)
		}
		if err == nil && op.kind != "insert" {
			err = s.checkHint(cmd, ns, op.hint)
		}
		if err == nil {
			switch op.kind {
			case "insert":
				if _, err = store.Insert(ns, s.fillEmptyTimestamps(op.doc, bypassEmptyTs)); err == nil {
					nInserted++
					item = append(item, bson.E{Key: "n", Value: int32(1)})
				}
			case "update":
				args := op.update
				args.KeepEmptyTimestamps = bypassEmptyTs
				if v := mergeVars(vars, op.consts); len(v) > 0 {
					args.Filter = bindFilter(args.Filter, v)
					args.Update = bindUpdate(args.Update, v)
				}
				var res engine.UpdateResult
				if res, err = store.Update(ns, args); err == nil {
					n := res.Matched
					nMatched += res.Matched
					nModified += res.Modified
					if res.UpsertedID != nil {
						n++
						nUpsert++
					}
					item = append(item, bson.E{Key: "n", Value: int32OrInt64(n)}, bson.E{Key: "nModified", Value: int32OrInt64(res.Modified)})
					if res.UpsertedID != nil {
						item = append(item, bson.E{Key: "upserted", Value: bson.D{{Key: "_id", Value: res.UpsertedID}}})
					}
				}
			case "delete":
				limit := 1
				if op.multi {
					limit = 0
				}
				var n int64
				if n, err = deleteWith(store, ns, bindFilter(op.filter, vars), limit, op.update.Collation); err == nil {
					nDeleted += n
					item = append(item, bson.E{Key: "n", Value: int32OrInt64(n)})
				}
			}
		}
		if err != nil {
			we, ok := writeError(i, err)
			if !ok {
				return nil, err
			}
			nErrors++
			item = bson.D{{Key: "ok", Value: 0.0}, {Key: "idx", Value: int32(i)}}
			for _, e := range we[1:] { // code, keyPattern/keyValue, errmsg
				item = append(item, e)
			}
			item = append(item, bson.E{Key: "n", Value: int32(0)})
			items = append(items, item)
			if ordered {
				break
			}
			continue
		}
		if !errorsOnly {
			items = append(items, item)
		}
	}
	docs, err := toRaw(items)
	if err != nil {
		return nil, err
	}
	reply, err := s.newCursor(ctx, req, "admin.$cmd.bulkWrite", newSliceSource(docs), copts)
	if err != nil {
		return nil, err
	}
	return append(reply,
		bson.E{Key: "nErrors", Value: int32OrInt64(nErrors)},
		bson.E{Key: "nInserted", Value: int32OrInt64(nInserted)},
		bson.E{Key: "nMatched", Value: int32OrInt64(nMatched)},
		bson.E{Key: "nModified", Value: int32OrInt64(nModified)},
		bson.E{Key: "nUpserted", Value: int32OrInt64(nUpsert)},
		bson.E{Key: "nDeleted", Value: int32OrInt64(nDeleted)},
	), nil
}
