package embedded_test

import (
	"context"
	"fmt"

	"github.com/mongotide/mongotide/embedded"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// Start a server, talk to it with the official driver, stop it.
func ExampleStart() {
	ctx := context.Background()
	srv, err := embedded.Start(ctx, embedded.Config{}) // 127.0.0.1, free port, replica set rs0
	if err != nil {
		panic(err)
	}
	defer srv.Stop(ctx)

	client, err := mongo.Connect(options.Client().ApplyURI(srv.URI()))
	if err != nil {
		panic(err)
	}
	defer client.Disconnect(ctx)

	coll := client.Database("app").Collection("books")
	if _, err := coll.InsertOne(ctx, bson.D{{Key: "title", Value: "Dune"}}); err != nil {
		panic(err)
	}
	var book struct{ Title string }
	if err := coll.FindOne(ctx, bson.D{}).Decode(&book); err != nil {
		panic(err)
	}
	fmt.Println(book.Title)
	// Output: Dune
}
