package mql

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// memDocs makes n documents of about size bytes with keys k in a shuffled
// order that repeats (ties test stability: seq records input order).
func memDocs(n, size int) []bson.D {
	pad := strings.Repeat("p", size)
	out := make([]bson.D, n)
	for i := range out {
		out[i] = bson.D{{Key: "_id", Value: int32(i)}, {Key: "k", Value: int32((i * 7919) % (n/3 + 1))}, {Key: "seq", Value: int32(i)}, {Key: "pad", Value: pad}}
	}
	return out
}

func runLimited(t *testing.T, stages string, docs []bson.D, lim MemoryLimits) ([]bson.D, error) {
	t.Helper()
	p, err := NewPipeline(stagesOf(t, stages), PipelineOptions{Memory: lim})
	if err != nil {
		t.Fatal(err)
	}
	return p.Run(docs)
}

func wantMemCode(t *testing.T, err error, code int32) {
	t.Helper()
	var me *Error
	if !errors.As(err, &me) || me.Code != code {
		t.Fatalf("want error %d, got %v", code, err)
	}
}

func TestSortSpillsToDiskInOrder(t *testing.T) {
	for _, n := range []int{300, 5000} { // 5000 docs make > maxSpillFanIn runs
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			dir := t.TempDir()
			area := &SpillArea{Dir: dir}
			want, err := runLimited(t, `[{"$sort":{"k":-1}}]`, memDocs(n, 100), MemoryLimits{})
			if err != nil {
				t.Fatal(err)
			}
			got, err := runLimited(t, `[{"$sort":{"k":-1}}]`, memDocs(n, 100), MemoryLimits{StageBytes: 4 << 10, Spill: area})
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(want) {
				t.Fatalf("got %d documents, want %d", len(got), len(want))
			}
			for i := range want {
				if !uIdentical(got[i], want[i]) {
					t.Fatalf("document %d: got %s, want %s", i, ujs(got[i]), ujs(want[i]))
				}
			}
			st := area.Stats()
			if st.Spills < 2 || st.InUse != 0 {
				t.Fatalf("spill stats %+v: want at least 2 runs, none still in use", st)
			}
			if ents, err := os.ReadDir(dir); err != nil || len(ents) != 0 {
				t.Fatalf("temporary files left: %v %v", ents, err)
			}
		})
	}
}

func TestSortMemoryLimitWithoutDiskUse(t *testing.T) {
	_, err := runLimited(t, `[{"$sort":{"k":1}}]`, memDocs(100, 100), MemoryLimits{StageBytes: 4 << 10, NoDiskUse: true})
	wantMemCode(t, err, CodeQueryExceededMemoryLimitNoDiskUseAllowed)
	if !strings.Contains(err.Error(), "Sort exceeded memory limit of 4096 bytes") {
		t.Fatalf("message: %v", err)
	}
	// A $sort followed by $limit keeps only its top documents.
	got, err := runLimited(t, `[{"$sort":{"k":1}},{"$skip":1},{"$limit":2}]`, memDocs(100, 100), MemoryLimits{StageBytes: 4 << 10, NoDiskUse: true})
	if err != nil || len(got) != 2 {
		t.Fatalf("top-k sort: %d documents, %v", len(got), err)
	}
	// Without a spill area the sort refuses clearly.
	_, err = runLimited(t, `[{"$sort":{"k":1}}]`, memDocs(100, 100), MemoryLimits{StageBytes: 4 << 10})
	wantMemCode(t, err, CodeExceededMemoryLimit)
}

func TestGroupMemoryLimits(t *testing.T) {
	lim := MemoryLimits{StageBytes: 8 << 10, NoDiskUse: true}
	_, err := runLimited(t, `[{"$group":{"_id":"$_id","n":{"$sum":1}}}]`, memDocs(500, 10), lim)
	wantMemCode(t, err, CodeQueryExceededMemoryLimitNoDiskUseAllowed)
	_, err = runLimited(t, `[{"$bucket":{"groupBy":"$seq","boundaries":[0,1,2,3,4,5,6,7,8,9,10,1000],"output":{"all":{"$push":"$$ROOT"}}}}]`, memDocs(500, 10), MemoryLimits{StageBytes: 1 << 20, NoDiskUse: true})
	if err != nil {
		t.Fatalf("$bucket under its limit: %v", err)
	}
	// Disk use allowed: $group goes on in memory...
	lim.NoDiskUse = false
	got, err := runLimited(t, `[{"$group":{"_id":"$_id","n":{"$sum":1}}}]`, memDocs(500, 10), lim)
	if err != nil || len(got) != 500 {
		t.Fatalf("$group over its limit with disk use: %d groups, %v", len(got), err)
	}
	// ...but one $push over the limit never spills.
	_, err = runLimited(t, `[{"$group":{"_id":null,"all":{"$push":"$$ROOT"}}}]`, memDocs(500, 100), lim)
	wantMemCode(t, err, CodeExceededMemoryLimit)
	if !strings.Contains(err.Error(), "$push used too much memory") {
		t.Fatalf("message: %v", err)
	}
	_, err = runLimited(t, `[{"$group":{"_id":null,"all":{"$addToSet":"$pad"}}}]`, memDocs(500, 100), lim)
	if err != nil {
		t.Fatalf("$addToSet of one value counts it once: %v", err)
	}
}

