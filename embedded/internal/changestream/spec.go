package changestream

import (
	"go.mongodb.org/mongo-driver/v2/bson"
)

// fullDocumentMode is the $changeStream fullDocument option.
type fullDocumentMode uint8

const (
	fullDocDefault fullDocumentMode = iota
	fullDocUpdateLookup
	fullDocWhenAvailable
	fullDocRequired
)

// preImageMode is the $changeStream fullDocumentBeforeChange option.
type preImageMode uint8

const (
	preImageOff preImageMode = iota
	preImageWhenAvailable
	preImageRequired
)

// spec is a parsed $changeStream stage document.
type spec struct {
	resumeAfter          *token
	startAfter           *token
	startAtOperationTime *bson.Timestamp
	fullDocument         fullDocumentMode
	preImage             preImageMode
	allChangesForCluster bool
	allowToRunOnConfigDB bool
	allowToRunOnSystemNS bool
	// showExpandedEvents adds the catalog events (create, createIndexes,
	// dropIndexes, modify), collectionUUID, operationDescription and
	// disambiguatedPaths (MongoDB 6.0+).
	showExpandedEvents bool

	// The _data strings of resumeAfter / startAfter, checked for type at
	// parse time and decoded by resolveTokens (MongoDB decodes them after
	// the namespace checks).
	resumeAfterData, startAfterData *string
}

// parseSpec validates the $changeStream document the way MongoDB's IDL
// parser and assertIsLegalSpecification do, in the same order, so that the
// first error reported is the one MongoDB would report.
func parseSpec(doc bson.D) (spec, error) {
	var s spec
	var resumeAfter, startAfter any
	seen := make(map[string]bool, len(doc))
	for _, e := range doc {
		if seen[e.Key] {
			return s, location(40413, "BSON field '$changeStream.%s' is a duplicate field", e.Key)
		}
		seen[e.Key] = true
		switch e.Key {
		case "resumeAfter":
			if _, ok := asDoc(e.Value); !ok {
				return s, wrongType(e.Key, e.Value, "object")
			}
			resumeAfter = e.Value
		case "startAfter":
			if _, ok := asDoc(e.Value); !ok {
				return s, wrongType(e.Key, e.Value, "object")
			}
			startAfter = e.Value
		case "startAtOperationTime":
			ts, ok := e.Value.(bson.Timestamp)
			if !ok {
				return s, wrongType(e.Key, e.Value, "timestamp")
			}
			s.startAtOperationTime = &ts
		case "fullDocument":
			str, ok := e.Value.(string)
			if !ok {
				return s, wrongType(e.Key, e.Value, "string")
			}
			switch str {
			case "default":
				s.fullDocument = fullDocDefault
			case "updateLookup":
				s.fullDocument = fullDocUpdateLookup
			case "whenAvailable":
				s.fullDocument = fullDocWhenAvailable
			case "required":
				s.fullDocument = fullDocRequired
			default:
				return s, badEnum(e.Key, str)
			}
		case "fullDocumentBeforeChange":
			str, ok := e.Value.(string)
			if !ok {
				return s, wrongType(e.Key, e.Value, "string")
			}
			switch str {
			case "off":
				s.preImage = preImageOff
			case "whenAvailable":
				s.preImage = preImageWhenAvailable
			case "required":
				s.preImage = preImageRequired
			default:
				return s, badEnum(e.Key, str)
			}
		case "allChangesForCluster", "allowToRunOnConfigDB", "allowToRunOnSystemNS", "showMigrationEvents",
			"showExpandedEvents", "showSystemEvents", "showRawUpdateDescription":
			b, ok := e.Value.(bool)
			if !ok {
				return s, wrongType(e.Key, e.Value, "bool")
			}
			switch e.Key {
			case "allChangesForCluster":
				s.allChangesForCluster = b
			case "allowToRunOnConfigDB":
				s.allowToRunOnConfigDB = b
			case "allowToRunOnSystemNS":
				s.allowToRunOnSystemNS = b
			case "showMigrationEvents":
				// A replica set has no chunk migrations: nothing to show.
			case "showExpandedEvents":
				s.showExpandedEvents = b
			default:
				if b {
					return s, errorf(CodeInvalidOptions, "InvalidOptions",
						"$changeStream option '%s: true' is not supported by the mongotide embedded server", e.Key)
				}
			}
		default:
			return s, location(CodeUnknownField, "BSON field '$changeStream.%s' is an unknown field.", e.Key)
		}
	}

	if resumeAfter != nil {
		d, err := tokenData("resumeAfter", resumeAfter)
		if err != nil {
			return s, err
		}
		s.resumeAfterData = &d
	}
	if startAfter != nil {
		d, err := tokenData("startAfter", startAfter)
		if err != nil {
			return s, err
		}
		s.startAfterData = &d
	}
	return s, nil
}

