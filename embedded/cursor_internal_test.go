package embedded

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// scriptedSource hands out prepared batches, like a change stream whose
// events are already built, and reports a fixed high-water mark.
type scriptedSource struct {
	batches [][]bson.Raw
	err     error // returned once the batches are used up
	pbrt    bson.Raw
	closed  int
}

func (s *scriptedSource) Next(context.Context, int, time.Duration) ([]bson.Raw, bool, error) {
	if len(s.batches) == 0 {
		if s.err != nil {
			return nil, false, s.err
		}
		return nil, false, nil
	}
	b := s.batches[0]
	s.batches = s.batches[1:]
	return b, false, nil
}
func (s *scriptedSource) PostBatchResumeToken() bson.Raw { return s.pbrt }
func (s *scriptedSource) Close()                         { s.closed++ }

func event(t *testing.T, token string, size int) bson.Raw {
	t.Helper()
	b, err := bson.Marshal(bson.D{{Key: "_id", Value: bson.D{{Key: "_data", Value: token}}}, {Key: "pad", Value: strings.Repeat("x", size)}})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestCursorHoldsBackOversizeBatch: events beyond 16 MiB wait for the next
// getMore, and the high-water mark given with the first batch is the last
// delivered event's token, never the source's (which is past the held-back
// events: resuming from it would skip them).
func TestCursorHoldsBackOversizeBatch(t *testing.T) {
	hwm, _ := bson.Marshal(bson.D{{Key: "_data", Value: "FF"}})
	src := &scriptedSource{
		batches: [][]bson.Raw{{event(t, "01", 7<<20), event(t, "02", 7<<20), event(t, "03", 7<<20)}},
		err:     errors.New("stream broke"),
		pbrt:    hwm,
	}
	c := &cursor{src: src, opts: cursorOptions{Tailable: true, AwaitData: true}}
	ctx := context.Background()

	first, err := c.fill(ctx, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(first) != 2 || len(c.pending) != 1 {
		t.Fatalf("first batch %d events, %d pending; want 2 and 1", len(first), len(c.pending))
	}
	if got := c.postBatchResumeToken(first).Lookup("_data").StringValue(); got != "02" {
		t.Fatalf("postBatchResumeToken with an event held back = %q, want the last delivered event's \"02\"", got)
	}

	// The held-back event comes next, on its own, even though the source
	// would now fail: it is not lost.
	second, err := c.fill(ctx, 0, 0)
	if err != nil {
		t.Fatalf("second batch: %v", err)
	}
	if len(second) != 1 || second[0].Lookup("_id", "_data").StringValue() != "03" {
		t.Fatalf("second batch %v, want event 03", second)
	}
	if got := c.postBatchResumeToken(second).Lookup("_data").StringValue(); got != "FF" {
		t.Fatalf("postBatchResumeToken after everything was delivered = %q, want the source's \"FF\"", got)
	}
	if _, err := c.fill(ctx, 0, 0); err == nil || err.Error() != "stream broke" {
		t.Fatalf("third batch error %v, want the source's", err)
	}
}

func TestCursorBatchSizeLimitsCount(t *testing.T) {
	src := &scriptedSource{batches: [][]bson.Raw{{event(t, "01", 10), event(t, "02", 10)}, {event(t, "03", 10)}}}
	c := &cursor{src: src}
	got, err := c.fill(context.Background(), 2, 0)
	if err != nil || len(got) != 2 {
		t.Fatalf("fill(2) = %d docs, %v", len(got), err)
	}
}
