package sync

import (
	"context"
	"testing"
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
