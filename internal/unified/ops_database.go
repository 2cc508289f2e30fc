package unified

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"go.mongodb.org/mongo-driver/v2/mongo/readpref"
)

func (st *testState) databaseOp(ctx context.Context, name string, db *mongo.Database, args bson.D) (opResult, error) {
	switch name {
	case "aggregate":
		pipeline, opts, err := aggregateArgs(args)
		if err != nil {
			return opResult{}, err
		}
		cur, err := db.Aggregate(ctx, pipeline, opts)
		return iterate(ctx, cur, err)
	case "createCollection":
		// The unified format does not distinguish views from collections;
		// the create command is built from the arguments as given.
		coll := str(args, "collection")
		if coll == "" {
			return opResult{}, badArg("createCollection: missing collection")
		}
		cmd := bson.D{{Key: "create", Value: coll}}
		for _, e := range args {
			switch e.Key {
			case "collection":
			case "viewOn", "pipeline", "capped", "size", "max", "validator", "validationLevel", "validationAction",
				"changeStreamPreAndPostImages", "collation", "expireAfterSeconds", "timeseries", "clusteredIndex":
				cmd = append(cmd, e)
			default:
				return opResult{}, unknownArg(name, e.Key)
			}
		}
		return opResult{}, db.RunCommand(ctx, cmd).Err()
	case "dropCollection":
		coll := ""
		for _, e := range args {
			switch e.Key {
			case "collection":
				coll, _ = e.Value.(string)
			default:
				return opResult{}, unknownArg(name, e.Key)
			}
		}
		return opResult{}, db.Collection(coll).Drop(ctx)
	case "listCollections":
		filter := bson.D{}
		for _, e := range args {
			switch e.Key {
			case "filter":
				filter = asDoc(e.Value)
			default:
				return opResult{}, unknownArg(name, e.Key)
			}
		}
		cur, err := db.ListCollections(ctx, filter)
		return iterate(ctx, cur, err)
	case "runCommand":
		var cmd bson.D
		opts := options.RunCmd()
		for _, e := range args {
			switch e.Key {
			case "command":
				cmd = asDoc(e.Value)
			case "commandName":
			case "readPreference":
				d := asDoc(e.Value)
				mode, err := readpref.ModeFromString(str(d, "mode"))
				if err != nil {
					return opResult{}, badArg("runCommand readPreference: %w", err)
				}
				rp, err := readpref.New(mode)
				if err != nil {
					return opResult{}, badArg("runCommand readPreference: %w", err)
				}
				opts.SetReadPreference(rp)
			default:
				return opResult{}, unknownArg(name, e.Key)
			}
		}
		if len(cmd) == 0 {
			return opResult{}, badArg("runCommand: missing command")
		}
		raw, err := db.RunCommand(ctx, cmd, opts).Raw()
		if err != nil {
			return opResult{}, err
		}
		return opResult{val: rawToD(raw)}, nil
	case "createChangeStream":
		pipeline, opts, err := changeStreamArgs(args)
		if err != nil {
			return opResult{}, err
		}
		cs, err := db.Watch(ctx, pipeline, opts)
		if err != nil {
			return opResult{}, err
		}
		return opResult{entity: cs}, nil
	}
	return opResult{}, skipf("unsupported operation %s", name)
}

func (st *testState) clientOp(ctx context.Context, name string, c *clientEntity, args bson.D) (opResult, error) {
	switch name {
	case "createChangeStream":
		pipeline, opts, err := changeStreamArgs(args)
		if err != nil {
			return opResult{}, err
		}
		cs, err := c.client.Watch(ctx, pipeline, opts)
		if err != nil {
			return opResult{}, err
		}
		return opResult{entity: cs}, nil
	case "listDatabaseNames":
		if len(args) > 0 {
			return opResult{}, unknownArg(name, args[0].Key)
		}
		names, err := c.client.ListDatabaseNames(ctx, bson.D{})
		vals := bson.A{}
		for _, n := range names {
			vals = append(vals, n)
		}
		return opResult{val: vals}, err
	}
	return opResult{}, skipf("unsupported operation %s", name)
}

