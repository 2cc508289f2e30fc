package embedded_test

import (
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/mongotide/mongotide/embedded"
	"github.com/mongotide/mongotide/internal/testenv"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// Memory limits are tested with a 64 KiB stage limit, so a few hundred
// small documents stand for mongod's 100 MB.
const memTestStageBytes = 64 << 10

// memServer starts a server with small memory limits and a data directory
// (whose _tmp holds the spilled runs) and seeds n documents of about 1 KiB
// with a sort key k that repeats.
func memServer(t *testing.T, cfg embedded.Config, n int) (*mongo.Collection, string) {
	t.Helper()
	testenv.SkipIfExternal(t, "configured memory limits")
	cfg.Dir = t.TempDir()
	srv := testenv.StartEmbedded(t, cfg)
	coll := testenv.Connect(t, srv.URI(), nil).Database("mem").Collection("c")
	pad := strings.Repeat("x", 1000)
	docs := make([]any, n)
	for i := range docs {
		docs[i] = bson.D{{Key: "_id", Value: int32(i)}, {Key: "k", Value: int32((i * 37) % 50)}, {Key: "pad", Value: pad}}
	}
	if n > 0 {
		if _, err := coll.InsertMany(testCtx(t), docs); err != nil {
			t.Fatal(err)
		}
	}
	return coll, filepath.Join(cfg.Dir, "_tmp")
}

func sortSpills(t *testing.T, coll *mongo.Collection) int64 {
	t.Helper()
	st := mustRun(t, coll.Database().Client().Database("admin"), bson.D{{Key: "serverStatus", Value: 1}})
	q, _ := get(get(st, "metrics").(bson.D), "query").(bson.D)
	s, _ := get(q, "sort").(bson.D)
	return asInt(t, get(s, "spillToDisk"))
}

// wantSortedByK checks docs are ordered by k, ties in _id (insertion) order.
func wantSortedByK(t *testing.T, docs []bson.D, n int) {
	t.Helper()
	if len(docs) != n {
		t.Fatalf("got %d documents, want %d", len(docs), n)
	}
	for i := 1; i < len(docs); i++ {
		pk, k := asInt(t, get(docs[i-1], "k")), asInt(t, get(docs[i], "k"))
		if pk > k || (pk == k && asInt(t, get(docs[i-1], "_id")) > asInt(t, get(docs[i], "_id"))) {
			t.Fatalf("documents %d and %d out of order: %v %v", i-1, i, docs[i-1][:2], docs[i][:2])
		}
	}
}

func TestSortOverMemoryLimit(t *testing.T) {
	const n = 400 // ~400 KiB, over the 64 KiB limit
	coll, tmp := memServer(t, embedded.Config{MaxBlockingStageBytes: memTestStageBytes}, n)
	ctx := testCtx(t)
	pipeline := mongo.Pipeline{{{Key: "$sort", Value: bson.D{{Key: "k", Value: 1}}}}}

	_, err := coll.Aggregate(ctx, pipeline, options.Aggregate().SetAllowDiskUse(false))
	wantCode(t, err, 292, "Sort exceeded memory limit of 65536 bytes, but did not opt in to external sorting.")

	// allowDiskUse: true, and unset (mongod's allowDiskUseByDefault): an
	// external merge sort through temporary files, removed afterwards.
	for _, opts := range []*options.AggregateOptionsBuilder{options.Aggregate().SetAllowDiskUse(true), options.Aggregate()} {
		before := sortSpills(t, coll)
		docs := all(t)(coll.Aggregate(ctx, pipeline, opts))
		wantSortedByK(t, docs, n)
		if after := sortSpills(t, coll); after <= before {
			t.Fatalf("metrics.query.sort.spillToDisk %d -> %d: the sort did not spill", before, after)
		}
		if ents, err := os.ReadDir(tmp); err != nil || len(ents) != 0 {
			t.Fatalf("temporary files left in %s: %v %v", tmp, ents, err)
		}
	}

	// A $sort followed by $limit keeps only its top documents.
	top := all(t)(coll.Aggregate(ctx, mongo.Pipeline{pipeline[0], {{Key: "$limit", Value: 5}}}, options.Aggregate().SetAllowDiskUse(false)))
	wantSortedByK(t, top, 5)

	// find's blocking sort: the same limit and error.
	_, err = coll.Find(ctx, bson.D{}, options.Find().SetSort(bson.D{{Key: "k", Value: 1}}).SetAllowDiskUse(false))
	wantCode(t, err, 292, "Sort exceeded memory limit of 65536 bytes")
	wantSortedByK(t, all(t)(coll.Find(ctx, bson.D{}, options.Find().SetSort(bson.D{{Key: "k", Value: 1}}).SetLimit(5).SetAllowDiskUse(false))), 5)
	wantSortedByK(t, all(t)(coll.Find(ctx, bson.D{}, options.Find().SetSort(bson.D{{Key: "k", Value: 1}}))), n)
}

func TestGroupOverMemoryLimit(t *testing.T) {
	const n = 400
	coll, tmp := memServer(t, embedded.Config{MaxBlockingStageBytes: memTestStageBytes}, n)
	ctx := testCtx(t)
	// One group per document, each holding its 1 KiB pad.
	pipeline := mongo.Pipeline{{{Key: "$group", Value: bson.D{{Key: "_id", Value: "$_id"}, {Key: "pad", Value: bson.D{{Key: "$first", Value: "$pad"}}}}}}}
	_, err := coll.Aggregate(ctx, pipeline, options.Aggregate().SetAllowDiskUse(false))
	wantCode(t, err, 292, "Exceeded memory limit for $group, but didn't allow external spilling")

	bucket := mongo.Pipeline{{{Key: "$bucket", Value: bson.D{{Key: "groupBy", Value: "$_id"}, {Key: "boundaries", Value: bson.A{0, 1000}},
		{Key: "output", Value: bson.D{{Key: "pads", Value: bson.D{{Key: "$addToSet", Value: "$_id"}}}}}}}}}
	if got := all(t)(coll.Aggregate(ctx, bucket, options.Aggregate().SetAllowDiskUse(false))); len(got) != 1 {
		t.Fatalf("$bucket under its limit: %d buckets", len(got))
	}

	// With disk use allowed (explicitly or by default) $group spills: the
	// input is sorted on the group key through temporary files and the
	// groups are built one at a time.
	for _, opts := range []*options.AggregateOptionsBuilder{options.Aggregate().SetAllowDiskUse(true), options.Aggregate()} {
		before := sortSpills(t, coll)
		got := all(t)(coll.Aggregate(ctx, pipeline, opts))
		if len(got) != n {
			t.Fatalf("got %d groups, want %d", len(got), n)
		}
		for i, d := range got { // in key order after a spill, as on mongod
			if asInt(t, get(d, "_id")) != int64(i) || len(get(d, "pad").(string)) != 1000 {
				t.Fatalf("group %d: %v", i, d[:1])
			}
		}
		if after := sortSpills(t, coll); after <= before {
			t.Fatalf("metrics.query.sort.spillToDisk %d -> %d: the $group did not spill", before, after)
		}
		if ents, err := os.ReadDir(tmp); err != nil || len(ents) != 0 {
			t.Fatalf("temporary files left in %s: %v %v", tmp, ents, err)
		}
	}
}

func TestGroupResultOver16MiB(t *testing.T) {
	// 17 documents of 1 MiB pushed into one group: a 17 MiB result, under
	// the default 100 MiB stage limit but over the BSON size limit.
	coll, _ := memServer(t, embedded.Config{}, 0)
	ctx := testCtx(t)
	pad := strings.Repeat("y", 1<<20)
	for i := range 17 {
		if _, err := coll.InsertOne(ctx, bson.D{{Key: "_id", Value: int32(i)}, {Key: "pad", Value: pad}}); err != nil {
			t.Fatal(err)
		}
	}
	pipeline := mongo.Pipeline{{{Key: "$group", Value: bson.D{{Key: "_id", Value: nil}, {Key: "pads", Value: bson.D{{Key: "$push", Value: "$pad"}}}}}}}
	_, err := coll.Aggregate(ctx, pipeline)
	wantCode(t, err, 10334, "is invalid. Size must be between 0 and 16793600(16MB) First element: _id: null")
	// The connection and the server are fine afterwards.
	if n, err := coll.CountDocuments(ctx, bson.D{}); err != nil || n != 17 {
		t.Fatalf("count after the error: %d, %v", n, err)
	}
}

func TestAggregationMemoryGuard(t *testing.T) {
	coll, _ := memServer(t, embedded.Config{MaxBlockingStageBytes: memTestStageBytes, MaxAggregationBytes: 4 << 20}, 400)
	ctx := testCtx(t)

	// One $push accumulator over the stage limit never spills.
	push := mongo.Pipeline{{{Key: "$group", Value: bson.D{{Key: "_id", Value: nil}, {Key: "all", Value: bson.D{{Key: "$push", Value: "$$ROOT"}}}}}}}
	_, err := coll.Aggregate(ctx, push, options.Aggregate().SetAllowDiskUse(true))
	wantCode(t, err, 146, "$push used too much memory and cannot spill to disk")

	// 400 documents times 300 times 300 by two $unwinds: no stage is
	// blocking, the aggregation as a whole would hold gigabytes.
	blowup := mongo.Pipeline{
		{{Key: "$project", Value: bson.D{{Key: "a", Value: bson.D{{Key: "$range", Value: bson.A{0, 300}}}}, {Key: "b", Value: bson.D{{Key: "$range", Value: bson.A{0, 300}}}}}}},
		{{Key: "$unwind", Value: "$a"}},
		{{Key: "$unwind", Value: "$b"}},
	}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, err = coll.Aggregate(ctx, blowup)
	wantCode(t, err, 146, "aggregation used too much memory")
	// The server runs in this process: its heap did not grow towards the
	// gigabytes the 36 million documents would take (HeapSys is what the
	// heap obtained from the OS; it does not shrink at once).
	runtime.ReadMemStats(&after)
	if grown := int64(after.HeapSys) - int64(before.HeapSys); grown > 512<<20 {
		t.Fatalf("heap grew by %d MiB during the refused aggregation", grown>>20)
	}

	// $range has MongoDB's own limit.
	_, err = coll.Aggregate(ctx, mongo.Pipeline{{{Key: "$project", Value: bson.D{{Key: "r", Value: bson.D{{Key: "$range", Value: bson.A{0, 10_000_000}}}}}}}})
	wantCode(t, err, 146, "$range would use too much memory")
}
