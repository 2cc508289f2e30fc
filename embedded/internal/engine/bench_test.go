package engine

import (
	"fmt"
	"runtime"
	"strings"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
)

func benchDoc(i int, pad string) bson.D {
	return bson.D{{Key: "n", Value: int32(i)}, {Key: "name", Value: "user"}, {Key: "tags", Value: bson.A{"a", "b"}}, {Key: "pad", Value: pad}}
}

// BenchmarkInsert measures one auto-committed insert (ObjectID _id, oplog
// append) into a collection holding about size documents. The collection is
// reset to size documents every 1000 inserts from a copy-on-write base, so
// the size stays put however large b.N is.
func BenchmarkInsert(b *testing.B) {
	for _, size := range []int{1_000, 100_000} {
		b.Run(fmt.Sprintf("docs=%d", size), func(b *testing.B) {
			e, err := Open(Options{})
			if err != nil {
				b.Fatal(err)
			}
			defer e.Close()
			for i := 0; i < size; i++ {
				if _, err := e.Insert(testNS, benchDoc(i, "")); err != nil {
					b.Fatal(err)
				}
			}
			base := e.colls[testNS].copy()
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if i%1000 == 0 && i > 0 {
					b.StopTimer()
					e.mu.Lock()
					e.colls[testNS] = base.copy()
					e.mu.Unlock()
					b.StartTimer()
				}
				if _, err := e.Insert(testNS, benchDoc(i, "")); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkInsertUnique is BenchmarkInsert with a unique secondary index.
func BenchmarkInsertUnique(b *testing.B) {
	for _, size := range []int{1_000, 100_000} {
		b.Run(fmt.Sprintf("docs=%d", size), func(b *testing.B) {
			e, err := Open(Options{})
			if err != nil {
				b.Fatal(err)
			}
			defer e.Close()
			if _, err := e.CreateIndexes(testNS, []IndexSpec{{Key: bson.D{{Key: "n", Value: int32(1)}}, Unique: true}}); err != nil {
				b.Fatal(err)
			}
			for i := 0; i < size; i++ {
				if _, err := e.Insert(testNS, benchDoc(i, "")); err != nil {
					b.Fatal(err)
				}
			}
			base := e.colls[testNS].copy()
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if i%1000 == 0 && i > 0 {
					b.StopTimer()
					e.mu.Lock()
					e.colls[testNS] = base.copy()
					e.mu.Unlock()
					b.StartTimer()
				}
				if _, err := e.Insert(testNS, benchDoc(size+i%1000, "")); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkInsertPersistent is BenchmarkInsert at 1000 documents with a
// data directory (journal write and flush per commit).
func BenchmarkInsertPersistent(b *testing.B) {
	e, err := Open(Options{Dir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	defer e.Close()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := e.Insert(testNS, benchDoc(i, "")); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkFindByID(b *testing.B) {
	e, err := Open(Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer e.Close()
	for i := 0; i < 100_000; i++ {
		if _, err := e.Insert(testNS, bson.D{{Key: "_id", Value: int32(i)}}); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, ok := e.FindByID(testNS, int32(i%100_000)); !ok {
			b.Fatal("missing")
		}
	}
}

func BenchmarkUpdateByID(b *testing.B) {
	e, err := Open(Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer e.Close()
	for i := 0; i < 100_000; i++ {
		if _, err := e.Insert(testNS, bson.D{{Key: "_id", Value: int32(i)}, {Key: "v", Value: int32(0)}}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		_, err := e.Update(testNS, UpdateArgs{Filter: bson.D{{Key: "_id", Value: int32(i % 100_000)}}, Update: bson.D{{Key: "$inc", Value: bson.D{{Key: "v", Value: int32(1)}}}}})
		if err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkMemory100k reports the heap held by 100,000 1-KiB documents
// (with their oplog entries, which share the stored BSON).
func BenchmarkMemory100k(b *testing.B) {
	const n = 100_000
	pad := strings.Repeat("x", 1024-70)
	for i := 0; i < b.N; i++ {
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		e, err := Open(Options{OplogCapacity: n})
		if err != nil {
			b.Fatal(err)
		}
		var docBytes int64
		for j := 0; j < n; j++ {
			if _, err := e.Insert(testNS, benchDoc(j, pad)); err != nil {
				b.Fatal(err)
			}
		}
		info, _ := e.Collection(testNS)
		docBytes = info.Size
		runtime.GC()
		runtime.ReadMemStats(&after)
		heap := float64(after.HeapAlloc - before.HeapAlloc)
		b.ReportMetric(heap/n, "heap-bytes/doc")
		b.ReportMetric(float64(docBytes)/n, "bson-bytes/doc")
		b.ReportMetric(heap/float64(docBytes), "heap/bson")
		runtime.KeepAlive(e)
		_ = e.Close()
	}
}

// BenchmarkReopen100k measures Open (snapshot load plus journal replay) of
// a directory holding 100,000 small documents and their oplog.
func BenchmarkReopen100k(b *testing.B) {
	dir := b.TempDir()
	e, err := Open(Options{Dir: dir, CompactBytes: 8 << 20})
	if err != nil {
		b.Fatal(err)
	}
	for i := 0; i < 100_000; i++ {
		if _, err := e.Insert(testNS, benchDoc(i, "")); err != nil {
			b.Fatal(err)
		}
	}
	if err := e.Close(); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		e, err := Open(Options{Dir: dir})
		if err != nil {
			b.Fatal(err)
		}
		if n := e.EstimatedCount(testNS); n != 100_000 {
			b.Fatalf("count %d", n)
		}
		b.StopTimer()
		_ = e.Close()
		b.StartTimer()
	}
}
