package lease

import (
	"context"
	"errors"
	"time"
)

var (
	// ErrHeld means another holder has the lease.
	ErrHeld = errors.New("lease: held by another holder")
	// ErrLost means the grant is no longer the lease's current one: it
	// expired, or another holder acquired it since.
	ErrLost = errors.New("lease: lost")
)

// Grant is a held lease.
type Grant struct {
	// Name is the lease's name and Holder who holds it.
	Name, Holder string
	// Token is the fencing token: greater than every token handed out for
	// Name before.
	Token uint64
	// Deadline is when the holder must stop acting on the lease unless it
	// renewed it (holder's monotonic clock; see the package doc).
	Deadline time.Time
}

// Valid reports whether now is before the grant's deadline.
func (g Grant) Valid(now time.Time) bool { return now.Before(g.Deadline) }

// Lease hands out grants of named leases. Implementations are safe for
// concurrent use.
type Lease interface {
	// Acquire takes name for holder for ttl, or fails with ErrHeld. A
	// holder that already holds name gets a fresh grant (and token).
	Acquire(ctx context.Context, name, holder string, ttl time.Duration) (Grant, error)
	// Renew extends g by ttl from now, or fails with ErrLost.
	Renew(ctx context.Context, g Grant, ttl time.Duration) (Grant, error)
	// Release gives g up at once (nil if it was already lost).
	Release(ctx context.Context, g Grant) error
}

// DriftMargin is the part of each TTL a holder gives up to clock rate
// differences between it and the lease server: its Deadline is
// sent + ttl*(1-DriftMargin).
const DriftMargin = 0.05

// DeadlineFor is the deadline of a grant requested at sent for ttl.
func DeadlineFor(sent time.Time, ttl time.Duration) time.Time {
	return sent.Add(ttl - time.Duration(float64(ttl)*DriftMargin))
}
