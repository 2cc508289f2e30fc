package bench

import (
	"context"
	"fmt"
	"runtime"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mongotide/mongotide/listen"
	"github.com/mongotide/mongotide/resume"
	"go.mongodb.org/mongo-driver/v2/event"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// consumer is a running change-stream consumer under measurement: raw
// driver loop or toolkit listener. onEvent is called once per event.
type consumer func(ctx context.Context, coll *mongo.Collection, onEvent func()) (stop func() error, err error)

// Raw is a hand-written driver loop: Watch, Next, Decode into a struct.
func Raw(ctx context.Context, coll *mongo.Collection, onEvent func()) (func() error, error) {
	cs, err := coll.Watch(ctx, mongo.Pipeline{})
	if err != nil {
		return nil, err
	}
	sctx, cancel := context.WithCancel(ctx)
	var decodeErr error
	done := make(chan struct{})
	go func() {
		defer close(done)
		for cs.Next(sctx) {
			var ev rawEvent
			if err := cs.Decode(&ev); err != nil {
				decodeErr = err
				return
			}
			onEvent()
		}
	}()
	return func() error {
		cancel()
		<-done
		_ = cs.Close(context.WithoutCancel(ctx))
		return decodeErr
	}, nil
}

// Toolkit is a listen.Listen[T] subscription with opts.
func Toolkit(opts ...listen.Option) consumer {
	return func(ctx context.Context, coll *mongo.Collection, onEvent func()) (func() error, error) {
		sub, err := listen.Listen[benchDoc](ctx, coll, func(context.Context, string, *listen.ChangeEvent[benchDoc]) error {
			onEvent()
			return nil
		}, opts...)
		if err != nil {
			return nil, err
		}
		return sub.Unsubscribe, nil
	}
}

// ToolkitCheckpointing is Toolkit checkpointing to store at the default
// batching, under a fresh key per run: a key reused across runs would resume
// the new collection's stream from another collection's token.
func ToolkitCheckpointing(store resume.Store) consumer {
	var runs atomic.Int64
	return func(ctx context.Context, coll *mongo.Collection, onEvent func()) (func() error, error) {
		key := fmt.Sprintf("bench-%d-%d", time.Now().UnixNano(), runs.Add(1))
		return Toolkit(listen.WithResumeStore(store, key))(ctx, coll, onEvent)
	}
}

// Throughput writes n documents (InsertMany batches) and returns how many
// events per second c delivered, from the first write to the last delivery.
func Throughput(ctx context.Context, client *mongo.Client, n int, c consumer) (perSec float64, err error) {
	coll := freshColl(client, "throughput")
	var got atomic.Int64
	stop, err := c(ctx, coll, func() { got.Add(1) })
	if err != nil {
		return 0, err
	}
	start := time.Now()
	err = insertMany(ctx, coll, 0, n)
	if err == nil {
		err = waitCount(ctx, &got, int64(n), "throughput")
	}
	elapsed := time.Since(start)
	if serr := stop(); err == nil {
		err = serr
	}
	if err != nil {
		return 0, err
	}
	return float64(n) / elapsed.Seconds(), nil
}

// Latency holds insert->handler latency percentiles.
type Latency struct {
	P50, P99 time.Duration
	Samples  int
}

// InsertLatency inserts samples documents one at a time, each after the
// previous one was delivered, and measures InsertOne start -> handler call.
func InsertLatency(ctx context.Context, client *mongo.Client, samples int, c consumer) (Latency, error) {
	coll := freshColl(client, "latency")
	seen := make(chan time.Time, 1)
	stop, err := c(ctx, coll, func() { seen <- time.Now() })
	if err != nil {
		return Latency{}, err
	}
	lat := make([]time.Duration, 0, samples)
	for i := 0; i < samples && err == nil; i++ {
		t0 := time.Now()
		if _, err = coll.InsertOne(ctx, benchDoc{ID: i}); err != nil {
			break
		}
		select {
		case t1 := <-seen:
			lat = append(lat, t1.Sub(t0))
		case <-time.After(waitTimeout):
			err = fmt.Errorf("latency: event %d not delivered within %s", i, waitTimeout)
		case <-ctx.Done():
			err = ctx.Err()
		}
	}
	if serr := stop(); err == nil {
		err = serr
	}
	if err != nil {
		return Latency{}, err
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	return Latency{P50: lat[len(lat)/2], P99: lat[len(lat)*99/100], Samples: len(lat)}, nil
}

// Fanout is the cost of delivering events to many listeners.
type Fanout struct {
	Listeners, Events int
	CmdsPerEvent      float64       // commands the listening client sent per written event
	CPUPerEvent       time.Duration // process CPU per written event
	Delivered         int64
}

// FanoutShared runs listeners toolkit listeners through one Hub (one server
// cursor) and writes events documents.
func FanoutShared(ctx context.Context, uri string, listeners, events int) (Fanout, error) {
	return fanout(ctx, uri, listeners, events, func(ctx context.Context, coll *mongo.Collection, got *atomic.Int64) (func(), error) {
		hub := listen.NewHub()
		subs := make([]*listen.Subscription, 0, listeners)
		stop := func() {
			for _, s := range subs {
				_ = s.Unsubscribe()
			}
		}
		for i := 0; i < listeners; i++ {
			s, err := listen.Listen[benchDoc](ctx, coll, func(context.Context, string, *listen.ChangeEvent[benchDoc]) error {
				got.Add(1)
				return nil
			}, listen.WithHub(hub))
			if err != nil {
				stop()
				return nil, err
			}
			subs = append(subs, s)
		}
		return stop, nil
	})
}

// FanoutRaw runs listeners raw driver cursors, one Watch each.
func FanoutRaw(ctx context.Context, uri string, listeners, events int) (Fanout, error) {
	return fanout(ctx, uri, listeners, events, func(ctx context.Context, coll *mongo.Collection, got *atomic.Int64) (func(), error) {
		var stops []func() error
		stop := func() {
			for _, s := range stops {
				_ = s()
			}
		}
		for i := 0; i < listeners; i++ {
			s, err := Raw(ctx, coll, func() { got.Add(1) })
			if err != nil {
				stop()
				return nil, err
			}
			stops = append(stops, s)
		}
		return stop, nil
	})
}

func fanout(ctx context.Context, uri string, listeners, events int, start func(context.Context, *mongo.Collection, *atomic.Int64) (func(), error)) (Fanout, error) {
	res := Fanout{Listeners: listeners, Events: events}
	var cmds atomic.Int64
	mon := &event.CommandMonitor{Started: func(context.Context, *event.CommandStartedEvent) { cmds.Add(1) }}
	client, err := mongo.Connect(options.Client().ApplyURI(uri).SetMonitor(mon).SetMaxPoolSize(uint64(2*listeners + 10)))
	if err != nil {
		return res, err
	}
	defer client.Disconnect(context.WithoutCancel(ctx))
	writer, err := mongo.Connect(options.Client().ApplyURI(uri))
	if err != nil {
		return res, err
	}
	defer writer.Disconnect(context.WithoutCancel(ctx))
	coll := freshColl(client, "fanout")
	wcoll := writer.Database(coll.Database().Name()).Collection(coll.Name())
	var got atomic.Int64
	stop, err := start(ctx, coll, &got)
	if err != nil {
		return res, err
	}
	var once sync.Once
	defer once.Do(stop)
	// Collect the setup's garbage (a thousand subscriptions or cursors)
	// now, so that neither side pays for it inside the measured window.
	runtime.GC()
	cmds.Store(0)
	cpu0 := CPUTime()
	if err := insertMany(ctx, wcoll, 0, events); err != nil {
		return res, err
	}
	if err := waitCount(ctx, &got, int64(events*listeners), "fan-out"); err != nil {
		return res, err
	}
	res.CPUPerEvent = (CPUTime() - cpu0) / time.Duration(events)
	res.CmdsPerEvent = float64(cmds.Load()) / float64(events)
	res.Delivered = got.Load()
	once.Do(stop)
	return res, nil
}
