package model_test

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/mongotide/mongotide/embedded"
	"github.com/mongotide/mongotide/listen"
	"github.com/mongotide/mongotide/model"
	"github.com/mongotide/mongotide/resume"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

type Novel struct {
	Title     string `bson:"title"`
	Published bool   `bson:"published"`
}

func Example() {
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

	novels := model.New[Novel](client.Database("library").Collection("novels"))
	seen := make(chan string)
	sub, err := novels.ListenForChanges(ctx,
		func(ctx context.Context, id string, ev *listen.ChangeEvent[Novel]) error {
			seen <- fmt.Sprintf("%s %s", ev.OperationType, ev.FullDocument.Title)
			return nil
		},
		listen.WithOperationTypes(listen.Insert),
		listen.WithFilter(bson.D{{Key: "published", Value: true}}),
		listen.WithResumeStore(resume.NewMemoryStore(), "novels-indexer"),
	)
	if err != nil {
		log.Fatal(err)
	}
	defer sub.Unsubscribe()

	for _, n := range []Novel{{"Draft", false}, {"Dune", true}} {
		if _, err := novels.Create(ctx, n); err != nil {
			log.Fatal(err)
		}
	}
	select {
	case s := <-seen:
		fmt.Println(s)
	case <-time.After(10 * time.Second):
		fmt.Println("timeout")
	}
	// Output: insert Dune
}
