package sync

import (
	"fmt"
	"math/rand/v2"
	gosync "sync"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
)

// Two devices keep editing the same documents while both syncers run, each
// device its own fields. Under FieldMerge every concurrent pair merges:
// afterwards each field holds the last value its device wrote, on all three
// databases, and nothing was logged (no field was edited by both).
func TestFieldMergeLiveDisjointFields(t *testing.T) {
	ctx := testCtx(t)
	e := newPairEnv(t, ctx, FieldMerge)
	const docs, edits = 5, 60
	for id := 2; id < 2+docs; id++ {
		if _, err := e.la.InsertOne(ctx, bson.D{{Key: "_id", Value: id}}); err != nil {
			t.Fatal(err)
		}
	}
	for _, s := range []*Syncer{e.a, e.b} {
		if err := s.Start(ctx); err != nil {
			t.Fatal(err)
		}
	}
	for _, s := range []*Syncer{e.a, e.b} {
		if err := s.WaitSynced(ctx); err != nil {
			t.Fatal(err)
		}
	}
	seed := time.Now().UnixNano()
	t.Logf("seed %d", seed)
	// last[device][doc][field] is the last value the device wrote.
	var last [2]map[int]map[string]int
	var wg gosync.WaitGroup
	errs := make(chan error, 2)
	for dev, coll := range []*mongo.Collection{e.la, e.lb} {
		last[dev] = map[int]map[string]int{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(seed), uint64(dev)))
			for i := range edits {
				id := 2 + r.IntN(docs)
				field := fmt.Sprintf("%c%d", "ab"[dev], r.IntN(3))
				if _, err := coll.UpdateOne(ctx, bson.D{{Key: "_id", Value: id}}, bson.D{{Key: "$set", Value: bson.D{{Key: field, Value: i}}}}); err != nil {
					errs <- err
					return
				}
				if last[dev][id] == nil {
					last[dev][id] = map[string]int{}
				}
				last[dev][id][field] = i
				if r.IntN(4) == 0 {
					time.Sleep(time.Duration(r.IntN(3)) * time.Millisecond)
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	for id := 2; id < 2+docs; id++ {
		want := map[string]int32{}
		for dev := range last {
			for f, v := range last[dev][id] {
				want[f] = int32(v)
			}
		}
		for _, c := range []*mongo.Collection{e.la, e.lb, e.rc} {
			eventually(t, fmt.Sprintf("%s doc %d has every device's last edits", c.Database().Name(), id), func() (bool, string) {
				m := findOne(t, ctx, c, id)
				for f, v := range want {
					if m[f] != v {
						return false, fmt.Sprintf("%s = %v, want %d (doc %v)", f, m[f], v, m)
					}
				}
				return len(m) == len(want)+1, fmt.Sprintf("doc %v, want %v", m, want)
			})
		}
	}
	for _, s := range []*Syncer{e.a, e.b} {
		if err := s.WaitSynced(ctx); err != nil {
			t.Fatal(err)
		}
		if list, err := s.Conflicts(ctx, ""); err != nil || len(list) != 0 {
			t.Fatalf("%s logged %+v, %v; want nothing (no field was edited by both)", s.replica, list, err)
		}
	}
	sameContents(t, ctx, e.la, e.rc, docs+1)
	sameContents(t, ctx, e.lb, e.rc, docs+1)
}
