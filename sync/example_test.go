package sync_test

import (
	"context"
	"fmt"
	"log"

	"github.com/mongotide/mongotide/embedded"
	mtsync "github.com/mongotide/mongotide/sync"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// A local database kept in step with a remote one: a document written on
// either side reaches the other. Both servers are embedded here; in an app
// the remote is Atlas and the local one embedded (with a Dir) or mongod.
func ExampleNew() {
	ctx := context.Background()
	connect := func() (*embedded.Server, *mongo.Client) {
		srv, err := embedded.Start(ctx, embedded.Config{})
		if err != nil {
			log.Fatal(err)
		}
		client, err := mongo.Connect(options.Client().ApplyURI(srv.URI()))
		if err != nil {
			log.Fatal(err)
		}
		return srv, client
	}
	localSrv, local := connect()
	defer localSrv.Stop(ctx)
	defer local.Disconnect(ctx)
	remoteSrv, remote := connect()
	defer remoteSrv.Stop(ctx)
	defer remote.Disconnect(ctx)

	s, err := mtsync.New(mtsync.Config{
		Local:       local.Database("app"),
		Remote:      remote.Database("app"),
		Collections: []string{"notes"},
	})
	if err != nil {
		log.Fatal(err)
	}
	if err := s.Start(ctx); err != nil {
		log.Fatal(err)
	}
	defer s.Stop(ctx)

	notes := func(c *mongo.Client) *mongo.Collection { return c.Database("app").Collection("notes") }
	notes(local).InsertOne(ctx, bson.D{{Key: "_id", Value: "n1"}, {Key: "text", Value: "written offline-first"}})
	notes(remote).InsertOne(ctx, bson.D{{Key: "_id", Value: "n2"}, {Key: "text", Value: "written on the server"}})
	if err := s.WaitSynced(ctx); err != nil { // both writes are handled
		log.Fatal(err)
	}
	for _, side := range []*mongo.Client{local, remote} {
		n, _ := notes(side).CountDocuments(ctx, bson.D{})
		fmt.Println(n, "notes")
	}
	// Output:
	// 2 notes
	// 2 notes
}
