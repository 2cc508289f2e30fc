package listen

import (
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// Stats.Buffered counts events, not the progress markers a quiet stream
// queues: sync reports it as local changes not yet uploaded, and a marker
// read as one failed a chaos round ("pending 1 after WaitSynced", seed
// 605832904695033601).
func TestBufferedCountsEventsOnly(t *testing.T) {
	c := &core{ch: make(chan *item, 4)}
	sub := &Subscription{c: c}
	tok, _ := bson.Marshal(bson.D{{Key: "_data", Value: "8200"}})
	c.offerProgress(progressItem(tok))
	if b := sub.Stats().Buffered; b != 0 {
		t.Fatalf("a progress marker counted: Buffered %d, want 0", b)
	}
	c.ch <- &item{kind: itemEvent}
	if b := sub.Stats().Buffered; b != 1 {
		t.Fatalf("Buffered %d with one event and one marker, want 1", b)
	}
	for range 2 {
		c.received(<-c.ch)
	}
	if b, m := sub.Stats().Buffered, c.markers.Load(); b != 0 || m != 0 {
		t.Fatalf("after both were taken: Buffered %d, markers %d, want 0 and 0", b, m)
	}
}
