package listen_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mongotide/mongotide/internal/testenv"
	"github.com/mongotide/mongotide/listen"
	"go.mongodb.org/mongo-driver/v2/event"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

func TestThousandListenersShareOneCursor(t *testing.T) {
	var aggregates atomic.Int64
	mon := &event.CommandMonitor{Started: func(_ context.Context, e *event.CommandStartedEvent) {
		if e.CommandName == "aggregate" && strings.Contains(e.Command.String(), "$changeStream") {
			aggregates.Add(1)
		}
	}}
	client := testenv.ClientWith(t, options.Client().SetMonitor(mon))
	coll := newColl(t, client)
	hub := listen.NewHub()
	const listeners, events = 1000, 3
	var delivered atomic.Int64
	var mu sync.Mutex
	perListener := make([]int, listeners)
	subs := make([]*listen.Subscription, listeners)
	for i := range subs {
		i := i
		sub, err := listen.Listen[Book](context.Background(), coll, func(context.Context, string, *listen.ChangeEvent[Book]) error {
			mu.Lock()
			perListener[i]++
			mu.Unlock()
			delivered.Add(1)
			return nil
		}, listen.WithHub(hub))
		if err != nil {
			t.Fatal(err)
		}
		subs[i] = sub
	}
	insertN(t, coll, 0, events)
	testenv.Eventually(t, waitTimeout, "every listener to get every event", func() bool { return delivered.Load() == listeners*events })
	if n := aggregates.Load(); n != 1 {
		t.Fatalf("%d change-stream aggregates for %d listeners, want 1", n, listeners)
	}
	if hub.StreamCount() != 1 {
		t.Fatalf("hub holds %d streams", hub.StreamCount())
	}
	for i, n := range perListener {
		if n != events {
			t.Fatalf("listener %d got %d events", i, n)
		}
	}
	for _, s := range subs {
		if err := s.Unsubscribe(); err != nil {
			t.Fatal(err)
		}
	}
	if hub.StreamCount() != 0 {
		t.Fatalf("hub still holds %d streams after every listener left", hub.StreamCount())
	}
}

func TestSlowListenerFailDoesNotHoldOthersBack(t *testing.T) {
	coll := newColl(t, testenv.Client(t))
	hub := listen.NewHub()
	release := make(chan struct{})
	var fast recorder
	slow := mustListen(t, coll, func(ctx context.Context, _ string, _ *listen.ChangeEvent[Book]) error {
		<-release
		return nil
	}, listen.WithHub(hub), listen.WithBufferSize(2), listen.WithSlowListenerPolicy(listen.SlowListenerFail))
	mustListen(t, coll, fast.handle, listen.WithHub(hub))
	insertN(t, coll, 0, 10)
	// The fast listener gets everything while the slow handler is stuck.
	testenv.Eventually(t, waitTimeout, "the fast listener", func() bool { return fast.len() == 10 })
	close(release)
	select {
	case <-slow.Done():
	case <-time.After(15 * time.Second):
		t.Fatal("slow listener not ended")
	}
	if !errors.Is(slow.Err(), listen.ErrSlowListener) {
		t.Fatalf("slow Err = %v, want ErrSlowListener", slow.Err())
	}
}

func TestSlowListenerBlockLosesNothing(t *testing.T) {
	coll := newColl(t, testenv.Client(t))
	hub := listen.NewHub()
	var slow, fast recorder
	mustListen(t, coll, func(ctx context.Context, id string, ev *listen.ChangeEvent[Book]) error {
		time.Sleep(2 * time.Millisecond)
		return slow.handle(ctx, id, ev)
	}, listen.WithHub(hub), listen.WithBufferSize(1), listen.WithSlowListenerPolicy(listen.SlowListenerBlock))
	mustListen(t, coll, fast.handle, listen.WithHub(hub))
	insertN(t, coll, 0, 30)
	testenv.Eventually(t, waitTimeout, "both listeners", func() bool { return slow.len() == 30 && fast.len() == 30 })
	checkSequence(t, ns(slow.events()), 30)
	checkSequence(t, ns(fast.events()), 30)
}
