package sync

import (
	"math/rand/v2"
	gosync "sync"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// Random inserts, updates and deletes on both sides at once, on a small set
// of _ids so that many edits are concurrent: after WaitSynced both sides are
// byte-identical. (The full chaos test, with dropped connections and remote
// restarts, is still to come.)
func TestConcurrentRandomWritesConverge(t *testing.T) {
	ctx := testCtx(t)
	local, remote := newDB(t, "local"), newDB(t, "remote")
	lc, rc := local.Collection("c"), remote.Collection("c")
	seed := rand.Uint64()
	t.Logf("seed %d", seed)
	s := startSyncer(t, ctx, Config{Local: local, Remote: remote, Collections: []string{"c"}, Backoff: fastBackoff})
	var wg gosync.WaitGroup
	for side, coll := range map[string]*mongo.Collection{"l": lc, "r": rc} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(seed, uint64(side[0])))
			for i := range 150 {
				id := rng.IntN(12)
				var err error
				switch rng.IntN(3) {
				case 0:
					_, err = coll.ReplaceOne(ctx, bson.D{{Key: "_id", Value: id}},
						bson.D{{Key: "_id", Value: id}, {Key: "by", Value: side}, {Key: "i", Value: i}}, options.Replace().SetUpsert(true))
				case 1:
					_, err = coll.UpdateOne(ctx, bson.D{{Key: "_id", Value: id}},
						bson.D{{Key: "$set", Value: bson.D{{Key: side, Value: i}}}})
				case 2:
					_, err = coll.DeleteOne(ctx, bson.D{{Key: "_id", Value: id}})
				}
				if err != nil {
					t.Errorf("%s write %d: %v", side, i, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if err := s.WaitSynced(ctx); err != nil {
		t.Fatal(err)
	}
	dl, dr := dump(t, ctx, lc), dump(t, ctx, rc)
	if len(dl) != len(dr) {
		t.Fatalf("after WaitSynced: %d local and %d remote documents", len(dl), len(dr))
	}
	for k, v := range dl {
		if dr[k] != v {
			t.Fatalf("after WaitSynced document %s differs:\n local %v\nremote %v", k, bson.Raw(v), bson.Raw(dr[k]))
		}
	}
	t.Logf("%d documents converged", len(dl))
}
