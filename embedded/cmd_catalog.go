package embedded

import (
	"context"
	"strings"

	"github.com/mongotide/mongotide/embedded/internal/engine"
	"github.com/mongotide/mongotide/internal/mql"
	"go.mongodb.org/mongo-driver/v2/bson"
)

// checkOnlyGeneric rejects every field after the first that is not generic.
func checkOnlyGeneric(cmd string, body bson.D) error {
	for _, e := range body[1:] {
		if !isGenericField(e.Key) {
			return unknownField(cmd, e.Key)
		}
	}
	return nil
}

func cmdDrop(_ context.Context, s *Server, req *request) (bson.D, error) {
	coll, err := collectionArgOutsideTxn(req)
	if err != nil {
		return nil, err
	}
	if err := checkOnlyGeneric("drop", req.Body); err != nil {
		return nil, err
	}
	ns := nsOf(req, coll)
	if wasView, err := s.dropView(ns); err != nil || wasView {
		return bson.D{}, err
	}
	info, existed := s.engine.Collection(ns)
	if _, err := s.engine.DropCollection(ns); err != nil {
		return nil, err
	}
	// Since MongoDB 7.0 dropping a missing collection succeeds.
	if !existed {
		return bson.D{}, nil
	}
	return bson.D{
		{Key: "nIndexesWas", Value: int32(info.NIndexes)},
		{Key: "ns", Value: ns.String()},
	}, nil
}

func cmdDropDatabase(_ context.Context, s *Server, req *request) (bson.D, error) {
	if err := notInTxn(req); err != nil {
		return nil, err
	}
	if err := checkOnlyGeneric("dropDatabase", req.Body); err != nil {
		return nil, err
	}
	if err := s.engine.DropDatabase(req.DB); err != nil {
		return nil, err
	}
	return bson.D{{Key: "dropped", Value: req.DB}}, nil
}

// parseImagesOption reads changeStreamPreAndPostImages: {enabled: <bool>}.
func parseImagesOption(cmd string, v any) (bool, error) {
	d, err := argDoc(cmd, "changeStreamPreAndPostImages", v)
	if err != nil {
		return false, err
	}
	enabled, have := false, false
	for _, e := range d {
		if e.Key != "enabled" {
			return false, unknownField(cmd+".changeStreamPreAndPostImages", e.Key)
		}
		if enabled, err = argBool(cmd, "changeStreamPreAndPostImages.enabled", e.Value); err != nil {
			return false, err
		}
		have = true
	}
	if !have {
		return false, missingField(cmd, "changeStreamPreAndPostImages.enabled")
	}
	return enabled, nil
}

// checkValidationMode accepts only the default validation level and
// action: "moderate" or "warn" would let documents through that the engine
// rejects.
func checkValidationMode(cmd, key string, v any) (string, error) {
	s, err := argString(cmd, key, v)
	if err != nil {
		return "", err
	}
	switch {
	case key == "validationLevel" && (s == "strict" || s == "off" || s == "moderate"),
		key == "validationAction" && (s == "error" || s == "warn" || s == "errorAndLog"):
		return s, nil
	}
	return "", cmdError(codeBadValue, "BadValue", "Enumeration value '%s' for field '%s.%s' is not a valid value.", s, cmd, key)
}

