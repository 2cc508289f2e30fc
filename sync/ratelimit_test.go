package sync

import (
	"fmt"
	gosync "sync"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// A device back online drains its queue at Config.UploadRate, not at once:
// with a bucket of one, n queued changes cannot all reach the remote sooner
// than (n-2)/rate after the remote returns (one token may have been taken by
// a retry before it returned), and Status shows the throttling.
func TestUploadRatePacesCatchUp(t *testing.T) {
	const n, perSec = 30, 20.0
	ctx := testCtx(t)
	rs := startRestartable(t, ctx)
	remote := rs.client.Database("ratelimit")
	local := newDB(t, "local")
	lc := local.Collection("c")

	var mu gosync.Mutex
	var uploads []time.Time
	s := startSyncer(t, ctx, Config{
		Local: local, Remote: remote, Collections: []string{"c"}, Backoff: fastBackoff,
		UploadRate: perSec, UploadBurst: 1,
		OnSync: func(ev SyncEvent) {
			if ev.Direction == Upload {
				mu.Lock()
				uploads = append(uploads, time.Now())
				mu.Unlock()
			}
		},
	})
	if err := s.WaitSynced(ctx); err != nil {
		t.Fatal(err)
	}
	if st, _ := s.Status(ctx); st.UploadRate.Limit != perSec || st.UploadRate.Burst != 1 {
		t.Fatalf("Status.UploadRate = %+v, want limit %v burst 1", st.UploadRate, perSec)
	}

	rs.stop(t, ctx)
	for i := 0; i < n; i++ {
		if _, err := lc.InsertOne(ctx, bson.D{{Key: "_id", Value: i}}); err != nil {
			t.Fatal(err)
		}
	}
	mu.Lock()
	uploads = nil
	mu.Unlock()
	back := time.Now()
	rs.restart(t, ctx)
	sameContents(t, ctx, lc, remote.Collection("c"), n)

	var got []time.Time
	eventually(t, "every upload reported", func() (bool, string) {
		mu.Lock()
		defer mu.Unlock()
		got = append(got[:0], uploads...)
		return len(got) >= n, fmt.Sprintf("%d of %d uploads reported", len(got), n)
	})
	minSpan := time.Duration(float64(n-2) / perSec * float64(time.Second))
	if span := got[len(got)-1].Sub(back); span < minSpan {
		t.Fatalf("%d queued uploads finished %v after the remote returned; at %v/s they need at least %v", n, span, perSec, minSpan)
	}
	st, err := s.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// How many had to wait depends on how long each upload took (one
	// slower than 1/rate finds its token ready); that some did, and for
	// about the time the limit imposes, does not.
	if st.UploadRate.Throttled == 0 || st.UploadRate.Waited <= 0 {
		t.Fatalf("Status.UploadRate = %+v, want throttled uploads and some waiting", st.UploadRate)
	}
	t.Logf("%d uploads in %v after the remote returned; %+v", n, got[len(got)-1].Sub(back), st.UploadRate)
}
