package embedded_test

import (
	"bytes"
	"context"
	"strconv"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// Resume and restart checks of the property test. The images stream's
// events are fully determined by the oplog (pre- and post-images are
// stored, nothing is looked up), so a stream reopened later must return
// them byte for byte.

// checkResume resumes the images stream from a random earlier token and
// expects exactly the rest of the history.
func (h *propHarness) checkResume() {
	if len(h.history) < 2 {
		return
	}
	// Mostly recent tokens, sometimes any: long runs stay fast.
	from := max(0, len(h.history)-2000)
	if h.ctl.chance(0.2) {
		from = 0
	}
	i := from + h.ctl.pick(len(h.history)-from)
	token := bson.Raw(h.history[i].Lookup("_id").Document())
	h.expectHistory(imagesOpts().SetResumeAfter(token), i+1, "resumed after event "+strconv.Itoa(i))
	h.stats.resumes++
}

// checkFromStart reads the whole history from before the first write.
func (h *propHarness) checkFromStart(when string) {
	ts := h.startAt
	h.expectHistory(imagesOpts().SetStartAtOperationTime(&ts), 0, "from the start "+when)
}

// expectHistory opens a stream with opts and expects history[from:], then
// nothing more.
func (h *propHarness) expectHistory(opts *options.ChangeStreamOptionsBuilder, from int, what string) {
	ctx, cancel := context.WithTimeout(h.ctx, time.Minute)
	defer cancel()
	// The last getMore finds nothing: it need not wait long for it (every
	// write of the history is acknowledged already).
	opts.SetMaxAwaitTime(10 * time.Millisecond)
	cs, err := h.client.Database("d").Watch(ctx, mongo.Pipeline{}, opts)
	if err != nil {
		h.fatalf("stream %s: %v", what, err)
	}
	defer cs.Close(context.Background())
	for i := from; i < len(h.history); i++ {
		if !cs.Next(ctx) {
			h.fatalf("stream %s stopped at event %d of %d: %v", what, i, len(h.history), cs.Err())
		}
		if !bytes.Equal(cs.Current, h.history[i]) {
			h.fatalf("stream %s: event %d is\n  %s\nwant\n  %s", what, i, extJSON(cs.Current), extJSON(h.history[i]))
		}
	}
	if cs.TryNext(ctx) {
		h.fatalf("stream %s: an event after the last one: %s", what, extJSON(cs.Current))
	}
	if err := cs.Err(); err != nil {
		h.fatalf("stream %s: %v", what, err)
	}
}

// restart stops the server and starts it again on its Dir: the documents
// and the whole history must be the same, and both streams resume.
func (h *propHarness) restart() {
	h.checkFromStart("before a restart")
	docs := h.readState()
	marks, err := h.mark.CountDocuments(h.ctx, bson.D{})
	if err != nil {
		h.fatalf("count markers: %v", err)
	}
	h.closeStreams()
	ctx, cancel := context.WithTimeout(h.ctx, 30*time.Second)
	defer cancel()
	if err := h.srv.Stop(ctx); err != nil {
		h.fatalf("stop for a restart: %v", err)
	}
	h.srv = nil
	h.startServer()
	h.stats.restarts++
	if after := h.readState(); !sameState(docs, after) {
		h.fatalf("documents after a restart:\n  %s\nbefore:\n  %s", stateJSON(after), stateJSON(docs))
	}
	if n, err := h.mark.CountDocuments(h.ctx, bson.D{}); err != nil || n != marks {
		h.fatalf("markers after a restart: %d (%v), before %d", n, err, marks)
	}
	h.checkFromStart("after a restart")
	images := bson.Raw(h.history[len(h.history)-1].Lookup("_id").Document())
	h.openStreams(h.lookupToken, images)
}
