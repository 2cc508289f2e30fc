package listen_test

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/mongotide/mongotide/embedded"
	"github.com/mongotide/mongotide/listen"
	"github.com/mongotide/mongotide/resume"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

type Order struct {
	ID     string `bson:"_id"`
	Status string `bson:"status"`
}

// A listener that checkpoints, stops, and resumes where it left off.
func ExampleListen() {
	ctx := context.Background()
	srv, err := embedded.Start(ctx, embedded.Config{})
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Stop(ctx)
	client, err := mongo.Connect(options.Client().ApplyURI(srv.URI()))
	if err != nil {
		log.Fatal(err)
	}
	defer client.Disconnect(ctx)
	orders := client.Database("shop").Collection("orders")
	store := resume.NewMemoryStore()

	seen := make(chan string, 10)
	handler := func(ctx context.Context, id string, ev *listen.ChangeEvent[Order]) error {
		seen <- fmt.Sprintf("%s order %s: %s", ev.OperationType, id, ev.FullDocument.Status)
		return nil
	}
	next := func() string {
		select {
		case s := <-seen:
			return s
		case <-time.After(10 * time.Second):
			return "timeout"
		}
	}

	sub, err := listen.Listen[Order](ctx, orders, handler,
		listen.WithFullDocument(options.UpdateLookup),
		listen.WithResumeStore(store, "order-mailer"))
	if err != nil {
		log.Fatal(err)
	}
	orders.InsertOne(ctx, Order{ID: "A-1", Status: "new"})
	fmt.Println(next())
	sub.Unsubscribe() // saves the checkpoint

	// Written while nobody listens; delivered after the restart.
	orders.UpdateOne(ctx, bson.D{{Key: "_id", Value: "A-1"}}, bson.D{{Key: "$set", Value: bson.D{{Key: "status", Value: "paid"}}}})

	sub, err = listen.Listen[Order](ctx, orders, handler,
		listen.WithFullDocument(options.UpdateLookup),
		listen.WithResumeStore(store, "order-mailer"))
	if err != nil {
		log.Fatal(err)
	}
	defer sub.Unsubscribe()
	fmt.Println(next())
	// Output:
	// insert order A-1: new
	// update order A-1: paid
}
