package sync

import (
	gosync "sync"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// Version orders edits of one document across replicas: a hybrid logical
// clock (HLC) and the id of the replica that made the edit. Versions compare
// by HLC, then replica id, so every replica picks the same winner.
type Version struct {
	// HLC is physical milliseconds << 16 | a logical counter.
	HLC int64 `bson:"h"`
	// Replica is the replica id of the writer; RemoteReplica for writes
	// made on the remote without mongotide.
	Replica string `bson:"r"`
}

// RemoteReplica is the replica id given to remote writes that carry no
// mongotide version (a shell, a service, an Atlas trigger).
const RemoteReplica = "remote"

// Compare returns -1, 0 or +1 as v is older than, equal to, or newer than w.
func (v Version) Compare(w Version) int {
	switch {
	case v.HLC < w.HLC:
		return -1
	case v.HLC > w.HLC:
		return 1
	case v.Replica < w.Replica:
		return -1
	case v.Replica > w.Replica:
		return 1
	}
	return 0
}

// hlc is a hybrid logical clock: it follows the wall clock but never goes
// backwards and always moves past every version it has observed, so an edit
// made after seeing another is ordered after it even when this device's
// clock is behind.
type hlc struct {
	mu   gosync.Mutex
	last int64
	wall func() time.Time
}

func (c *hlc) Now() int64 {
	pt := c.wall().UnixMilli() << 16
	c.mu.Lock()
	defer c.mu.Unlock()
	if pt > c.last {
		c.last = pt
	} else {
		c.last++
	}
	return c.last
}

func (c *hlc) Observe(h int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if h > c.last {
		c.last = h
	}
}

// eventHLC is the physical part of an edit's version: the commit time of
// its change event (wall time in milliseconds when the server sends it).
func eventHLC(wall time.Time, ts bson.Timestamp) int64 {
	if !wall.IsZero() {
		return wall.UnixMilli() << 16
	}
	return hlcFromClusterTime(ts)
}

// stamp versions an edit made on top of base and committed at physical time
// pt: it is ordered after base (it causally follows it) even when the
// writer's clock is behind base's writer.
func (c *hlc) stamp(pt int64, base Version) int64 {
	h := pt
	if h <= base.HLC {
		h = base.HLC + 1
	}
	c.Observe(h)
	return h
}

// hlcFromClusterTime maps a server cluster time onto the HLC scale, for
// remote writes that carry no version of their own.
func hlcFromClusterTime(ts bson.Timestamp) int64 {
	inc := int64(ts.I)
	if inc > 0xffff {
		inc = 0xffff
	}
	return int64(ts.T)*1000<<16 | inc
}