func TestAggregationMemoryGuard(t *testing.T) {
	lim := MemoryLimits{StageBytes: 1 << 20, TotalBytes: 64 << 10}
	// 100 documents become 100*100*100 by two $unwinds: no single stage is
	// over its limit, the aggregation as a whole is.
	_, err := runLimited(t, `[{"$project":{"a":{"$range":[0,100]},"b":{"$range":[0,100]}}},{"$unwind":"$a"},{"$unwind":"$b"}]`, memDocs(100, 10), lim)
	wantMemCode(t, err, CodeExceededMemoryLimit)
	if !strings.Contains(err.Error(), "Config.MaxAggregationBytes") {
		t.Fatalf("message: %v", err)
	}
	_, err = runLimited(t, `[{"$facet":{"a":[{"$match":{}}],"b":[{"$match":{}}]}}]`, memDocs(100, 1000), MemoryLimits{StageBytes: 64 << 10})
	wantMemCode(t, err, codeFacetTooLarge)
	_, err = runLimited(t, `[{"$project":{"r":{"$range":[0,10000000]}}}]`, memDocs(1, 1), MemoryLimits{})
	wantMemCode(t, err, CodeExceededMemoryLimit)
}

func TestDocBytesMatchesMarshal(t *testing.T) {
	docs := stagesOf(t, `[{"a":1,"b":"xyz","c":[1,2,{"d":null}],"e":{"$numberLong":"5"},"f":2.5,"g":true,
		"h":{"$oid":"650000000000000000000000"},"i":{"$date":"2024-01-01T00:00:00Z"},"j":{"$numberDecimal":"1.5"},
		"k":{"$binary":{"base64":"AAEC","subType":"00"}},"l":{"$regularExpression":{"pattern":"a.c","options":"i"}},
		"m":{"$timestamp":{"t":1,"i":2}},"n":{"$minKey":1},"o":[0,1,2,3,4,5,6,7,8,9,10,11]}]`)
	for _, d := range docs {
		raw, err := bson.Marshal(d)
		if err != nil {
			t.Fatal(err)
		}
		if got := DocBytes(d); got != int64(len(raw)) {
			t.Fatalf("DocBytes = %d, Marshal = %d bytes", got, len(raw))
		}
	}
}

// BenchmarkPipelineSortGroupLimited is BenchmarkPipelineSortGroup under the
// server's default limits (not reached): the cost of the accounting.
func BenchmarkPipelineSortGroupLimited(b *testing.B) {
	benchSortGroup(b, PipelineOptions{Memory: MemoryLimits{StageBytes: 100 << 20, TotalBytes: 1 << 30, Spill: &SpillArea{Dir: b.TempDir()}}})
}

func TestGroupSpillsToDisk(t *testing.T) {
	const stages = `[{"$group":{"_id":"$k","n":{"$sum":1},"first":{"$first":"$seq"},"last":{"$last":"$seq"},"seqs":{"$push":"$seq"},"pad":{"$max":"$pad"}}},{"$sort":{"_id":1}}]`
	want, err := runLimited(t, stages, memDocs(3000, 100), MemoryLimits{})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	area := &SpillArea{Dir: dir}
	got, err := runLimited(t, stages, memDocs(3000, 100), MemoryLimits{StageBytes: 16 << 10, Spill: area})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Fatalf("got %d groups, want %d", len(got), len(want))
	}
	for i := range want {
		if !uIdentical(got[i], want[i]) {
			t.Fatalf("group %d: got %s, want %s", i, ujs(got[i]), ujs(want[i]))
		}
	}
	if st := area.Stats(); st.Spills < 2 || st.InUse != 0 {
		t.Fatalf("spill stats %+v: want at least 2 runs, none still in use", st)
	}
	if ents, err := os.ReadDir(dir); err != nil || len(ents) != 0 {
		t.Fatalf("temporary files left: %v %v", ents, err)
	}
}

func TestFacetSortLimitCountsTopOnly(t *testing.T) {
	lim := MemoryLimits{StageBytes: 4 << 10, NoDiskUse: true}
	got, err := runLimited(t, `[{"$facet":{"top":[{"$sort":{"k":-1}},{"$limit":3}]}}]`, memDocs(100, 100), lim)
	if err != nil || len(got) != 1 || len(got[0][0].Value.(bson.A)) != 3 {
		t.Fatalf("top-3 in $facet: %v, %v", got, err)
	}
	_, err = runLimited(t, `[{"$facet":{"all":[{"$sort":{"k":-1}}]}}]`, memDocs(100, 100), lim)
	wantMemCode(t, err, CodeQueryExceededMemoryLimitNoDiskUseAllowed)
}
