package listen

import (
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
func (h *Hub) join(ctx context.Context, key streamKey, coll *mongo.Collection, cfg *Config, startToken bson.Raw, l *core) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, s := range h.streams[key] {
		if s.tryAdd(l, startToken) {
			return nil
		}
	}
	s := newStream(h, key, coll, cfg, startToken)
	if err := s.openInitial(ctx); err != nil {
		return err
	}
	s.listeners = []*core{l}
	l.stream = s
	l.reconnectBase = 0
	h.streams[key] = append(h.streams[key], s)
	go s.run()
	return nil
}

// leave detaches l; the last listener out stops the stream and waits for
// its goroutine.
func (h *Hub) leave(s *stream, l *core) {
	h.mu.Lock()
	last := s.remove(l)
	if last {
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
	h.mu.Unlock()
	if last {
		s.cancel()
		<-s.done
	}
}