// resolveTokens decodes the resume tokens and checks how the start options
// combine, after the namespace checks as MongoDB does.
func (s *spec) resolveTokens() error {
	if s.resumeAfterData != nil && s.startAfterData != nil {
		return location(CodeResumeAndStartAfter,
			"Do not specify both 'resumeAfter' and 'startAfter' in a $changeStream stage")
	}
	if s.resumeAfterData != nil {
		t, err := decodeTokenData(*s.resumeAfterData)
		if err != nil {
			return err
		}
		s.resumeAfter = &t
	}
	if s.startAfterData != nil {
		t, err := decodeTokenData(*s.startAfterData)
		if err != nil {
			return err
		}
		s.startAfter = &t
	}
	if s.startAtOperationTime != nil && (s.resumeAfter != nil || s.startAfter != nil) {
		return location(CodeMultipleResumeOptions,
			"Only one type of resume option is allowed, but multiple were found")
	}
	if s.resumeAfter != nil && s.resumeAfter.kind == kindInvalidate {
		return errorf(CodeInvalidResumeToken, "InvalidResumeToken",
			"Attempting to resume a change stream using 'resumeAfter' is not allowed from an invalidate notification")
	}
	return nil
}

func asDoc(v any) (bson.D, bool) {
	switch d := v.(type) {
	case bson.D:
		return d, true
	case bson.Raw:
		var out bson.D
		if err := bson.Unmarshal(d, &out); err != nil {
			return nil, false
		}
		return out, true
	}
	return nil, false
}

func wrongType(field string, v any, want string) error {
	return errorf(CodeTypeMismatch, "TypeMismatch",
		"BSON field '$changeStream.%s' is the wrong type '%s', expected type '%s'", field, typeName(v), want)
}

func badEnum(field, value string) error {
	return errorf(CodeBadValue, "BadValue",
		"Enumeration value '%s' for field '$changeStream.%s' is not a valid value.", value, field)
}

// typeName returns MongoDB's alias for the BSON type of a decoded value.
func typeName(v any) string {
	switch v.(type) {
	case float64:
		return "double"
	case string:
		return "string"
	case bson.D, bson.M, bson.Raw:
		return "object"
	case bson.A:
		return "array"
	case bson.Binary:
		return "binData"
	case bson.Undefined:
		return "undefined"
	case bson.ObjectID:
		return "objectId"
	case bool:
		return "bool"
	case bson.DateTime:
		return "date"
	case nil, bson.Null:
		return "null"
	case bson.Regex:
		return "regex"
	case bson.DBPointer:
		return "dbPointer"
	case bson.JavaScript:
		return "javascript"
	case bson.Symbol:
		return "symbol"
	case bson.CodeWithScope:
		return "javascriptWithScope"
	case int32:
		return "int"
	case bson.Timestamp:
		return "timestamp"
	case int64:
		return "long"
	case bson.Decimal128:
		return "decimal"
	case bson.MinKey:
		return "minKey"
	case bson.MaxKey:
		return "maxKey"
	}
	return "unknown"
}

// docString renders a document for an error message.
func docString(v any) string {
	b, err := bson.MarshalExtJSON(v, false, false)
	if err != nil {
		return "<invalid document>"
	}
	return string(b)
}
