package embedded_test

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/mongotide/mongotide/embedded"
	"github.com/mongotide/mongotide/internal/testenv"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// TestConcurrentClientsMixedWork runs clients that write with retryable
// writes, read through multi-batch cursors and commit transactions at the
// same time (run it with -race), then checks every write landed once.
func TestConcurrentClientsMixedWork(t *testing.T) {
	srv := testenv.StartEmbedded(t, embedded.Config{})
	ctx := context.Background()
	const clients, perClient = 8, 25
	setup := testenv.Connect(t, srv.URI(), nil)
	if err := setup.Database("conc").CreateCollection(ctx, "c"); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, clients)
	for i := 0; i < clients; i++ {
		c := testenv.Connect(t, srv.URI(), options.Client().SetMaxPoolSize(4))
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- clientWork(ctx, c, i, perClient)
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	// Each client inserted perClient documents directly and perClient/5
	// pairs in transactions.
	want := int64(clients * (perClient + 2*(perClient/5)))
	if n := countDocs(t, setup.Database("conc").Collection("c"), bson.D{}); n != want {
		t.Fatalf("%d documents, want %d", n, want)
	}
}

func clientWork(ctx context.Context, c *mongo.Client, id, n int) error {
	coll := c.Database("conc").Collection("c")
	for j := 0; j < n; j++ {
		if _, err := coll.InsertOne(ctx, bson.D{{Key: "_id", Value: fmt.Sprintf("%d-%d", id, j)}, {Key: "client", Value: id}}); err != nil {
			return fmt.Errorf("client %d insert %d: %w", id, j, err)
		}
		if j%5 != 4 {
			continue
		}
		cur, err := coll.Find(ctx, bson.D{{Key: "client", Value: id}}, options.Find().SetBatchSize(2))
		if err != nil {
			return err
		}
		var got []bson.Raw
		if err := cur.All(ctx, &got); err != nil {
			return fmt.Errorf("client %d find: %w", id, err)
		}
		sess, err := c.StartSession()
		if err != nil {
			return err
		}
		_, err = sess.WithTransaction(ctx, func(sc context.Context) (any, error) {
			for k := 0; k < 2; k++ {
				if _, err := coll.InsertOne(sc, bson.D{{Key: "_id", Value: fmt.Sprintf("tx-%d-%d-%d", id, j, k)}, {Key: "client", Value: -1}}); err != nil {
					return nil, err
				}
			}
			return nil, nil
		})
		sess.EndSession(ctx)
		if err != nil {
			return fmt.Errorf("client %d transaction: %w", id, err)
		}
	}
	return nil
}
