package embeddedtest_test

import (
	"context"
	"fmt"

	"github.com/mongotide/mongotide/embedded/embeddedtest"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
)

// An application's code under test: CRUD, a change stream and a
// transaction, against an embedded server, or, with MONGODB_TEST_URI set,
// unchanged against that deployment. (In a test, embeddedtest.Database(t)
// replaces Open and the deferred drop.)
func Example() {
	ctx := context.Background()
	env := embeddedtest.New(embeddedtest.Config{})
	defer env.Close(ctx)
	db, drop, err := env.Open(ctx, "Example")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer drop(ctx)
	users := db.Collection("users")

	// Watch before writing: the stream sees every later change.
	stream, err := users.Watch(ctx, mongo.Pipeline{})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer stream.Close(ctx)

	if _, err := users.InsertOne(ctx, bson.D{{Key: "_id", Value: "ada"}, {Key: "credits", Value: 10}}); err != nil {
		fmt.Println(err)
		return
	}

	// Move credits in a transaction.
	sess, err := db.Client().StartSession()
	if err != nil {
		fmt.Println(err)
		return
	}
	defer sess.EndSession(ctx)
	_, err = sess.WithTransaction(ctx, func(ctx context.Context) (any, error) {
		if _, err := users.UpdateByID(ctx, "ada", bson.D{{Key: "$inc", Value: bson.D{{Key: "credits", Value: -3}}}}); err != nil {
			return nil, err
		}
		return users.InsertOne(ctx, bson.D{{Key: "_id", Value: "grace"}, {Key: "credits", Value: 3}})
	})
	if err != nil {
		fmt.Println(err)
		return
	}

	for i := 0; i < 3 && stream.Next(ctx); i++ {
		var ev struct {
			OperationType string `bson:"operationType"`
			DocumentKey   struct {
				ID string `bson:"_id"`
			} `bson:"documentKey"`
		}
		if err := stream.Decode(&ev); err != nil {
			fmt.Println(err)
			return
		}
		fmt.Println(ev.OperationType, ev.DocumentKey.ID)
	}
	var ada struct{ Credits int }
	if err := users.FindOne(ctx, bson.D{{Key: "_id", Value: "ada"}}).Decode(&ada); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("ada has", ada.Credits)
	// Output:
	// insert ada
	// update ada
	// insert grace
	// ada has 7
}
