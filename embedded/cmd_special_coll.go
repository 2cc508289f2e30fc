package embedded

import (
	"github.com/mongotide/mongotide/embedded/internal/engine"
	"go.mongodb.org/mongo-driver/v2/bson"
)

// Clustered and time-series collections. The engine keeps every
// collection's documents in _id order, so a clustered collection (on _id,
// the only key MongoDB allows) differs only in what the catalog reports;
// a time-series collection stores its measurements as ordinary documents
// (no buckets) and checks their time field.

// parseClusteredIndex checks create's clusteredIndex as MongoDB does and
// returns it as listCollections reports it.
func parseClusteredIndex(v any) (bson.D, error) {
	const cmd = "create"
	d, err := argDoc(cmd, "clusteredIndex", v)
	if err != nil {
		return nil, err
	}
	var (
		key          bson.D
		name         any
		unique, have bool
	)
	for _, e := range d {
		switch e.Key {
		case "key":
			if key, err = argDoc(cmd, "clusteredIndex.key", e.Value); err != nil {
				return nil, err
			}
		case "unique":
			if unique, err = argBool(cmd, "clusteredIndex.unique", e.Value); err != nil {
				return nil, err
			}
			have = true
		case "name":
			if name, err = argString(cmd, "clusteredIndex.name", e.Value); err != nil {
				return nil, err
			}
		case "v":
			if _, err = argInt64(cmd, "clusteredIndex.v", e.Value); err != nil {
				return nil, err
			}
		default:
			return nil, unknownField(cmd+".clusteredIndex", e.Key)
		}
	}
	if key == nil {
		return nil, missingField(cmd, "clusteredIndex.key")
	}
	if !have {
		return nil, missingField(cmd, "clusteredIndex.unique")
	}
	if len(key) != 1 || key[0].Key != "_id" || !isOne(key[0].Value) {
		return nil, cmdError(codeInvalidOptions, "InvalidOptions", "The clusteredIndex option is only supported for key: {_id: 1}")
	}
	if !unique {
		return nil, cmdError(codeInvalidOptions, "InvalidOptions", "The clusteredIndex option requires unique: true")
	}
	if name == nil {
		name = "_id_"
	}
	return bson.D{{Key: "v", Value: int32(2)}, {Key: "key", Value: bson.D{{Key: "_id", Value: int32(1)}}}, {Key: "name", Value: name}, {Key: "unique", Value: true}}, nil
}

// granularitySpans are the bucketMaxSpanSeconds MongoDB reports for each
// granularity.
var granularitySpans = map[string]int32{"seconds": 3600, "minutes": 86400, "hours": 2592000}

// parseTimeseries checks create's timeseries option as MongoDB does and
// returns it as listCollections reports it.
func parseTimeseries(v any) (bson.D, error) {
	const cmd = "create"
	d, err := argDoc(cmd, "timeseries", v)
	if err != nil {
		return nil, err
	}
	var (
		timeField, metaField, granularity string
		maxSpan, rounding                 int64
		haveMaxSpan, haveRounding         bool
	)
	for _, e := range d {
		path := "timeseries." + e.Key
		switch e.Key {
		case "timeField":
			timeField, err = argString(cmd, path, e.Value)
		case "metaField":
			metaField, err = argString(cmd, path, e.Value)
		case "granularity":
			granularity, err = argString(cmd, path, e.Value)
			if _, ok := granularitySpans[granularity]; err == nil && !ok {
				err = cmdError(codeBadValue, "BadValue", "Enumeration value '%s' for field '%s.%s' is not a valid value.", granularity, cmd, path)
			}
		case "bucketMaxSpanSeconds":
			maxSpan, err = argInt64(cmd, path, e.Value)
			haveMaxSpan = true
		case "bucketRoundingSeconds":
			rounding, err = argInt64(cmd, path, e.Value)
			haveRounding = true
		default:
			err = unknownField(cmd+".timeseries", e.Key)
		}
		if err != nil {
			return nil, err
		}
	}
	if timeField == "" {
		return nil, missingField(cmd, "timeseries.timeField")
	}
	if metaField == "_id" || metaField == timeField && metaField != "" {
		return nil, cmdError(codeInvalidOptions, "InvalidOptions", "The 'metaField' in the timeseries options cannot be '_id' or the same as the 'timeField'")
	}
	out := bson.D{{Key: "timeField", Value: timeField}}
	if metaField != "" {
		out = append(out, bson.E{Key: "metaField", Value: metaField})
	}
	switch {
	case haveMaxSpan || haveRounding:
		if granularity != "" {
			return nil, cmdError(codeInvalidOptions, "InvalidOptions", "Timeseries 'bucketMaxSpanSeconds' and 'bucketRoundingSeconds' cannot be set together with 'granularity'")
		}
		if haveMaxSpan != haveRounding || maxSpan != rounding || maxSpan < 1 || maxSpan > 31536000 {
			return nil, cmdError(codeInvalidOptions, "InvalidOptions", "Timeseries 'bucketMaxSpanSeconds' and 'bucketRoundingSeconds' fields must be present together and must be an equal value between 1 and 31536000")
		}
		out = append(out, bson.E{Key: "bucketRoundingSeconds", Value: int32(rounding)}, bson.E{Key: "bucketMaxSpanSeconds", Value: int32(maxSpan)})
	default:
		if granularity == "" {
			granularity = "seconds"
		}
		out = append(out, bson.E{Key: "granularity", Value: granularity}, bson.E{Key: "bucketMaxSpanSeconds", Value: granularitySpans[granularity]})
	}
	return out, nil
}

