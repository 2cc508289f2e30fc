package embedded_test

import (
	"context"
	"testing"
	"time"

	"github.com/mongotide/mongotide/embedded"
	"github.com/mongotide/mongotide/internal/testenv"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// Updates that write a null (or undefined) value keep every change stream on
// the collection alive and are described in the event; with a data
// directory the write is acknowledged (it used to be applied but answered
// InternalError, and every stream then failed on the entry forever).
func TestNullUpdateKeepsChangeStreamsAlive(t *testing.T) {
	for _, withDir := range []bool{false, true} {
		name := "memory"
		if withDir {
			name = "dir"
		}
		t.Run(name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			cfg := embedded.Config{}
			if withDir {
				cfg.Dir = t.TempDir()
			}
			srv, err := embedded.Start(ctx, cfg)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = srv.Stop(context.Background()) })
			client := testenv.Connect(t, srv.URI(), nil)
			coll := client.Database("d").Collection("c")
			cs, err := coll.Watch(ctx, mongo.Pipeline{})
			if err != nil {
				t.Fatal(err)
			}
			defer cs.Close(context.Background())
			if _, err := coll.InsertOne(ctx, bson.D{{Key: "_id", Value: 1}, {Key: "a", Value: bson.A{1}}}); err != nil {
				t.Fatal(err)
			}
			if !cs.Next(ctx) {
				t.Fatalf("no insert event: %v", cs.Err())
			}
			afterInsert := cs.ResumeToken()

			writes := []struct {
				update bson.D
				want   string // updatedFields of the event, as relaxed extended JSON
			}{
				{bson.D{{Key: "$set", Value: bson.D{{Key: "f", Value: nil}}}}, `{"f":null}`},
				{bson.D{{Key: "$push", Value: bson.D{{Key: "a", Value: nil}}}}, `{"a.1":null}`},
				{bson.D{{Key: "$set", Value: bson.D{{Key: "u", Value: bson.Undefined{}}}}}, `{"u":{"$undefined":true}}`},
				{bson.D{{Key: "$set", Value: bson.D{{Key: "n.x", Value: nil}}}}, `{"n":{"x":null}}`},
			}
			for _, w := range writes {
				if _, err := coll.UpdateOne(ctx, bson.D{{Key: "_id", Value: 1}}, w.update); err != nil {
					t.Fatalf("%v: %v", w.update, err)
				}
			}
			for _, w := range writes {
				if !cs.Next(ctx) {
					t.Fatalf("stream ended before the event of %v: %v", w.update, cs.Err())
				}
				got, err := bson.MarshalExtJSON(cs.Current.Lookup("updateDescription", "updatedFields").Document(), false, false)
				if err != nil {
					t.Fatal(err)
				}
				if string(got) != w.want {
					t.Errorf("%v: updatedFields %s, want %s", w.update, got, w.want)
				}
			}
			// A stream resumed afterwards replays them too.
			cs2, err := coll.Watch(ctx, mongo.Pipeline{}, options.ChangeStream().SetResumeAfter(afterInsert))
			if err != nil {
				t.Fatal(err)
			}
			defer cs2.Close(context.Background())
			for i := range writes {
				if !cs2.Next(ctx) {
					t.Fatalf("replaying stream stopped after %d events: %v", i, cs2.Err())
				}
			}
			var doc bson.M
			if err := coll.FindOne(ctx, bson.D{{Key: "_id", Value: 1}}).Decode(&doc); err != nil {
				t.Fatal(err)
			}
			if a := doc["a"].(bson.A); len(a) != 2 || a[1] != nil {
				t.Errorf("a = %v, want [1 null] (applied exactly once)", a)
			}
		})
	}
}
