package sync

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mongotide/mongotide/internal/testenv"
	"go.mongodb.org/mongo-driver/v2/bson"
)

// The ctx given to Start bounds the start-up only; Done is closed by Stop
// (and before the first Start), and a second Stop does nothing.
func TestLifecycleStartCtxDoneStop(t *testing.T) {
	ctx := testCtx(t)
	cfg := Config{Local: newDB(t, "local"), Remote: newDB(t, "remote"), Collections: []string{"c"}}
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-s.Done():
	default:
		t.Fatal("Done of a never started syncer is open")
	}
	startCtx, cancel := context.WithCancel(ctx)
	if err := s.Start(startCtx); err != nil {
		t.Fatal(err)
	}
	cancel() // bounds the start only
	if _, err := cfg.Local.Collection("c").InsertOne(ctx, map[string]any{"_id": 1}); err != nil {
		t.Fatal(err)
	}
	if err := s.WaitSynced(ctx); err != nil {
		t.Fatalf("WaitSynced after the start ctx was cancelled: %v", err)
	}
	if n, err := cfg.Remote.Collection("c").CountDocuments(ctx, map[string]any{}); err != nil || n != 1 {
		t.Fatalf("remote has %d documents (%v), want 1", n, err)
	}
	done := s.Done()
	select {
	case <-done:
		t.Fatal("Done closed while running")
	default:
	}
	if err := s.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	<-done
	if err := s.Stop(ctx); err != nil || s.Err() != nil {
		t.Fatalf("second Stop = %v, Err = %v", err, s.Err())
	}
}

// Stop called from a callback asks the syncer to stop and returns at once
// (it runs on a goroutine Stop would wait for); Done closes once stopped,
// and Start runs the syncer again.
func TestStopFromCallbacks(t *testing.T) {
	for _, which := range []string{"OnSync", "OnBootstrap", "OnError"} {
		t.Run(which, func(t *testing.T) {
			ctx := testCtx(t)
			local, remote := newDB(t, "local"), newDB(t, "remote")
			if _, err := local.Collection("c").InsertOne(ctx, bson.D{{Key: "_id", Value: "before"}}); err != nil {
				t.Fatal(err)
			}
			var s *Syncer
			var calls atomic.Int64
			var armed atomic.Bool // the first run only
			armed.Store(true)
			stop := func() {
				calls.Add(1)
				if !armed.Load() {
					return
				}
				for i := 0; i < 2; i++ { // a second Stop is as harmless
					if err := s.Stop(context.Background()); err != nil {
						t.Errorf("Stop from %s: %v", which, err)
					}
				}
			}
			cfg := Config{Local: local, Remote: remote, Collections: []string{"c"}, Backoff: fastBackoff}
			switch which {
			case "OnSync":
				cfg.OnSync = func(SyncEvent) { stop() }
			case "OnBootstrap":
				cfg.OnBootstrap = func(BootstrapProgress) { stop() }
			case "OnError":
				cfg.OnError = func(error) { stop() }
				failCommand(t, ctx, remote.Client(), 1, []string{"find", "aggregate"}, "", bson.D{{Key: "errorCode", Value: 8}})
			}
			var err error
			if s, err = New(withClock(t, cfg)); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = s.Stop(context.Background()) })
			if err := s.Start(ctx); err != nil {
				t.Fatal(err)
			}
			if which == "OnSync" {
				if _, err := local.Collection("c").InsertOne(ctx, bson.D{{Key: "_id", Value: "trigger"}}); err != nil {
					t.Fatal(err)
				}
			}
			testenv.Eventually(t, 30*time.Second, "the syncer stopped from "+which, func() bool {
				select {
				case <-s.Done():
					return true
				default:
					return false
				}
			}, func() string { return fmt.Sprintf("%d callback calls", calls.Load()) })
			// Started again, it syncs.
			armed.Store(false)
			if err := s.Start(ctx); err != nil {
				t.Fatal(err)
			}
			if _, err := local.Collection("c").InsertOne(ctx, bson.D{{Key: "_id", Value: "after"}}); err != nil {
				t.Fatal(err)
			}
			wctx, cancel := context.WithTimeout(ctx, 20*time.Second)
			defer cancel()
			if err := s.WaitSynced(wctx); err != nil {
				st, serr := s.Status(ctx)
				t.Fatalf("%v; status %+v %v", err, st, serr)
			}
		})
	}
}