// parseCollectionTTL reads create's expireAfterSeconds.
func parseCollectionTTL(v any) (*int64, error) {
	n, err := argInt64("create", "expireAfterSeconds", v)
	if err != nil {
		return nil, err
	}
	if n < 0 {
		return nil, cmdError(codeInvalidOptions, "InvalidOptions", "TTL index 'expireAfterSeconds' option must be within an acceptable range, try a lower number")
	}
	return &n, nil
}

// checkSpecialCollection applies MongoDB's rules across the options.
func checkSpecialCollection(o engine.CollectionOptions) error {
	if o.ExpireAfterSeconds != nil && len(o.ClusteredIndex) == 0 && len(o.Timeseries) == 0 {
		return cmdError(codeInvalidOptions, "InvalidOptions", "'expireAfterSeconds' requires clustering to be enabled")
	}
	if len(o.Timeseries) > 0 && (o.Capped || len(o.ClusteredIndex) > 0) {
		return cmdError(codeInvalidOptions, "InvalidOptions", "Time-series collections cannot be capped or clustered")
	}
	if len(o.ClusteredIndex) > 0 && o.Capped {
		return cmdError(codeInvalidOptions, "InvalidOptions", "Clustered collections cannot be capped")
	}
	return nil
}

// specialCollectionOptions are the listCollections options MongoDB puts
// first: clusteredIndex, timeseries, expireAfterSeconds, capped.
func specialCollectionOptions(o engine.CollectionOptions) bson.D {
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
		// appendNumber, as mongod reports them: int32 when it fits.
		d = append(d, bson.E{Key: "capped", Value: true}, bson.E{Key: "size", Value: int32OrInt64(o.CappedSize)})
		if o.CappedMax > 0 {
			d = append(d, bson.E{Key: "max", Value: int32OrInt64(o.CappedMax)})
		}
	}
	return d
}

// specialCollectionEntry assembles a listCollections entry: a time-series
// collection is type "timeseries" with no UUID in info, and neither it nor
// a clustered collection has an idIndex.
func specialCollectionEntry(info engine.CollectionInfo, options bson.D) bson.D {
	if len(info.Options.Timeseries) > 0 {
		return bson.D{
			{Key: "name", Value: info.Name},
			{Key: "type", Value: "timeseries"},
			{Key: "options", Value: options},
			{Key: "info", Value: bson.D{{Key: "readOnly", Value: false}}},
		}
	}
	d := bson.D{
		{Key: "name", Value: info.Name},
		{Key: "type", Value: "collection"},
		{Key: "options", Value: options},
		{Key: "info", Value: bson.D{{Key: "readOnly", Value: false}, {Key: "uuid", Value: info.UUID}}},
	}
	if len(info.Options.ClusteredIndex) > 0 {
		return d
	}
	return append(d, bson.E{Key: "idIndex", Value: bson.D{
		{Key: "v", Value: int32(2)},
		{Key: "key", Value: bson.D{{Key: "_id", Value: int32(1)}}},
		{Key: "name", Value: "_id_"},
	}})
}

// clusteredIndexEntry is the listIndexes entry of a clustered collection's
// _id index.
func clusteredIndexEntry(ci bson.D) bson.D {
	name := any("_id_")
	for _, e := range ci {
		if e.Key == "name" {
			name = e.Value
		}
	}
	return bson.D{
		{Key: "v", Value: int32(2)},
		{Key: "key", Value: bson.D{{Key: "_id", Value: int32(1)}}},
		{Key: "name", Value: name},
		{Key: "unique", Value: true},
		{Key: "clustered", Value: true},
	}
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
