package changestream

import (
	"strings"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
)

func TestOpenValidation(t *testing.T) {
	good := token{kind: kindEvent}.raw()
	coll := Scope{DB: "db", Coll: "a"}
	cases := []struct {
		name   string
		scope  Scope
		spec   bson.D
		stages []bson.D
		code   int32
		msg    string
	}{
		{"unknown field", coll, bson.D{{Key: "foo", Value: 1}}, nil, CodeUnknownField, "BSON field '$changeStream.foo' is an unknown field."},
		{"fullDocument value", coll, bson.D{{Key: "fullDocument", Value: "nope"}}, nil, CodeBadValue, "Enumeration value 'nope'"},
		{"fullDocument type", coll, bson.D{{Key: "fullDocument", Value: int32(1)}}, nil, CodeTypeMismatch, "is the wrong type 'int', expected type 'string'"},
		{"fullDocumentBeforeChange value", coll, bson.D{{Key: "fullDocumentBeforeChange", Value: "updateLookup"}}, nil, CodeBadValue, ""},
		{"allChangesForCluster type", coll, bson.D{{Key: "allChangesForCluster", Value: "yes"}}, nil, CodeTypeMismatch, ""},
		{"startAtOperationTime type", coll, bson.D{{Key: "startAtOperationTime", Value: int64(5)}}, nil, CodeTypeMismatch, ""},
		{"resumeAfter type", coll, bson.D{{Key: "resumeAfter", Value: "tok"}}, nil, CodeTypeMismatch, ""},
		{"showSystemEvents unsupported", coll, bson.D{{Key: "showSystemEvents", Value: true}}, nil, CodeInvalidOptions, "not supported"},
		{"both resume options", coll, bson.D{{Key: "resumeAfter", Value: good}, {Key: "startAfter", Value: good}}, nil, CodeResumeAndStartAfter, ""},
		{"token and time", coll, bson.D{{Key: "resumeAfter", Value: good}, {Key: "startAtOperationTime", Value: bson.Timestamp{T: 1}}}, nil, CodeMultipleResumeOptions, ""},
		{"missing _data", coll, bson.D{{Key: "resumeAfter", Value: bson.D{{Key: "x", Value: 1}}}}, nil, CodeBadTokenData, "_data of missing or of wrong type"},
		{"_data not string", coll, bson.D{{Key: "resumeAfter", Value: bson.D{{Key: "_data", Value: 1}}}}, nil, CodeBadTokenData, ""},
		{"_data not hex", coll, bson.D{{Key: "resumeAfter", Value: bson.D{{Key: "_data", Value: "XYZ"}}}}, nil, CodeFailedToParse, "not a valid hex string"},
		{"_data empty", coll, bson.D{{Key: "resumeAfter", Value: bson.D{{Key: "_data", Value: ""}}}}, nil, CodeEmptyToken, ""},
		{"_data garbage", coll, bson.D{{Key: "startAfter", Value: bson.D{{Key: "_data", Value: "DEADBEEF"}}}}, nil, CodeKeyStringFormat, "KeyString format error"},
		{"_data truncated", coll, bson.D{{Key: "resumeAfter", Value: bson.D{{Key: "_data", Value: token{kind: kindEvent}.hex()[:20]}}}}, nil, CodeKeyStringFormat, ""},
		{"_data bad kind", coll, bson.D{{Key: "resumeAfter", Value: bson.D{{Key: "_data", Value: strings.Replace(token{kind: kindEvent}.hex(), "10", "77", 1)}}}}, nil, CodeKeyStringFormat, ""},
		{"cluster outside admin", coll, bson.D{{Key: "allChangesForCluster", Value: true}}, nil, CodeInvalidOptions, "may only be opened on the 'admin' database"},
		{"admin without cluster", Scope{DB: "admin"}, bson.D{}, nil, CodeInvalidNamespace, "internal admin database"},
		{"admin collection", Scope{DB: "admin", Coll: "x"}, bson.D{}, nil, CodeInvalidNamespace, ""},
		{"local", Scope{DB: "local", Coll: "oplog.rs"}, bson.D{}, nil, CodeInvalidNamespace, ""},
		{"config", Scope{DB: "config"}, bson.D{}, nil, CodeInvalidNamespace, ""},
		{"system collection", Scope{DB: "db", Coll: "system.views"}, bson.D{}, nil, CodeInvalidNamespace, "internal db.system.views collection"},
		{"group stage", coll, bson.D{}, []bson.D{{{Key: "$group", Value: bson.D{{Key: "_id", Value: nil}}}}}, CodeIllegalOperation, "$group is not permitted in a $changeStream pipeline"},
		{"sort stage", coll, bson.D{}, []bson.D{{{Key: "$sort", Value: bson.D{{Key: "x", Value: 1}}}}}, CodeIllegalOperation, ""},
		{"unknown stage", coll, bson.D{}, []bson.D{{{Key: "$unsupported", Value: "foo"}}}, CodeUnrecognizedStage, "Unrecognized pipeline stage name: '$unsupported'"},
		{"second changeStream", coll, bson.D{}, []bson.D{{{Key: "$changeStream", Value: bson.D{}}}}, CodeNotFirstStage, ""},
		{"split not last", coll, bson.D{}, []bson.D{{{Key: "$changeStreamSplitLargeEvent", Value: bson.D{}}}, {{Key: "$match", Value: bson.D{}}}}, CodeSplitNotLast, "must be the last stage"},
		{"split with spec", coll, bson.D{}, []bson.D{{{Key: "$changeStreamSplitLargeEvent", Value: bson.D{{Key: "x", Value: 1}}}}}, CodeSplitSpecNotEmpty, ""},
		{"fragment token without split", coll, bson.D{{Key: "resumeAfter", Value: token{kind: kindEvent, frag: 2}.raw()}}, nil, CodeChangeStreamFatal, ""},
		{"two-key stage", coll, bson.D{}, []bson.D{{{Key: "$match", Value: bson.D{}}, {Key: "$project", Value: bson.D{}}}}, 40323, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := open(newFakeLog(), c.scope, c.spec, c.stages)
			wantCode(t, err, c.code)
			if !strings.Contains(err.Error(), c.msg) {
				t.Fatalf("error %q does not say %q", err, c.msg)
			}
		})
	}
}

