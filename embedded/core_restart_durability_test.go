package embedded_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	gosync "sync"
	"testing"
	"time"

	"github.com/mongotide/mongotide/embedded"
	"github.com/mongotide/mongotide/internal/testenv"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// Every write acknowledged before Stop survives a restart on the same data
// directory, transactions included, while writers keep going through the
// stop and the restart on the same address.
func TestAcknowledgedWritesSurviveRestart(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
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
	client := testenv.Connect(t, srv.URI(), options.Client().SetServerSelectionTimeout(500*time.Millisecond))
	coll := client.Database("d").Collection("c")
	var mu gosync.Mutex
	acked := map[string]bool{} // _id: written (true) by a transaction or a plain write
	stop := make(chan struct{})
	var wg gosync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				id := fmt.Sprintf("w%d-%d", w, i)
				var err error
				if i%2 == 0 {
					_, err = coll.InsertOne(ctx, bson.D{{Key: "_id", Value: id}})
				} else {
					var sess *mongo.Session
					sess, err = client.StartSession()
					if err == nil {
						_, err = sess.WithTransaction(ctx, func(tctx context.Context) (any, error) {
							if _, err := coll.InsertOne(tctx, bson.D{{Key: "_id", Value: id}}); err != nil {
								return nil, err
							}
							_, err := coll.UpdateOne(tctx, bson.D{{Key: "_id", Value: id}}, bson.D{{Key: "$set", Value: bson.D{{Key: "t", Value: true}}}})
							return nil, err
						})
						sess.EndSession(context.Background())
					}
				}
				if err == nil {
					mu.Lock()
					acked[id] = true
					mu.Unlock()
				}
			}
		}()
	}
	for r := range 3 {
		testenv.Eventually(t, 60*time.Second, "acknowledged writes", func() bool { mu.Lock(); defer mu.Unlock(); return len(acked) > 50*(r+1) })
		if err := srv.Stop(ctx); err != nil {
			t.Fatal(err)
		}
		if srv, err = embedded.Start(ctx, cfg); err != nil {
			t.Fatalf("restart on %s: %v", cfg.Addr, err)
		}
	}
	close(stop)
	wg.Wait()
	defer srv.Stop(context.Background())
	cur, err := coll.Find(ctx, bson.D{})
	if err != nil {
		t.Fatal(err)
	}
	var docs []bson.M
	if err := cur.All(ctx, &docs); err != nil {
		t.Fatal(err)
	}
	have := map[string]bson.M{}
	for _, d := range docs {
		have[d["_id"].(string)] = d
	}
	mu.Lock()
	defer mu.Unlock()
	lost := 0
	for id := range acked {
		d, ok := have[id]
		if !ok || (id[len(id)-1]-'0')%2 == 1 && d["t"] != true {
			lost++
			if lost < 10 {
				t.Errorf("acknowledged write %s lost across a restart (have %v)", id, d)
			}
		}
	}
	t.Logf("%d acknowledged writes, %d lost, %d documents", len(acked), lost, len(have))
}

// A commitTransaction retried after a restart, for a transaction the
// server committed before it (the reply was lost with the connection), is
// acknowledged again, as MongoDB's persisted transaction table makes it.
// Answering NoSuchTransaction made the driver run the whole transaction a
// second time on top of its own committed writes.
func TestCommitRetriedAcrossRestart(t *testing.T) {
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
	defer func() { _ = srv.Stop(context.Background()) }()
	client := testenv.Connect(t, srv.URI(), options.Client().SetServerSelectionTimeout(5*time.Second))
	coll := client.Database("d").Collection("c")
	sess, err := client.StartSession()
	if err != nil {
		t.Fatal(err)
	}
	defer sess.EndSession(context.Background())
	if err := sess.StartTransaction(); err != nil {
		t.Fatal(err)
	}
	sctx := mongo.NewSessionContext(ctx, sess)
	if _, err := coll.InsertOne(sctx, bson.D{{Key: "_id", Value: 1}}); err != nil {
		t.Fatal(err)
	}
	if err := sess.CommitTransaction(ctx); err != nil {
		t.Fatal(err)
	}
	if err := srv.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if srv, err = embedded.Start(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	if err := sess.CommitTransaction(ctx); err != nil {
		t.Fatalf("commit retried after the restart: %v", err)
	}
	// An unknown transaction still is one.
	raw := client.Database("admin").RunCommand(ctx, bson.D{{Key: "commitTransaction", Value: 1},
		{Key: "lsid", Value: bson.D{{Key: "id", Value: bson.Binary{Subtype: 4, Data: make([]byte, 16)}}}},
		{Key: "txnNumber", Value: int64(7)}, {Key: "autocommit", Value: false}})
	var ce mongo.CommandError
	if err := raw.Err(); !errors.As(err, &ce) || ce.Code != 251 {
		t.Fatalf("commit of an unknown transaction: %v, want NoSuchTransaction", err)
	}
}
