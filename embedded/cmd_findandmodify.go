package embedded

import (
	"context"

	"github.com/mongotide/mongotide/embedded/internal/engine"
	"go.mongodb.org/mongo-driver/v2/bson"
)

func cmdFindAndModify(_ context.Context, s *Server, req *request) (bson.D, error) {
	// MongoDB names fields "findAndModify.x" whatever casing the client used.
	const cmd = "findAndModify"
	coll, err := collectionArg(req)
	if err != nil {
		return nil, err
	}
	var (
		args      engine.FindAndModifyArgs
		hint      any
		haveUpd   bool
		newGiven  bool
		upsertSet bool
		vars      map[string]any
		// bypassEmptyTs keeps Timestamp(0, 0) in a replacement.
		bypassEmptyTs bool
	)
	for _, e := range req.Body[1:] {
		switch e.Key {
		case "query":
			args.Query, err = argOptDoc(cmd, e.Key, e.Value)
		case "sort":
			args.Sort, err = argOptDoc(cmd, e.Key, e.Value)
		case "fields":
			args.Fields, err = argOptDoc(cmd, e.Key, e.Value)
		case "remove":
			args.Remove, err = argBool(cmd, e.Key, e.Value)
		case "new":
			args.New, err = argBool(cmd, e.Key, e.Value)
			newGiven = args.New
		case "upsert":
			args.Upsert, err = argBool(cmd, e.Key, e.Value)
			upsertSet = args.Upsert
		case "update":
			switch u := e.Value.(type) {
			case bson.D:
				args.Update = u
			case bson.A:
				args.Update = u
			case nil:
				continue
			default:
				err = wrongType(cmd, e.Key, e.Value, "object or array")
			}
			haveUpd = err == nil
		case "arrayFilters":
			if e.Value != nil {
				args.ArrayFilters, err = argDocs(cmd, e.Key, e.Value)
			}
		case "hint":
			hint = e.Value
		case "collation":
			args.Collation, err = collationArg(cmd, e.Value)
		case "let":
			vars, err = parseLet(cmd, e.Value)
		case "bypassDocumentValidation":
			args.BypassDocumentValidation, err = argBool(cmd, e.Key, e.Value)
		case "bypassEmptyTsReplacement":
			bypassEmptyTs, err = argBool(cmd, e.Key, e.Value)
		default:
			if !isGenericField(e.Key) {
				err = unknownField(cmd, e.Key)
			}
		}
		if err != nil {
			return nil, err
		}
	}
	switch {
	case args.Remove && haveUpd:
		return nil, cmdError(codeFailedToParse, "FailedToParse", "Cannot specify both an update and remove=true")
	case !args.Remove && !haveUpd:
		return nil, cmdError(codeFailedToParse, "FailedToParse", "Either an update or remove=true must be specified")
	case args.Remove && upsertSet:
		return nil, cmdError(codeFailedToParse, "FailedToParse", "Cannot specify both upsert=true and remove=true")
	case args.Remove && newGiven:
		return nil, cmdError(codeFailedToParse, "FailedToParse",
			"Cannot specify both new=true and remove=true; 'remove' always returns the deleted document")
	case args.Remove && len(args.ArrayFilters) > 0:
		return nil, cmdError(codeFailedToParse, "FailedToParse", "Cannot specify arrayFilters and remove=true")
	}
	ns := nsOf(req, coll)
	if err := s.refuseViewWrite(ns); err != nil {
		return nil, err
	}
	if err := s.refuseCappedTxnWrite(req, ns); err != nil {
		return nil, err
	}
	if err := s.checkHint(cmd, ns, hint); err != nil {
		return nil, err
	}
	args.Query = bindFilter(args.Query, vars)
	args.Update = bindUpdate(args.Update, vars)
	args.KeepEmptyTimestamps = bypassEmptyTs
	var res engine.FindAndModifyResult
	err = s.retryableWriteOf(req).exec(0, &writeReply{}, func() (err error) {
		res, err = s.ops(req).FindAndModify(ns, args)
		return err
	})
	if fb, ok := err.(failedBeforeCommit); ok {
		return nil, fb.commandError
	}
	if err != nil {
		return nil, err
	}
	leo := bson.D{{Key: "n", Value: int32OrInt64(res.N)}}
	if !args.Remove {
		leo = append(leo, bson.E{Key: "updatedExisting", Value: res.UpdatedExisting})
		if res.Upserted != nil {
			leo = append(leo, bson.E{Key: "upserted", Value: res.Upserted})
		}
	}
	var value any // nil encodes as null
	if res.Value != nil {
		value = res.Value
	}
	return bson.D{{Key: "lastErrorObject", Value: leo}, {Key: "value", Value: value}}, nil
}
