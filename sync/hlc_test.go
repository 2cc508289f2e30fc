package sync

import (
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
)

func TestHLCNeverGoesBackwards(t *testing.T) {
	wall := time.UnixMilli(1_000_000)
	c := hlc{wall: func() time.Time { return wall }}
	a := c.Now()
	b := c.Now() // same millisecond: the logical counter moves
	if b != a+1 {
		t.Fatalf("second tick %d, want %d", b, a+1)
	}
	wall = wall.Add(-time.Hour) // clock jumps back
	if d := c.Now(); d <= b {
		t.Fatalf("tick after clock went back = %d, not after %d", d, b)
	}
	far := int64(5_000_000) << 16
	c.Observe(far)
	if e := c.Now(); e <= far {
		t.Fatalf("tick after observing %d = %d", far, e)
	}
}

func TestStampFollowsBase(t *testing.T) {
	c := hlc{wall: time.Now}
	base := Version{HLC: 100 << 16, Replica: "x"}
	if h := c.stamp(50<<16, base); h != base.HLC+1 {
		t.Fatalf("edit with a clock behind its base stamped %d, want %d", h, base.HLC+1)
	}
	if h := c.stamp(200<<16, base); h != 200<<16 {
		t.Fatalf("stamp = %d, want the event time", h)
	}
	if eventHLC(time.UnixMilli(7), bson.Timestamp{T: 1}) != 7<<16 {
		t.Fatal("wall time should win over cluster time")
	}
	if eventHLC(time.Time{}, bson.Timestamp{T: 2, I: 3}) != 2000<<16|3 {
		t.Fatal("cluster time mapping")
	}
}

func TestVersionCompare(t *testing.T) {
	a := Version{HLC: 1, Replica: "a"}
	for _, tc := range []struct {
		v, w Version
		want int
	}{
		{a, a, 0},
		{a, Version{HLC: 2, Replica: "a"}, -1},
		{Version{HLC: 2, Replica: "a"}, a, 1},
		{a, Version{HLC: 1, Replica: "b"}, -1},
	} {
		if got := tc.v.Compare(tc.w); got != tc.want {
			t.Errorf("%v.Compare(%v) = %d, want %d", tc.v, tc.w, got, tc.want)
		}
	}
}
