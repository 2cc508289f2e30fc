package bench

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// InsertWithStream inserts n documents one InsertOne at a time through
// writer while a change stream opened by watcher consumes every event, and
// returns inserts per second (the clock stops when the last insert is
// acknowledged; it fails if the stream did not deliver all n).
func InsertWithStream(ctx context.Context, writer, watcher *mongo.Client, n int) (perSec float64, err error) {
	coll := freshColl(writer, "insertstream")
	if err := coll.Database().CreateCollection(ctx, coll.Name()); err != nil {
		return 0, err
	}
	cs, err := watcher.Database(coll.Database().Name()).Collection(coll.Name()).Watch(ctx, mongo.Pipeline{},
		options.ChangeStream().SetMaxAwaitTime(100*time.Millisecond))
	if err != nil {
		return 0, err
	}
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var seen atomic.Int64
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer cs.Close(context.WithoutCancel(ctx))
		for cs.Next(sctx) {
			seen.Add(1)
		}
	}()
	defer wg.Wait()
	defer cancel()
	start := time.Now()
	for i := 0; i < n; i++ {
		if _, err := coll.InsertOne(ctx, bson.D{{Key: "_id", Value: i}, {Key: "v", Value: "x"}}); err != nil {
			return 0, err
		}
	}
	elapsed := time.Since(start)
	if err := waitCount(ctx, &seen, int64(n), "change stream"); err != nil {
		return 0, err
	}
	return float64(n) / elapsed.Seconds(), nil
}

// SizeCost is the per-insert cost in a collection at two sizes and the heap
// the larger fill took.
type SizeCost struct {
	Small, Large   int           // documents stored before measuring
	PerInsertSmall time.Duration // mean InsertOne time at Small
	PerInsertLarge time.Duration // mean InsertOne time at Large
	HeapBytesLarge uint64        // heap delta of filling Large 1-KiB documents
	DocBytes       int           // approximate BSON size of one document
	Samples        int
}

// Ratio is PerInsertLarge / PerInsertSmall.
func (s SizeCost) Ratio() float64 {
	return float64(s.PerInsertLarge) / float64(s.PerInsertSmall)
}

// InsertCostAtSize fills one collection with small and another with large
// ~1-KiB documents (measuring the heap the large fill holds, after GC: only
// meaningful when the server runs in this process), then times samples
// InsertOne calls into each.
func InsertCostAtSize(ctx context.Context, client *mongo.Client, small, large, samples int, progress func(string)) (SizeCost, error) {
	res := SizeCost{Small: small, Large: large, Samples: samples}
	pad := strings.Repeat("p", 1000)
	res.DocBytes = len(pad) + 30
	fill := func(coll *mongo.Collection, n int) error {
		batch := make([]any, 0, 1000)
		for i := 0; i < n; i++ {
			batch = append(batch, bson.D{{Key: "_id", Value: i}, {Key: "pad", Value: pad}})
			if len(batch) == cap(batch) || i == n-1 {
				if _, err := coll.InsertMany(ctx, batch); err != nil {
					return err
				}
				batch = batch[:0]
				if progress != nil && (i+1)%20000 == 0 {
					progress(fmt.Sprintf("filled %d of %d documents", i+1, n))
				}
			}
		}
		return nil
	}
	timeInserts := func(coll *mongo.Collection, from int) (time.Duration, error) {
		start := time.Now()
		for i := 0; i < samples; i++ {
			if _, err := coll.InsertOne(ctx, bson.D{{Key: "_id", Value: from + i}, {Key: "pad", Value: pad}}); err != nil {
				return 0, err
			}
		}
		return time.Since(start) / time.Duration(samples), nil
	}
	smallColl := freshColl(client, "size_small")
	if err := fill(smallColl, small); err != nil {
		return res, err
	}
	largeColl := freshColl(client, "size_large")
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	if err := fill(largeColl, large); err != nil {
		return res, err
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	if after.HeapAlloc > before.HeapAlloc {
		res.HeapBytesLarge = after.HeapAlloc - before.HeapAlloc
	}
	// Alternate the two sizes so drift on a shared machine hits both.
	var sumS, sumL time.Duration
	const rounds = 2
	samples /= rounds
	if samples < 1 {
		samples = 1
	}
	for r := 0; r < rounds; r++ {
		s, err := timeInserts(smallColl, small+r*samples)
		if err != nil {
			return res, err
		}
		l, err := timeInserts(largeColl, large+r*samples)
		if err != nil {
			return res, err
		}
		sumS += s
		sumL += l
	}
	res.PerInsertSmall, res.PerInsertLarge = sumS/rounds, sumL/rounds
	res.Samples = samples * rounds
	return res, nil
}

// BacklogDelivery opens a change stream, writes n documents without reading
// it, then times reading the n events: events per second.
func BacklogDelivery(ctx context.Context, client *mongo.Client, n int) (perSec float64, err error) {
	coll := freshColl(client, "backlog")
	if err := coll.Database().CreateCollection(ctx, coll.Name()); err != nil {
		return 0, err
	}
	cs, err := coll.Watch(ctx, mongo.Pipeline{})
	if err != nil {
		return 0, err
	}
	defer cs.Close(context.WithoutCancel(ctx))
	if err := insertMany(ctx, coll, 0, n); err != nil {
		return 0, err
	}
	start := time.Now()
	for i := 0; i < n; i++ {
		if !cs.Next(ctx) {
			if err := cs.Err(); err != nil {
				return 0, err
			}
			return 0, fmt.Errorf("backlog: stream ended after %d of %d events", i, n)
		}
	}
	return float64(n) / time.Since(start).Seconds(), nil
}