func cmdCreate(_ context.Context, s *Server, req *request) (bson.D, error) {
	const cmd = "create"
	coll, err := collectionArg(req) // allowed in transactions since 4.4
	if err != nil {
		return nil, err
	}
	var (
		opts                 engine.CollectionOptions
		viewOn               string
		viewPipeline         []bson.D
		isView, havePipeline bool
		collectionOnlyOption string
	)
	for _, e := range req.Body[1:] {
		switch e.Key {
		case "viewOn":
			viewOn, err = argString(cmd, e.Key, e.Value)
			isView = true
		case "pipeline":
			viewPipeline, err = argDocs(cmd, e.Key, e.Value)
			havePipeline = true
		case "changeStreamPreAndPostImages":
			collectionOnlyOption = e.Key
			opts.ChangeStreamPreAndPostImages, err = parseImagesOption(cmd, e.Value)
		case "validator":
			collectionOnlyOption = e.Key
			opts.Validator, err = argDoc(cmd, e.Key, e.Value)
			if err == nil && len(opts.Validator) > 0 {
				// Compile it now so a bad validator fails the
				// create, as in MongoDB, rather than every write.
				_, err = mql.NewMatcher(opts.Validator)
			}
		case "validationLevel":
			opts.ValidationLevel, err = checkValidationMode(cmd, e.Key, e.Value)
		case "validationAction":
			opts.ValidationAction, err = checkValidationMode(cmd, e.Key, e.Value)
		case "capped":
			opts.Capped, err = argBool(cmd, e.Key, e.Value)
		case "size":
			opts.CappedSize, err = cappedNumber(cmd, e.Key, e.Value, 1<<50)
		case "max":
			opts.CappedMax, err = cappedNumber(cmd, e.Key, e.Value, 1<<31-1)
		case "collation":
			opts.Collation, err = normalizedCollation(cmd, e.Value)
		case "clusteredIndex":
			collectionOnlyOption = e.Key
			opts.ClusteredIndex, err = parseClusteredIndex(e.Value)
		case "timeseries":
			collectionOnlyOption = e.Key
			opts.Timeseries, err = parseTimeseries(e.Value)
		case "expireAfterSeconds":
			opts.ExpireAfterSeconds, err = parseCollectionTTL(e.Value)
		case "encryptedFields":
			err = notSupported("BSON field 'create.%s'", e.Key)
		case "storageEngine":
			opts.StorageEngine, err = argDoc(cmd, e.Key, e.Value)
		case "indexOptionDefaults":
			opts.IndexOptionDefaults, err = argDoc(cmd, e.Key, e.Value)
		case "idIndex", "autoIndexId", "flags":
			// Storage tuning with no effect on results.
		default:
			if !isGenericField(e.Key) {
				err = unknownField(cmd, e.Key)
			}
		}
		if err != nil {
			return nil, err
		}
	}
	ns := nsOf(req, coll)
	if opts, err = cappedOptions(opts, isView); err != nil {
		return nil, err
	}
	if err := checkSpecialCollection(opts); err != nil {
		return nil, err
	}
	if havePipeline && !isView {
		return nil, cmdError(codeBadValue, "BadValue", "'pipeline' requires 'viewOn' to also be specified")
	}
	if isView {
		if err := notInTxn(req); err != nil {
			return nil, err
		}
		if collectionOnlyOption != "" {
			return nil, cmdError(codeInvalidOptions, "InvalidOptions", "option '%s' is not supported for a view", collectionOnlyOption)
		}
		if err := s.createView(ns, viewOn, viewPipeline, opts.Collation); err != nil {
			return nil, err
		}
		return bson.D{}, nil
	}
	if v, err := s.viewOf(ns); err != nil {
		return nil, err
	} else if v != nil {
		return nil, cmdError(engine.CodeNamespaceExists, "NamespaceExists", "A view already exists. NS: %s", ns)
	}
	if err := s.createCollection(req, ns, opts); err != nil {
		// Since MongoDB 7.0 creating an existing collection with the
		// same options succeeds.
		if info, ok := s.engine.Collection(ns); ok && isNamespaceExists(err) && sameCollectionOptions(info.Options, opts) {
			return bson.D{}, nil
		}
		return nil, err
	}
	return bson.D{}, nil
}

func isNamespaceExists(err error) bool {
	code, _, _, _, ok := codedError(err)
	return ok && code == engine.CodeNamespaceExists
}

func sameCollectionOptions(a, b engine.CollectionOptions) bool {
	// Doc renders every option in one canonical order.
	return mql.Equal(a.Doc(), b.Doc())
}

