package bench

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
)

// Retained is what the process holds after DropRetained: VmRSS (0 where
// /proc is missing) and the Go heap in use, both after the GC has returned
// what it could to the OS.
type Retained struct {
	RSS       uint64
	HeapInuse uint64
}

// DropRetained drops every bench database, writes total bytes in documents
// of docSize bytes into a fresh collection, drops it, and measures what the
// process still holds. Only meaningful when the server runs in this process:
// what stays is the oplog (bounded by its size) and the process's base,
// never the dropped documents.
func DropRetained(ctx context.Context, client *mongo.Client, total, docSize int) (Retained, error) {
	names, err := client.ListDatabaseNames(ctx, bson.D{{Key: "name", Value: bson.D{{Key: "$regex", Value: "^bench_"}}}})
	if err != nil {
		return Retained{}, err
	}
	for _, n := range names {
		if err := client.Database(n).Drop(ctx); err != nil {
			return Retained{}, err
		}
	}
	coll := freshColl(client, "rss")
	pad := make([]byte, docSize-64)
	for i := 0; i*docSize < total; i++ {
		if _, err := coll.InsertOne(ctx, bson.D{{Key: "_id", Value: i}, {Key: "pad", Value: bson.Binary{Data: pad}}}); err != nil {
			return Retained{}, err
		}
	}
	if err := coll.Database().Drop(ctx); err != nil {
		return Retained{}, err
	}
	runtime.GC()
	debug.FreeOSMemory()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return Retained{RSS: vmRSS(), HeapInuse: ms.HeapInuse}, nil
}

// vmRSS reads the resident set size from /proc/self/status (0 if absent).
func vmRSS() uint64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "VmRSS:") {
			continue
		}
		fields := strings.Fields(line)
		if len(fields) >= 2 {
			kb, err := strconv.ParseUint(fields[1], 10, 64)
			if err == nil {
				return kb << 10
			}
		}
	}
	return 0
}

func mib(b uint64) string { return fmt.Sprintf("%.0f MiB", float64(b)/(1<<20)) }
