package embedded_test

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/mongotide/mongotide/embedded"
	"github.com/mongotide/mongotide/internal/testenv"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// A pipeline update whose diff is larger than the new document is logged
// as a replacement, so its change event is a "replace"; it stays one when
// the oplog is read back after a restart on the same Dir (it came back as
// an "update" with an updateDescription: found by TestPropWriteEvents).
func TestPipelineReplaceEventSurvivesRestart(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg := embedded.Config{Addr: l.Addr().String(), Dir: t.TempDir()}
	l.Close()
	srv, err := embedded.Start(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	client := testenv.Connect(t, srv.URI(), nil)
	coll := client.Database("d").Collection("c")
	var ping bson.Raw
	if ping, err = client.Database("d").RunCommand(ctx, bson.D{{Key: "ping", Value: 1}}).Raw(); err != nil {
		t.Fatal(err)
	}
	tt, ti := ping.Lookup("operationTime").Timestamp()
	start := bson.Timestamp{T: tt, I: ti}
	if _, err := coll.InsertOne(ctx, bson.D{{Key: "_id", Value: 1}, {Key: "a", Value: 1}, {Key: "b", Value: 2}, {Key: "c", Value: 3}}); err != nil {
		t.Fatal(err)
	}
	pipeline := bson.A{bson.D{{Key: "$replaceWith", Value: bson.D{{Key: "$literal", Value: bson.D{{Key: "_id", Value: 1}, {Key: "x", Value: 1}}}}}}}
	if _, err := coll.UpdateOne(ctx, bson.D{{Key: "_id", Value: 1}}, pipeline); err != nil {
		t.Fatal(err)
	}
	secondEvent := func(when string) {
		t.Helper()
		cs, err := coll.Watch(ctx, mongo.Pipeline{}, options.ChangeStream().SetStartAtOperationTime(&start))
		if err != nil {
			t.Fatal(err)
		}
		defer cs.Close(context.Background())
		for range 2 {
			if !cs.Next(ctx) {
				t.Fatalf("%s: stream stopped: %v", when, cs.Err())
			}
		}
		if op := cs.Current.Lookup("operationType").StringValue(); op != "replace" {
			t.Errorf("%s: the pipeline update's event is %q, want replace: %v", when, op, cs.Current)
		}
		if _, err := cs.Current.LookupErr("updateDescription"); err == nil {
			t.Errorf("%s: a replace event with an updateDescription: %v", when, cs.Current)
		}
	}
	secondEvent("before the restart")
	if err := srv.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	testenv.StartEmbedded(t, cfg)
	secondEvent("after the restart")
}
