package embedded

import (
	"context"
	"slices"
	"strings"

	"github.com/mongotide/mongotide/embedded/internal/engine"
	"github.com/mongotide/mongotide/internal/mql"
	"go.mongodb.org/mongo-driver/v2/bson"
)

// collectionEntry is a collection as listCollections reports it.
func collectionEntry(info engine.CollectionInfo) bson.D {
	options := specialCollectionOptions(info.Options)
	if len(info.Options.Validator) > 0 {
		options = append(options,
			bson.E{Key: "validator", Value: info.Options.Validator},
			bson.E{Key: "validationLevel", Value: orDefault(info.Options.ValidationLevel, "strict")},
			bson.E{Key: "validationAction", Value: orDefault(info.Options.ValidationAction, "error")})
	}
	if info.Options.ChangeStreamPreAndPostImages {
		options = append(options, bson.E{Key: "changeStreamPreAndPostImages", Value: bson.D{{Key: "enabled", Value: true}}})
	}
	if len(info.Options.Collation) > 0 {
		options = append(options, bson.E{Key: "collation", Value: info.Options.Collation})
	}
	return specialCollectionEntry(info, options)
}

// parseCursorOption reads cursor: {batchSize: n} into opts.
func parseCursorOption(cmd string, v any, opts *cursorOptions) error {
	d, err := argDoc(cmd, "cursor", v)
	if err != nil {
		return err
	}
	for _, e := range d {
		if e.Key != "batchSize" {
			return unknownField(cmd+".cursor", e.Key)
		}
		n, err := argNonNegative(cmd, "cursor.batchSize", e.Value)
		if err != nil {
			return err
		}
		opts.BatchSize = int(min(n, 1<<31-1))
	}
	return nil
}

func cmdListCollections(ctx context.Context, s *Server, req *request) (bson.D, error) {
	if err := notInTxn(req); err != nil {
		return nil, err
	}
	const cmd = "listCollections"
	var (
		filter   bson.D
		nameOnly bool
		copts    = cursorOptions{BatchSize: -1}
		err      error
	)
	for _, e := range req.Body[1:] {
		switch e.Key {
		case "filter":
			filter, err = argOptDoc(cmd, e.Key, e.Value)
		case "nameOnly":
			nameOnly, err = argBool(cmd, e.Key, e.Value)
		case "authorizedCollections", "includePendingDrops":
			_, err = argBool(cmd, e.Key, e.Value)
		case "cursor":
			err = parseCursorOption(cmd, e.Value, &copts)
		case "comment":
			copts.Comment = e.Value
		default:
			if !isGenericField(e.Key) {
				err = unknownField(cmd, e.Key)
			}
		}
		if err != nil {
			return nil, err
		}
	}
	var m *mql.Matcher
	if len(filter) > 0 {
		if m, err = mql.NewMatcher(filter); err != nil {
			return nil, err
		}
	}
	views, err := s.listViews(req.DB)
	if err != nil {
		return nil, err
	}
	var entries []bson.D
	for _, info := range s.engine.ListCollections(req.DB) {
		entries = append(entries, collectionEntry(info))
	}
	entries = append(entries, views...)
	slices.SortFunc(entries, func(a, b bson.D) int { return strings.Compare(a[0].Value.(string), b[0].Value.(string)) })
	var out []bson.D
	for _, full := range entries {
		// The filter sees the full entry (it may test options), the
		// reply only what nameOnly asks for.
		if m != nil && !m.Match(full) {
			continue
		}
		if nameOnly {
			full = full[:2]
		}
		out = append(out, full)
	}
	docs, err := toRaw(out)
	if err != nil {
		return nil, err
	}
	return s.newCursor(ctx, req, req.DB+".$cmd.listCollections", newSliceSource(docs), copts)
}

func cmdListDatabases(_ context.Context, s *Server, req *request) (bson.D, error) {
	if err := notInTxn(req); err != nil {
		return nil, err
	}
	const cmd = "listDatabases"
	if err := requireAdmin(req); err != nil {
		return nil, err
	}
	var (
		filter   bson.D
		nameOnly bool
		err      error
	)
	for _, e := range req.Body[1:] {
		switch e.Key {
		case "filter":
			filter, err = argOptDoc(cmd, e.Key, e.Value)
		case "nameOnly":
			nameOnly, err = argBool(cmd, e.Key, e.Value)
		case "authorizedDatabases":
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
	var m *mql.Matcher
	if len(filter) > 0 {
		if m, err = mql.NewMatcher(filter); err != nil {
			return nil, err
		}
	}
	dbs := bson.A{}
	var total int64
	for _, info := range s.engine.ListDatabases() {
		entry := bson.D{
			{Key: "name", Value: info.Name},
			{Key: "sizeOnDisk", Value: info.SizeOnDisk},
			{Key: "empty", Value: info.Objects == 0},
		}
		if m != nil && !m.Match(entry) {
			continue
		}
		total += info.SizeOnDisk
		if nameOnly {
			entry = entry[:1]
		}
		dbs = append(dbs, entry)
	}
	if nameOnly {
		return bson.D{{Key: "databases", Value: dbs}}, nil
	}
	return bson.D{
		{Key: "databases", Value: dbs},
		{Key: "totalSize", Value: total},
		{Key: "totalSizeMb", Value: total >> 20},
	}, nil
}
