package listen

import (
	"bytes"
	"context"
	"slices"
	"sync"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
)

// Hub shares server change streams between listeners. Listeners on the same
// collection (same client) whose server-side options are equal — pipeline,
// fullDocument, fullDocumentBeforeChange and MaxAwaitTime — read from ONE
// server cursor; operation types and filters are applied in process, and
// each listener keeps its own buffer, handler goroutine(s) and checkpoint.
//
// A listener that starts from "now" joins any running compatible stream: it
// sees every event the stream reads after it joined, which includes every
// write committed after Listen returned. A listener that resumes from a
// stored token joins only a stream that started at exactly that token and
// has not delivered anything yet; otherwise it gets its own stream.
//
// A Hub holds no goroutines of its own: a stream stops when its last
// listener leaves. The zero value is not usable; call NewHub.
type Hub struct {
	mu      sync.Mutex
	streams map[streamKey][]*stream
}

// NewHub returns an empty Hub.
func NewHub() *Hub { return &Hub{streams: make(map[streamKey][]*stream)} }

type streamKey struct {
	client   *mongo.Client
	db, coll string
	fullDoc  string
	before   string
	pipeline string
	maxAwait time.Duration
}

func makeKey(coll *mongo.Collection, cfg *Config) (streamKey, error) {
	k := streamKey{
		client:   coll.Database().Client(),
		db:       coll.Database().Name(),
		coll:     coll.Name(),
		fullDoc:  string(cfg.FullDocument),
		before:   string(cfg.FullDocumentBeforeChange),
		maxAwait: cfg.MaxAwaitTime,
	}
	if len(cfg.Pipeline) > 0 {
		b, err := bson.MarshalExtJSON(bson.D{{Key: "p", Value: cfg.Pipeline}}, true, false)
		if err != nil {
			return k, err
		}
		k.pipeline = string(b)
	}
	return k, nil
}

// StreamCount reports how many server streams the hub holds open.
func (h *Hub) StreamCount() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for _, ss := range h.streams {
		n += len(ss)
	}
	return n
}

// join attaches l to a compatible stream, opening a new one if needed. A
// new stream's aggregate has completed when join returns, which is what
// makes the start gap-free.
//
// The aggregate goes over the network without the hub lock: a slow open
// must not block every other Listen and Unsubscribe on the hub. The new
// stream is registered as opening first, so that compatible listeners
// starting meanwhile wait for it and share it instead of opening their own.
func (h *Hub) join(ctx context.Context, key streamKey, coll *mongo.Collection, cfg *Config, startToken bson.Raw, l *core) error {
	for {
		h.mu.Lock()
		var opening chan struct{} // of a compatible stream being opened
		for _, s := range h.streams[key] {
			if s.opened != nil {
				if startToken == nil || bytes.Equal(startToken, s.startToken) {
					opening = s.opened
				}
				continue
			}
			if s.tryAdd(l, startToken) {
				h.mu.Unlock()
				return nil
			}
		}
		if opening != nil {
			h.mu.Unlock()
			select {
			case <-opening:
				continue // open, or failed and gone: look again
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		s := newStream(h, key, coll, cfg, startToken)
		opened := make(chan struct{})
		s.opened = opened
		h.streams[key] = append(h.streams[key], s)
		h.mu.Unlock()

		err := s.openInitial(ctx)

		h.mu.Lock()
		s.opened = nil
		if err != nil {
			h.unregister(s)
		} else {
			s.listeners = []*core{l}
			l.stream = s
			l.reconnectBase = 0
		}
		h.mu.Unlock()
		close(opened)
		if err != nil {
			s.cancel()
			return err
		}
		go s.run()
		return nil
	}
}

// unregister removes s from the hub's index. The caller holds h.mu.
func (h *Hub) unregister(s *stream) {
	ss := h.streams[s.key]
	if i := slices.Index(ss, s); i >= 0 {
		ss = slices.Delete(slices.Clone(ss), i, i+1)
	}
	if len(ss) == 0 {
		delete(h.streams, s.key)
	} else {
		h.streams[s.key] = ss
	}
}

// leave detaches l; the last listener out stops the stream and waits for
// its goroutine.
func (h *Hub) leave(s *stream, l *core) {
	h.mu.Lock()
	last := s.remove(l)
	if last {
		h.unregister(s)
	}
	h.mu.Unlock()
	if last {
		s.cancel()
		<-s.done
	}
}
