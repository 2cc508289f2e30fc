package relay_test

import (
	"context"
	"errors"
	"fmt"
	"github.com/mongotide/mongotide/model"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mongotide/mongotide/internal/redistest"
	"github.com/mongotide/mongotide/listen"
	"github.com/mongotide/mongotide/relay"
	"github.com/redis/go-redis/v9"
	"go.mongodb.org/mongo-driver/v2/bson"
)

// Every change reaches a consumer group once, typed, and one document's
// changes stay in order (one consumer: partitions are read in order).
func TestPublishAndConsumeInOrder(t *testing.T) {
	e := setup(t)
	ctx := testCtx(t)
	pub := e.publisher(t, nil)
	const ids, rounds = 10, 8
	for i := range ids {
		insert(t, e.coll, Item{ID: fmt.Sprint("d", i), N: 0})
	}
	for r := 1; r <= rounds; r++ {
		for i := range ids {
			set(t, e.coll, fmt.Sprint("d", i), r)
		}
	}
	if _, err := e.coll.DeleteOne(ctx, bson.D{{Key: "_id", Value: "d3"}}); err != nil {
		t.Fatal(err)
	}
	want := ids*(rounds+1) + 1
	eventually(t, "every change published", func() (bool, string) {
		st := pub.Stats()
		return st.Published == uint64(want), fmt.Sprintf("%+v", st)
	})

	var h handled
	c, err := relay.Consume[Item](ctx, e.rdb, "g", h.handle, relay.WithStream(e.name))
	if err != nil {
		t.Fatal(err)
	}
	defer stop(t, c)
	eventually(t, "every entry handled", func() (bool, string) {
		return h.count() >= want, fmt.Sprintf("%d of %d", h.count(), want)
	})
	for tok, n := range h.tokens() {
		if n != 1 {
			t.Errorf("event %x handled %d times", tok, n)
		}
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	for i := range ids {
		got := h.byKey[fmt.Sprint("d", i)]
		wantSeq := []int{}
		for r := 0; r <= rounds; r++ {
			wantSeq = append(wantSeq, r)
		}
		if i == 3 {
			wantSeq = append(wantSeq, -1)
		}
		if fmt.Sprint(got) != fmt.Sprint(wantSeq) {
			t.Errorf("document %d: handled %v, want %v", i, got, wantSeq)
		}
	}
	// The handler returns before the entry is acked and counted.
	eventually(t, "stats: all handled and acked", func() (bool, string) {
		st, err := c.Stats(ctx)
		return err == nil && st.Handled == uint64(want) && st.Pending == 0 && st.Lag == 0, fmt.Sprintf("%+v %v", st, err)
	})
}

// Two publishers of one collection at once (a failover's overlap, or a
// misconfiguration) still put each event in the stream once: the second
// one's appends are refused by ID.
func TestTwoPublishersAppendEachEventOnce(t *testing.T) {
	e := setup(t)
	a := e.publisher(t, nil)
	b := e.publisher(t, nil)
	const n = 200
	for i := range n {
		insert(t, e.coll, Item{ID: i})
	}
	eventually(t, "both publishers saw every event", func() (bool, string) {
		sa, sb := a.Stats(), b.Stats()
		return sa.Published+sa.Duplicates == n && sb.Published+sb.Duplicates == n, fmt.Sprintf("a %+v b %+v", sa, sb)
	})
	sa, sb := a.Stats(), b.Stats()
	if sa.Published+sb.Published != n {
		t.Fatalf("published %d + %d entries for %d events", sa.Published, sb.Published, n)
	}
	if got := len(e.entries(t, 4)); got != n {
		t.Fatalf("the partitions hold %d entries, want %d", got, n)
	}
}

// A restarted publisher resumes after the newest entry in the streams: no
// event is appended twice and none is skipped, including the events written
// while it was down. When trimming has emptied the partitions it falls back
// to the meta key's (older) checkpoint, and Redis refuses the events
// between it and the last appended one.
func TestRestartResumesExactlyAfterTheLastEntry(t *testing.T) {
	e := setup(t)
	ctx := testCtx(t)
	pub := e.publisher(t, nil)
	for i := range 30 {
		insert(t, e.coll, Item{ID: i})
	}
	eventually(t, "30 published", func() (bool, string) {
		return pub.Stats().Published == 30, fmt.Sprintf("%+v", pub.Stats())
	})
	stop(t, pub)
	for i := 30; i < 40; i++ {
		insert(t, e.coll, Item{ID: i})
	}
	pub2 := e.publisher(t, nil)
	eventually(t, "the 10 written while down published", func() (bool, string) {
		return pub2.Stats().Published == 10, fmt.Sprintf("%+v", pub2.Stats())
	})
	if d := pub2.Stats().Duplicates; d != 0 {
		t.Fatalf("restart refused %d duplicates: it resumed before the last entry", d)
	}
	entries := e.entries(t, 4)
	if len(entries) != 40 {
		t.Fatalf("%d entries, want 40", len(entries))
	}
	stop(t, pub2)

	// Trimming empties every partition; the meta key points at entry 5.
	for p := range 4 {
		key := fmt.Sprintf("%s{%s:%d}", relay.DefaultKeyPrefix, e.name, p)
		if err := e.rdb.XTrimMaxLen(ctx, key, 0).Err(); err != nil {
			t.Fatal(err)
		}
	}
	meta := fmt.Sprintf("%s{%s}:meta", relay.DefaultKeyPrefix, e.name)
	tok := bson.Raw(entries[5].Values["bson"].(string)).Lookup("_id").Document()
	if err := e.rdb.HSet(ctx, meta, "id", entries[5].ID, "tok", []byte(tok)).Err(); err != nil {
		t.Fatal(err)
	}
	insert(t, e.coll, Item{ID: "new"})
	pub3 := e.publisher(t, nil)
	eventually(t, "the new event published after the refused ones", func() (bool, string) {
		st := pub3.Stats()
		return st.Published == 1 && st.Duplicates == 34, fmt.Sprintf("%+v", st)
	})
	if got := e.entries(t, 4); len(got) != 1 || !strings.Contains(bson.Raw(got[0].Values["bson"].(string)).Lookup("documentKey", "_id").String(), "new") {
		t.Fatalf("after trimming, the partitions hold %v, want only the new event", got)
	}
}

// A transaction's events share a cluster time; their entry IDs count them
// in order (sequence 0, 1, 2, ...), so they stay distinct and ordered.
func TestTransactionEventsGetOrderedIDs(t *testing.T) {
	e := setup(t)
	ctx := testCtx(t)
	pub := e.publisher(t, nil)
	sess, err := e.coll.Database().Client().StartSession()
	if err != nil {
		t.Fatal(err)
	}
	defer sess.EndSession(ctx)
	_, err = sess.WithTransaction(ctx, func(ctx context.Context) (any, error) {
		for i := range 5 {
			if _, err := e.coll.InsertOne(ctx, Item{ID: i}); err != nil {
				return nil, err
			}
		}
		return nil, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, "5 published", func() (bool, string) {
		return pub.Stats().Published == 5, fmt.Sprintf("%+v", pub.Stats())
	})
	entries := e.entries(t, 4)
	ms := strings.Split(entries[0].ID, "-")[0]
	for i, m := range entries {
		if m.ID != fmt.Sprintf("%s-%d", ms, i) {
			t.Fatalf("entry %d has ID %s, want %s-%d (one cluster time, counted)", i, m.ID, ms, i)
		}
		id := bson.Raw(m.Values["bson"].(string)).Lookup("documentKey", "_id").Int32()
		if int(id) != i {
			t.Fatalf("entry %d is the event of document %d", i, id)
		}
	}
}

// A consumer that read entries and died leaves them pending; another
// consumer of the group claims them after ClaimIdle and handles them.
func TestPendingEntriesOfADeadConsumerAreClaimed(t *testing.T) {
	e := setup(t)
	ctx := testCtx(t)
	pub := e.publisher(t, nil)
	for i := range 20 {
		insert(t, e.coll, Item{ID: i})
	}
	eventually(t, "20 published", func() (bool, string) {
		return pub.Stats().Published == 20, fmt.Sprintf("%+v", pub.Stats())
	})
	// "ghost" reads everything through the group and dies.
	for p := range 4 {
		key := fmt.Sprintf("%s{%s:%d}", relay.DefaultKeyPrefix, e.name, p)
		if err := e.rdb.XGroupCreateMkStream(ctx, key, "g", "0").Err(); err != nil {
			t.Fatal(err)
		}
		if err := e.rdb.XReadGroup(ctx, &redis.XReadGroupArgs{Group: "g", Consumer: "ghost", Streams: []string{key, ">"}, Count: 100, Block: -1}).Err(); err != nil && !errors.Is(err, redis.Nil) {
			t.Fatal(err)
		}
	}
	var h handled
	c, err := relay.Consume[Item](ctx, e.rdb, "g", h.handle, relay.WithStream(e.name),
		relay.WithClaimIdle(200*time.Millisecond), relay.WithClaimInterval(50*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer stop(t, c)
	eventually(t, "the ghost's 20 entries handled", func() (bool, string) {
		return h.count() == 20, fmt.Sprintf("%d handled", h.count())
	})
	eventually(t, "stats: 20 claimed, none pending", func() (bool, string) {
		st, err := c.Stats(ctx)
		return err == nil && st.Claimed == 20 && st.Pending == 0, fmt.Sprintf("%+v %v", st, err)
	})
}

// An entry whose handler keeps failing is redelivered, then moved to the
// partition's dead-letter stream with the reason, and acknowledged; the
// other entries are not held up.
func TestFailingEntryIsDeadLettered(t *testing.T) {
	e := setup(t)
	ctx := testCtx(t)
	pub := e.publisher(t, nil)
	for i := range 10 {
		insert(t, e.coll, Item{ID: fmt.Sprint("d", i)})
	}
	eventually(t, "10 published", func() (bool, string) {
		return pub.Stats().Published == 10, fmt.Sprintf("%+v", pub.Stats())
	})
	var h handled
	calls := map[string]int{}
	failing := func(ctx context.Context, id string, ev *listen.ChangeEvent[Item]) error {
		if id == "d7" {
			h.mu.Lock()
			calls[id]++
			h.mu.Unlock()
			return errors.New("poison")
		}
		return h.handle(ctx, id, ev)
	}
	var errs []error
	var errMu = &h.mu
	c, err := relay.Consume[Item](ctx, e.rdb, "g", failing, relay.WithStream(e.name),
		relay.WithAttempts(2), relay.WithHandlerBackoff(func() backoffT { return zeroBackoff{} }),
		relay.WithMaxDeliveries(3), relay.WithClaimIdle(100*time.Millisecond), relay.WithClaimInterval(30*time.Millisecond),
		relay.WithOnError(func(err error) { errMu.Lock(); errs = append(errs, err); errMu.Unlock() }))
	if err != nil {
		t.Fatal(err)
	}
	defer stop(t, c)
	eventually(t, "9 handled and the poison entry dead-lettered", func() (bool, string) {
		st, err := c.Stats(ctx)
		return err == nil && h.count() == 9 && st.DeadLettered == 1 && st.Pending == 0, fmt.Sprintf("%d handled, %+v, %v", h.count(), st, err)
	})
	h.mu.Lock()
	// 3 deliveries (the first read, two claims) of 2 attempts each.
	if calls["d7"] != 6 {
		t.Errorf("poison handler called %d times, want 6", calls["d7"])
	}
	h.mu.Unlock()
	var dead []redis.XMessage
	for p := range 4 {
		key := fmt.Sprintf("%s{%s:%d}:dead", relay.DefaultKeyPrefix, e.name, p)
		msgs, err := e.rdb.XRange(ctx, key, "-", "+").Result()
		if err != nil {
			t.Fatal(err)
		}
		dead = append(dead, msgs...)
	}
	if len(dead) != 1 || !strings.Contains(dead[0].Values["reason"].(string), "too many times") || dead[0].Values["tries"] != "4" {
		t.Fatalf("dead-letter entries %v, want one with the reason and 4 deliveries", dead)
	}
}

// Relaxed extended JSON entries decode into the same typed events, for
// the types JSON keeps (strings, ObjectIDs, dates, documents).
func TestRelaxedJSONFormat(t *testing.T) {
	e := setup(t)
	ctx := testCtx(t)
	pub := e.publisher(t, func(c *relay.PublisherConfig) { c.Format = relay.FormatRelaxedJSON })
	oid := bson.NewObjectID()
	insert(t, e.coll, Item{ID: oid, N: 7, S: "héllo"})
	eventually(t, "published", func() (bool, string) { return pub.Stats().Published == 1, "" })
	ev := e.entries(t, 4)[0].Values["json"].(string)
	if !strings.HasPrefix(ev, "{") || !strings.Contains(ev, oid.Hex()) {
		t.Fatalf("entry is not relaxed JSON: %q", ev)
	}
	var h handled
	c, err := relay.Consume[Item](ctx, e.rdb, "g", h.handle, relay.WithStream(e.name))
	if err != nil {
		t.Fatal(err)
	}
	defer stop(t, c)
	eventually(t, "handled", func() (bool, string) { return h.count() == 1, "" })
	h.mu.Lock()
	defer h.mu.Unlock()
	got := h.evs[0]
	if got.FullDocument == nil || got.FullDocument.ID != oid || got.FullDocument.N != 7 || got.FullDocument.S != "héllo" || got.OperationType != listen.Insert {
		t.Fatalf("decoded %+v (doc %+v)", got, got.FullDocument)
	}
}

func TestPartitionCountIsFixed(t *testing.T) {
	e := setup(t)
	e.publisher(t, nil) // 4 partitions
	p, err := relay.NewPublisher(relay.PublisherConfig{Collection: e.coll, Redis: e.rdb, Partitions: 8})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Start(testCtx(t)); !errors.Is(err, relay.ErrPartitionsMismatch) {
		t.Fatalf("Start with 8 partitions on a 4-partition relay: %v, want ErrPartitionsMismatch", err)
	}
}

func TestConfigErrorsNameTheOption(t *testing.T) {
	e := setup(t)
	for _, tc := range []struct {
		cfg  relay.PublisherConfig
		want string
	}{
		{relay.PublisherConfig{Redis: e.rdb}, "Collection is nil"},
		{relay.PublisherConfig{Collection: e.coll}, "Redis is nil"},
		{relay.PublisherConfig{Collection: e.coll, Redis: e.rdb, Name: "a{b}"}, "brace"},
		{relay.PublisherConfig{Collection: e.coll, Redis: e.rdb, Partitions: -1}, "Partitions is -1"},
		{relay.PublisherConfig{Collection: e.coll, Redis: e.rdb, Format: 9}, "Format is"},
	} {
		_, err := relay.NewPublisher(tc.cfg)
		if !errors.Is(err, relay.ErrInvalidConfig) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("NewPublisher: %v, want ErrInvalidConfig naming %q", err, tc.want)
		}
	}
	noop := func(context.Context, string, *listen.ChangeEvent[Item]) error { return nil }
	if _, err := relay.Consume[Item](testCtx(t), e.rdb, "g", noop); !errors.Is(err, relay.ErrInvalidConfig) || !strings.Contains(err.Error(), "WithStream") {
		t.Errorf("Consume without a stream: %v", err)
	}
	short, cancel := context.WithTimeout(testCtx(t), 300*time.Millisecond)
	defer cancel()
	if _, err := relay.Consume[Item](short, e.rdb, "g", noop, relay.WithStream("nope")); !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "start its publisher first") {
		t.Errorf("Consume of an unknown relay: %v", err)
	}
}

// On a 3-master Redis Cluster, partitions spread over the masters (each
// has its own hash tag), publishing and consuming work the same, and
// duplicates are still refused.
func TestRedisCluster(t *testing.T) {
	cluster := redistest.StartCluster(t, 3)
	rdb := cluster.Client(t)
	e := setup(t)
	ctx := testCtx(t)
	cfg := relay.PublisherConfig{Collection: e.coll, Redis: rdb, Partitions: 8}
	start := func() *relay.Publisher {
		p, err := relay.NewPublisher(cfg)
		if err != nil {
			t.Fatal(err)
		}
		if err := p.Start(ctx); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = p.Stop(context.Background()) })
		return p
	}
	a, b := start(), start()
	for i := range 100 {
		insert(t, e.coll, Item{ID: fmt.Sprint("d", i)})
	}
	eventually(t, "both publishers saw every event", func() (bool, string) {
		sa, sb := a.Stats(), b.Stats()
		return sa.Published+sa.Duplicates == 100 && sb.Published+sb.Duplicates == 100, fmt.Sprintf("a %+v b %+v", sa, sb)
	})
	if sa, sb := a.Stats(), b.Stats(); sa.Published+sb.Published != 100 {
		t.Fatalf("%d + %d entries appended for 100 events", sa.Published, sb.Published)
	}
	nodes := map[string]bool{}
	total := int64(0)
	for p := range 8 {
		key := fmt.Sprintf("%s{%s:%d}", relay.DefaultKeyPrefix, e.name, p)
		n, err := rdb.XLen(ctx, key).Result()
		if err != nil {
			t.Fatal(err)
		}
		total += n
		slot, err := rdb.ClusterKeySlot(ctx, key).Result()
		if err != nil {
			t.Fatal(err)
		}
		slots, err := rdb.ClusterSlots(ctx).Result()
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range slots {
			if int64(s.Start) <= slot && slot <= int64(s.End) {
				nodes[s.Nodes[0].Addr] = true
			}
		}
	}
	if total != 100 || len(nodes) < 2 {
		t.Fatalf("%d entries over %d masters, want 100 over at least 2", total, len(nodes))
	}
	var h handled
	c, err := relay.Consume[Item](ctx, rdb, "g", h.handle, relay.WithStream(e.name))
	if err != nil {
		t.Fatal(err)
	}
	defer stop(t, c)
	eventually(t, "every entry handled", func() (bool, string) {
		st, err := c.Stats(ctx)
		return err == nil && st.Handled == 100 && st.Pending == 0, fmt.Sprintf("%+v %v", st, err)
	})
}