func cmdCollMod(_ context.Context, s *Server, req *request) (bson.D, error) {
	const cmd = "collMod"
	coll, err := collectionArgOutsideTxn(req)
	if err != nil {
		return nil, err
	}
	var (
		args          engine.CollModArgs
		viewOn        *string
		viewPipeline  []bson.D
		havePipeline  bool
		collectionMod string
		indexMod      *engine.IndexMod
	)
	for _, e := range req.Body[1:] {
		if e.Key == "changeStreamPreAndPostImages" || e.Key == "validator" {
			collectionMod = e.Key
		}
		switch e.Key {
		case "viewOn":
			var v string
			if v, err = argString(cmd, e.Key, e.Value); err == nil {
				viewOn = &v
			}
		case "pipeline":
			viewPipeline, err = argDocs(cmd, e.Key, e.Value)
			havePipeline = true
		case "changeStreamPreAndPostImages":
			var on bool
			if on, err = parseImagesOption(cmd, e.Value); err == nil {
				args.ChangeStreamPreAndPostImages = &on
			}
		case "validator":
			var v bson.D
			if v, err = argDoc(cmd, e.Key, e.Value); err == nil {
				if len(v) > 0 {
					_, err = mql.NewMatcher(v)
				}
				args.Validator = &v
			}
		case "validationLevel", "validationAction":
			var mode string
			if mode, err = checkValidationMode(cmd, e.Key, e.Value); err == nil {
				if e.Key == "validationLevel" {
					args.ValidationLevel = &mode
				} else {
					args.ValidationAction = &mode
				}
			}
		case "index":
			var d bson.D
			if d, err = argDoc(cmd, e.Key, e.Value); err == nil {
				indexMod, err = parseIndexMod(d)
			}
		case "expireAfterSeconds", "timeseries", "cappedSize", "cappedMax",
			"clusteredIndex":
			err = notSupported("BSON field 'collMod.%s'", e.Key)
		default:
			if !isGenericField(e.Key) {
				err = unknownField(cmd, e.Key)
			}
		}
		if err != nil {
			return nil, err
		}
	}
	ns := nsOf(req, coll)
	v, err := s.viewOf(ns)
	if err != nil {
		return nil, err
	}
	if v != nil {
		if collectionMod != "" {
			return nil, cmdError(codeInvalidOptions, "InvalidOptions", "option '%s' is not supported for a view", collectionMod)
		}
		if viewOn == nil && !havePipeline {
			return bson.D{}, nil
		}
		if viewOn == nil {
			return nil, cmdError(codeInvalidOptions, "InvalidOptions", "must specify both 'viewOn' and 'pipeline' when modifying a view")
		}
		if !havePipeline {
			viewPipeline = v.pipeline
		}
		return bson.D{}, s.modifyView(ns, *viewOn, viewPipeline)
	}
	if viewOn != nil || havePipeline {
		return nil, cmdError(codeInvalidOptions, "InvalidOptions", "%s is a collection, not a view: 'viewOn' and 'pipeline' apply to views only", ns)
	}
	if err := s.engine.CollMod(ns, args); err != nil {
		return nil, err
	}
	if indexMod != nil {
		return s.modifyIndex(ns, *indexMod)
	}
	return bson.D{}, nil
}

// requireAdmin refuses admin-only commands sent to another database.
func requireAdmin(req *request) error {
	if req.DB != "admin" {
		return cmdError(codeUnauthorized, "Unauthorized", "%s may only be run against the admin database.", req.Name)
	}
	return nil
}

// splitNamespace splits "db.coll" at the first dot.
func splitNamespace(cmd, field, full string) (engine.Namespace, error) {
	db, coll, ok := strings.Cut(full, ".")
	if !ok || db == "" {
		return engine.Namespace{}, cmdError(codeInvalidNamespace, "InvalidNamespace", "Invalid %s namespace: %s", field, full)
	}
	if err := validCollectionName(db, coll); err != nil {
		return engine.Namespace{}, err
	}
	return engine.Namespace{DB: db, Coll: coll}, nil
}

func cmdRenameCollection(_ context.Context, s *Server, req *request) (bson.D, error) {
	const cmd = "renameCollection"
	if err := notInTxn(req); err != nil {
		return nil, err
	}
	if err := requireAdmin(req); err != nil {
		return nil, err
	}
	fromName, err := argString(cmd, cmd, req.Body[0].Value)
	if err != nil {
		return nil, err
	}
	from, err := splitNamespace(cmd, "source", fromName)
	if err != nil {
		return nil, err
	}
	var to engine.Namespace
	haveTo, dropTarget := false, false
	for _, e := range req.Body[1:] {
		switch e.Key {
		case "to":
			var name string
			if name, err = argString(cmd, e.Key, e.Value); err == nil {
				to, err = splitNamespace(cmd, "target", name)
				haveTo = true
			}
		case "dropTarget":
			dropTarget, err = argBool(cmd, e.Key, e.Value)
		case "stayTemp":
			_, err = argBool(cmd, e.Key, e.Value)
		default:
			if !isGenericField(e.Key) {
				err = unknownField(cmd, e.Key)
			}
		}
		if err != nil {
			return nil, err
		}
	}
	if !haveTo {
		return nil, missingField(cmd, "to")
	}
	if from == to {
		return nil, cmdError(codeIllegalOperation, "IllegalOperation", "Can't rename a collection to itself")
	}
	if err := s.refuseView(from); err != nil {
		return nil, err
	}
	if err := s.refuseView(to); err != nil {
		return nil, err
	}
	if err := s.engine.RenameCollection(from, to, dropTarget); err != nil {
		return nil, err
	}
	return bson.D{}, nil
}