func TestOpenAcceptsValidOptions(t *testing.T) {
	for _, spec := range []bson.D{
		{},
		{{Key: "fullDocument", Value: "default"}},
		{{Key: "fullDocument", Value: "updateLookup"}},
		{{Key: "fullDocument", Value: "whenAvailable"}, {Key: "fullDocumentBeforeChange", Value: "whenAvailable"}},
		{{Key: "fullDocument", Value: "required"}, {Key: "fullDocumentBeforeChange", Value: "required"}},
		{{Key: "fullDocumentBeforeChange", Value: "off"}, {Key: "showExpandedEvents", Value: false}, {Key: "showMigrationEvents", Value: true}},
		{{Key: "startAtOperationTime", Value: bson.Timestamp{T: 1}}},
		{{Key: "startAfter", Value: token{kind: kindInvalidate}.raw()}},
		{{Key: "resumeAfter", Value: bson.D{{Key: "_data", Value: token{kind: kindHighWater}.hex()}, {Key: "_typeBits", Value: bson.Binary{Data: []byte{1}}}}}},
	} {
		if _, err := open(newFakeLog(), Scope{DB: "db", Coll: "a"}, spec, []bson.D{
			{{Key: "$match", Value: bson.D{}}}, {{Key: "$changeStreamSplitLargeEvent", Value: bson.D{}}},
		}); err != nil {
			t.Errorf("spec %v: %v", spec, err)
		}
	}
	if _, err := open(newFakeLog(), Scope{DB: "db", Coll: "system.x"}, bson.D{{Key: "allowToRunOnSystemNS", Value: true}}, nil); err != nil {
		t.Errorf("allowToRunOnSystemNS: %v", err)
	}
}

func TestValidationOrder(t *testing.T) {
	coll := Scope{DB: "db", Coll: "a"}
	cases := []struct {
		name   string
		spec   bson.D
		stages []bson.D
		code   int32
	}{
		// An unknown stage is found before the $changeStream spec is read.
		{"unknown stage before bad spec", bson.D{{Key: "foo", Value: 1}}, []bson.D{{{Key: "$nope", Value: 1}}}, CodeUnrecognizedStage},
		// A known but forbidden stage is found after the spec.
		{"bad spec before forbidden stage", bson.D{{Key: "foo", Value: 1}}, []bson.D{{{Key: "$group", Value: bson.D{}}}}, CodeUnknownField},
		// A stage's own spec is checked before the change-stream allow list.
		{"bad match before forbidden stage", bson.D{}, []bson.D{{{Key: "$group", Value: bson.D{}}}, {{Key: "$match", Value: "x"}}}, 0},
		{"forbidden stage before split position", bson.D{}, []bson.D{{{Key: "$changeStreamSplitLargeEvent", Value: bson.D{}}}, {{Key: "$sort", Value: bson.D{}}}}, CodeIllegalOperation},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := open(newFakeLog(), coll, c.spec, c.stages)
			if c.code == 0 {
				if err == nil || codeOf(err) == CodeIllegalOperation {
					t.Fatalf("got %v, want the $match spec error", err)
				}
				return
			}
			wantCode(t, err, c.code)
		})
	}
}