// A model's listening methods through a relay: the same handlers, each
// group seeing only its operation types.
func TestModelThroughRelay(t *testing.T) {
	e := setup(t)
	ctx := testCtx(t)
	e.publisher(t, func(c *relay.PublisherConfig) {
		c.ListenOptions = append(c.ListenOptions, listen.WithFullDocument(options.UpdateLookup))
	})
	m := model.New[Item](e.coll)
	src := relay.ForModel(m, e.rdb, "api")
	var mu = &sync.Mutex{}
	var inserted, deleted []string
	var updated []int
	ins, err := src.ListenForInserts(ctx, func(_ context.Context, id string, doc Item) error {
		mu.Lock()
		defer mu.Unlock()
		inserted = append(inserted, id+":"+doc.S)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	defer stop(t, ins)
	// Each listening method is its own consumer group here (one group per
	// method, as each model listener has its own stream position).
	upd, err := relay.ForModel(m, e.rdb, "api-updates").ListenForUpdates(ctx, func(_ context.Context, _ string, ev *listen.ChangeEvent[Item]) error {
		mu.Lock()
		defer mu.Unlock()
		if ev.FullDocument == nil {
			return fmt.Errorf("update of %s without its document", ev.DocumentKey)
		}
		updated = append(updated, ev.FullDocument.N)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	defer stop(t, upd)
	del, err := relay.ForModel(m, e.rdb, "api-deletes").ListenForDeletes(ctx, func(_ context.Context, id string) error {
		mu.Lock()
		defer mu.Unlock()
		deleted = append(deleted, id)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	defer stop(t, del)
	if _, err := m.Create(ctx, Item{ID: "a", S: "x"}); err != nil {
		t.Fatal(err)
	}
	if err := m.Update(ctx, "a", bson.D{{Key: "$set", Value: bson.D{{Key: "n", Value: 5}}}}); err != nil {
		t.Fatal(err)
	}
	// The update's document is looked up when the publisher reads it:
	// delete only after that, or the lookup finds nothing.
	eventually(t, "the update handled", func() (bool, string) {
		mu.Lock()
		defer mu.Unlock()
		return len(updated) == 1, fmt.Sprint(updated)
	})
	if err := m.Delete(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	eventually(t, "each listener saw its change", func() (bool, string) {
		mu.Lock()
		defer mu.Unlock()
		return fmt.Sprint(inserted, updated, deleted) == "[a:x] [5] [a]", fmt.Sprint(inserted, updated, deleted)
	})
}

// A consumer may start before the relay's first publisher: Consume waits
// for the relay to exist, then reads from its start.
func TestConsumerStartsBeforeThePublisher(t *testing.T) {
	e := setup(t)
	ctx := testCtx(t)
	var h handled
	type result struct {
		c   *relay.Consumer
		err error
	}
	started := make(chan result, 1)
	go func() {
		c, err := relay.Consume[Item](ctx, e.rdb, "early", h.handle, relay.WithStream(e.name))
		started <- result{c, err}
	}()
	pub := e.publisher(t, nil)
	r := <-started
	if r.err != nil {
		t.Fatal(r.err)
	}
	defer stop(t, r.c)
	for i := range 5 {
		insert(t, e.coll, Item{ID: fmt.Sprint("d", i)})
	}
	eventually(t, "the early consumer handled all 5", func() (bool, string) {
		return h.count() == 5, fmt.Sprintf("%d handled, publisher %+v", h.count(), pub.Stats())
	})
}
