package sync

import (
	"context"
	"math"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"
)

// uploadLimiter paces uploads to Config.UploadRate, so that a device back
// online after a long outage drains its queue at a rate the remote was sized
// for instead of all at once. It is a token bucket (golang.org/x/time/rate)
// shared by every collection's upload direction and by reconciliation; a
// nil *uploadLimiter lets everything through.
//
// Only uploads are paced: downloads write the local database, which belongs
// to this device, and a slow download would only make the device staler.
type uploadLimiter struct {
	lim *rate.Limiter
	// waiting counts uploads blocked on the bucket right now; waited is the
	// total time they spent there and throttled how many had to wait.
	waiting   atomic.Int32
	waited    atomic.Int64 // nanoseconds
	throttled atomic.Uint64
}

// newUploadLimiter returns nil when ratePerSec is 0 (unlimited).
func newUploadLimiter(ratePerSec float64, burst int) *uploadLimiter {
	if ratePerSec == 0 {
		return nil
	}
	return &uploadLimiter{lim: rate.NewLimiter(rate.Limit(ratePerSec), burst)}
}

// wait blocks until one upload may go, or ctx ends.
func (u *uploadLimiter) wait(ctx context.Context) error {
	if u == nil {
		return nil
	}
	r := u.lim.Reserve()
	d := r.Delay()
	if d == 0 {
		return nil
	}
	u.throttled.Add(1)
	u.waiting.Add(1)
	defer u.waiting.Add(-1)
	start := time.Now()
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		u.waited.Add(int64(time.Since(start)))
		return nil
	case <-ctx.Done():
		// Give the token back: the upload did not happen, and a stopped
		// syncer's reservations must not slow its next run.
		r.Cancel()
		u.waited.Add(int64(time.Since(start)))
		return ctx.Err()
	}
}

// UploadRateStatus reports the upload rate limit (Config.UploadRate).
type UploadRateStatus struct {
	// Limit and Burst are the configured rate (uploads per second) and
	// bucket size; Limit 0 means unlimited (the rest is then zero).
	Limit float64
	Burst int
	// Waiting counts uploads held back by the limit right now; Throttled
	// counts every upload that had to wait since Start, and Waited is the
	// total time they waited.
	Waiting   int
	Throttled uint64
	Waited    time.Duration
}

func (u *uploadLimiter) status() UploadRateStatus {
	if u == nil {
		return UploadRateStatus{}
	}
	return UploadRateStatus{
		Limit:     float64(u.lim.Limit()),
		Burst:     u.lim.Burst(),
		Waiting:   int(u.waiting.Load()),
		Throttled: u.throttled.Load(),
		Waited:    time.Duration(u.waited.Load()),
	}
}

// defaultUploadBurst is one second's worth of uploads, at least one.
func defaultUploadBurst(ratePerSec float64) int {
	return int(math.Max(1, math.Ceil(ratePerSec)))
}
