package bench

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/mongotide/mongotide/embedded"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"go.mongodb.org/mongo-driver/v2/mongo/writeconcern"
)

// DurableWriters is the writer count of the group-commit figure.
const DurableWriters = 16

// DirInserts starts an embedded server on a temporary data directory (the
// suite's own server is memory-only) and measures InsertOne/s there: n
// inserts from one writer with the default write concern (fsynced in the
// background every CommitInterval), then n inserts with j: true from
// writers concurrent writers, each acknowledged only after its fsync
// (concurrent ones share one: group commit).
func DirInserts(ctx context.Context, n, writers int) (plain, journaled float64, err error) {
	dir, err := os.MkdirTemp("", "mongotide-bench-dir-")
	if err != nil {
		return 0, 0, err
	}
	defer os.RemoveAll(dir)
	srv, err := embedded.Start(ctx, embedded.Config{Dir: dir, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		return 0, 0, err
	}
	defer srv.Stop(context.WithoutCancel(ctx))
	client, err := mongo.Connect(options.Client().ApplyURI(srv.URI()).SetMaxPoolSize(uint64(writers) + 4))
	if err != nil {
		return 0, 0, err
	}
	defer client.Disconnect(context.WithoutCancel(ctx))
	db := client.Database("bench_dir")
	start := time.Now()
	plainColl := db.Collection("plain")
	for i := 0; i < n; i++ {
		if _, err := plainColl.InsertOne(ctx, bson.D{{Key: "_id", Value: i}, {Key: "v", Value: "x"}}); err != nil {
			return 0, 0, err
		}
	}
	plain = float64(n) / time.Since(start).Seconds()

	j := true
	jColl := db.Collection("journaled", options.Collection().SetWriteConcern(&writeconcern.WriteConcern{Journal: &j}))
	per := max(n/writers, 1)
	errs := make(chan error, writers)
	var wg sync.WaitGroup
	start = time.Now()
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; i < per; i++ {
				if _, err := jColl.InsertOne(ctx, bson.D{{Key: "_id", Value: w*per + i}, {Key: "v", Value: "x"}}); err != nil {
					errs <- err
					return
				}
			}
		}(w)
	}
	wg.Wait()
	elapsed := time.Since(start)
	close(errs)
	if err := <-errs; err != nil {
		return 0, 0, fmt.Errorf("j:true insert: %w", err)
	}
	return plain, float64(per*writers) / elapsed.Seconds(), nil
}

// addDirRows measures DirInserts and adds its two rows, next to each other.
func addDirRows(ctx context.Context, cfg Config, add func(name, value, target, met string)) error {
	n := max(cfg.N/5, 1)
	step(cfg, "embedded: %d InsertOne on a Dir server, default write concern, then j:true from %d writers", n, DurableWriters)
	plain, journaled, err := DirInserts(ctx, n, DurableWriters)
	if err != nil {
		return fmt.Errorf("inserts with Dir: %w", err)
	}
	add("InsertOne/s with Dir, default write concern", rate(plain, "inserts/s"), "", "")
	add(fmt.Sprintf("InsertOne/s j:true, %d concurrent writers (group commit)", DurableWriters), rate(journaled, "inserts/s"), "", "")
	return nil
}
