package engine

import (
	"fmt"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// Doc renders the collection as a listCollections result document.
func (c CollectionInfo) Doc() bson.D {
	return bson.D{
		{Key: "name", Value: c.Name},
		{Key: "type", Value: "collection"},
		{Key: "options", Value: c.Options.Doc()},
		{Key: "info", Value: bson.D{{Key: "readOnly", Value: false}, {Key: "uuid", Value: c.UUID}}},
		{Key: "idIndex", Value: bson.D{{Key: "v", Value: int32(2)}, {Key: "key", Value: bson.D{{Key: "_id", Value: int32(1)}}}, {Key: "name", Value: "_id_"}}},
	}
}

// Doc renders the options as listCollections reports them.
func (o CollectionOptions) Doc() bson.D {
	d := bson.D{}
	if len(o.ClusteredIndex) > 0 {
		d = append(d, bson.E{Key: "clusteredIndex", Value: o.ClusteredIndex})
	}
	if len(o.Timeseries) > 0 {
		d = append(d, bson.E{Key: "timeseries", Value: o.Timeseries})
	}
	if o.ExpireAfterSeconds != nil {
		d = append(d, bson.E{Key: "expireAfterSeconds", Value: *o.ExpireAfterSeconds})
	}
	if len(o.StorageEngine) > 0 {
		d = append(d, bson.E{Key: "storageEngine", Value: o.StorageEngine})
	}
	if len(o.IndexOptionDefaults) > 0 {
		d = append(d, bson.E{Key: "indexOptionDefaults", Value: o.IndexOptionDefaults})
	}
	if o.Capped {
		d = append(d, bson.E{Key: "capped", Value: true}, bson.E{Key: "size", Value: o.CappedSize})
		if o.CappedMax > 0 {
			d = append(d, bson.E{Key: "max", Value: o.CappedMax})
		}
	}
	if len(o.Validator) > 0 {
		d = append(d, bson.E{Key: "validator", Value: o.Validator})
	}
	if o.ValidationLevel != "" {
		d = append(d, bson.E{Key: "validationLevel", Value: o.ValidationLevel})
	}
	if o.ValidationAction != "" {
		d = append(d, bson.E{Key: "validationAction", Value: o.ValidationAction})
	}
	if len(o.Collation) > 0 {
		d = append(d, bson.E{Key: "collation", Value: o.Collation})
	}
	if o.ChangeStreamPreAndPostImages {
		d = append(d, bson.E{Key: "changeStreamPreAndPostImages", Value: bson.D{{Key: "enabled", Value: true}}})
	}
	return d
}

// Doc renders the index as listIndexes reports it.
func (s IndexSpec) Doc() bson.D {
	d := bson.D{{Key: "v", Value: int32(2)}, {Key: "key", Value: s.Key}, {Key: "name", Value: s.Name}}
	if s.Unique {
		d = append(d, bson.E{Key: "unique", Value: true})
	}
	if s.Sparse {
		d = append(d, bson.E{Key: "sparse", Value: true})
	}
	if len(s.PartialFilterExpression) > 0 {
		d = append(d, bson.E{Key: "partialFilterExpression", Value: s.PartialFilterExpression})
	}
	if s.ExpireAfterSeconds != nil {
		d = append(d, bson.E{Key: "expireAfterSeconds", Value: *s.ExpireAfterSeconds})
	}
	if s.Hidden {
		d = append(d, bson.E{Key: "hidden", Value: true})
	}
	d = append(d, s.Extra...)
	if len(s.Collation) > 0 {
		d = append(d, bson.E{Key: "collation", Value: s.Collation})
	}
	if s.PrepareUnique {
		d = append(d, bson.E{Key: "prepareUnique", Value: true})
	}
	return d
}

// ParseIndexSpec parses one element of createIndexes' "indexes" array. A
// missing name is derived from the key as MongoDB does ("a_1_b_-1").
// Unsupported options fail with code 72 InvalidOptions naming them.
func ParseIndexSpec(d bson.D) (IndexSpec, error) {
	var s IndexSpec
	for _, e := range d {
		switch e.Key {
		case "key":
			k, ok := e.Value.(bson.D)
			if !ok || len(k) == 0 {
				return s, errorf(CodeFailedToParse, "FailedToParse", "index key must be a non-empty document, got %v", e.Value)
			}
			s.Key = k
		case "name":
			n, ok := e.Value.(string)
			if !ok {
				return s, errorf(CodeTypeMismatch, "TypeMismatch", "index name must be a string")
			}
			s.Name = n
		case "unique":
			s.Unique = truthy(e.Value)
		case "sparse":
			s.Sparse = truthy(e.Value)
		case "hidden":
			s.Hidden = truthy(e.Value)
		case "v", "background", "ns":
		case "weights", "default_language", "language_override", "textIndexVersion",
			"wildcardProjection", "2dsphereIndexVersion", "bits", "min", "max":
			s.Extra = append(s.Extra, e)
		case "partialFilterExpression":
			p, ok := e.Value.(bson.D)
			if !ok {
				return s, errorf(CodeTypeMismatch, "TypeMismatch", "partialFilterExpression must be a document")
			}
			s.PartialFilterExpression = p
		case "expireAfterSeconds":
			n, ok := toInt64(e.Value)
			if !ok {
				return s, errorf(CodeTypeMismatch, "TypeMismatch", "expireAfterSeconds must be a number")
			}
			v := int32(n)
			s.ExpireAfterSeconds = &v
		case "collation":
			s.Collation, _ = e.Value.(bson.D)
		case "prepareUnique":
			s.PrepareUnique = truthy(e.Value)
		default:
			return s, errorf(CodeInvalidOptions, "InvalidOptions", "index option %q is not supported by the embedded server", e.Key)
		}
	}
	if len(s.Key) == 0 {
		return s, errorf(CodeFailedToParse, "FailedToParse", "the index specification must contain a 'key' field")
	}
	for _, k := range s.Key {
		switch v := k.Value.(type) {
		case int32, int64, float64:
			if n, _ := toInt64(v); n == 0 {
				return s, errorf(CodeCannotCreateIndex, "CannotCreateIndex", "values in the index key pattern can't be all 0: %v", s.Key)
			}
		case string:
			if v != "text" {
				return s, errorf(CodeCannotCreateIndex, "CannotCreateIndex", "index type %q of field %q is not supported by the embedded server", v, k.Key)
			}
		default:
			return s, errorf(CodeCannotCreateIndex, "CannotCreateIndex", "bad index key pattern %v", s.Key)
		}
	}
	if s.Name == "" {
		s.Name = DefaultIndexName(s.Key)
	}
	return s, nil
}

// DefaultIndexName is MongoDB's generated index name: "a_1_b_-1".
func DefaultIndexName(key bson.D) string {
	name := ""
	for i, k := range key {
		if i > 0 {
			name += "_"
		}
		name += k.Key + "_" + fmt.Sprint(k.Value)
	}
	return name
}

func truthy(v any) bool {
	switch x := v.(type) {
	case bool:
		return x
	case nil:
		return false
	}
	if n, ok := toInt64(v); ok {
		return n != 0
	}
	return true
}

func toInt64(v any) (int64, bool) {
	switch x := v.(type) {
	case int32:
		return int64(x), true
	case int64:
		return x, true
	case float64:
		return int64(x), true
	}
	return 0, false
}