func changeStreamArgs(args bson.D) (bson.A, *options.ChangeStreamOptionsBuilder, error) {
	pipeline := bson.A{}
	opts := options.ChangeStream()
	for _, e := range args {
		switch e.Key {
		case "pipeline":
			pipeline = asArray(e.Value)
		case "batchSize":
			n, _ := toInt64(e.Value)
			opts.SetBatchSize(int32(n))
		case "comment":
			opts.SetComment(e.Value)
		case "fullDocument":
			s, _ := e.Value.(string)
			opts.SetFullDocument(options.FullDocument(s))
		case "fullDocumentBeforeChange":
			s, _ := e.Value.(string)
			opts.SetFullDocumentBeforeChange(options.FullDocument(s))
		case "resumeAfter":
			opts.SetResumeAfter(e.Value)
		case "startAfter":
			opts.SetStartAfter(e.Value)
		case "startAtOperationTime":
			ts, ok := e.Value.(bson.Timestamp)
			if !ok {
				return nil, nil, badArg("startAtOperationTime: want a timestamp, got %s", jsonString(e.Value))
			}
			opts.SetStartAtOperationTime(&ts)
		case "maxAwaitTimeMS":
			n, _ := toInt64(e.Value)
			opts.SetMaxAwaitTime(time.Duration(n) * time.Millisecond)
		case "showExpandedEvents":
			b, _ := e.Value.(bool)
			opts.SetShowExpandedEvents(b)
		default:
			return nil, nil, unknownArg("createChangeStream", e.Key)
		}
	}
	return pipeline, opts, nil
}

func (st *testState) changeStreamOp(ctx context.Context, name string, cs *mongo.ChangeStream, args bson.D) (opResult, error) {
	if len(args) > 0 {
		return opResult{}, unknownArg(name, args[0].Key)
	}
	switch name {
	case "iterateUntilDocumentOrError":
		ictx, cancel := context.WithTimeout(ctx, st.r.cfg.IterateTimeout)
		defer cancel()
		if cs.Next(ictx) {
			return opResult{val: rawToD(cs.Current)}, nil
		}
		err := cs.Err()
		if err == nil {
			return opResult{}, badArg("change stream closed without a document or an error")
		}
		if ictx.Err() != nil && ctx.Err() == nil {
			// Our own deadline, not a server answer: never a match for expectError.
			return opResult{}, badArg("no change-stream event or error within %s: %v", st.r.cfg.IterateTimeout, err)
		}
		return opResult{}, err
	case "iterateOnce":
		if cs.TryNext(ctx) {
			return opResult{val: rawToD(cs.Current)}, nil
		}
		return opResult{}, cs.Err()
	case "close":
		return opResult{}, cs.Close(ctx)
	}
	return opResult{}, skipf("unsupported operation %s", name)
}

// runSpecial executes a testRunner operation.
func (st *testState) runSpecial(ctx context.Context, name string, args bson.D) error {
	switch name {
	case "failPoint":
		c, err := st.ents.client(str(args, "client"))
		if err != nil {
			return &runnerError{err: err}
		}
		fp := subdoc(args, "failPoint")
		fpName := str(fp, "configureFailPoint")
		if fpName == "" {
			return badArg("failPoint: missing failPoint.configureFailPoint")
		}
		if err := c.client.Database("admin").RunCommand(ctx, fp).Err(); err != nil {
			return &runnerError{err: fmt.Errorf("configureFailPoint %s: %w", fpName, err)}
		}
		st.failpoints = append(st.failpoints, failpoint{client: c.client, name: fpName})
		return nil
	case "assertCollectionExists", "assertCollectionNotExists":
		dbName, collName := str(args, "databaseName"), str(args, "collectionName")
		names, err := st.r.internal.Database(dbName).ListCollectionNames(ctx, bson.D{{Key: "name", Value: collName}})
		if err != nil {
			return &runnerError{err: fmt.Errorf("%s: listCollections: %w", name, err)}
		}
		exists := len(names) > 0
		if exists != (name == "assertCollectionExists") {
			return &runnerError{err: fmt.Errorf("%s: %s.%s exists=%v", name, dbName, collName, exists)}
		}
		return nil
	}
	return skipf("unsupported operation testRunner.%s", name)
}

// disableFailPoints turns off every fail point the test configured, through
// the client that set it, falling back to the internal client.
func (st *testState) disableFailPoints(ctx context.Context) error {
	var errs []error
	for _, fp := range st.failpoints {
		off := bson.D{{Key: "configureFailPoint", Value: fp.name}, {Key: "mode", Value: "off"}}
		if err := fp.client.Database("admin").RunCommand(ctx, off).Err(); err != nil {
			if err2 := st.r.internal.Database("admin").RunCommand(ctx, off).Err(); err2 != nil {
				errs = append(errs, fmt.Errorf("disable fail point %s: %w", fp.name, err2))
			}
		}
	}
	st.failpoints = nil
	return errors.Join(errs...)
}

func (st *testState) stopRecording() {
	st.ents.mu.Lock()
	defer st.ents.mu.Unlock()
	for _, v := range st.ents.m {
		if c, ok := v.(*clientEntity); ok {
			c.stopRecording()
		}
	}
}
