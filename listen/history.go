package listen

import (
	"errors"
	"fmt"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// errLoopStop tells run to stop with the reason submit already recorded.
var errLoopStop = errors.New("listen: loop stop")

// historyLost applies the listener's 286 policy. The shared stream has
// already reopened at the current time; it.gap.ToToken is its start.
func (l *core) historyLost(it *item, submit func(task) bool) error {
	if l.cfg.HistoryLost == HistoryLostFail {
		return fmt.Errorf("%w: %w", ErrHistoryLost, it.err)
	}
	gap := it.gap
	if l.pending != nil {
		gap.FromToken = l.pending
	}
	if l.pendingCT != (bson.Timestamp{}) {
		gap.FromTime = l.pendingCT
	}
	if l.cfg.OnGap != nil {
		l.cfg.OnGap(gap)
	}
	l.report(&GapError{Gap: gap})
	if l.cfg.GapHandler != nil {
		// Like a handler, but in place: nothing after the gap is
		// delivered or checkpointed before it succeeded.
		switch err := l.handle(&item{kind: itemHistoryLost, err: it.err, gap: gap}); {
		case err == errAborted:
			return errLoopStop // stopped: the checkpoint stays before the gap
		case err != nil:
			return err
		}
	}
	if l.cfg.HistoryLost == HistoryLostResnapshot {
		// The stream reopened before this read, so snapshot + tail covers
		// every write; documents changed meanwhile arrive twice.
		cur, err := l.coll.Find(l.parent, bson.D{})
		if err != nil {
			return fmt.Errorf("listen: resnapshot of %s: %w", l.coll.Name(), err)
		}
		defer cur.Close(l.parent)
		for cur.Next(l.parent) {
			seq := l.enqueue(nil, bson.Timestamp{}, false)
			if !submit(task{seq: seq, it: &item{kind: itemSnapshot, raw: clone(cur.Current)}}) {
				return errLoopStop
			}
		}
		if err := cur.Err(); err != nil {
			return fmt.Errorf("listen: resnapshot of %s: %w", l.coll.Name(), err)
		}
	}
	// The checkpoint may move to the new start once everything before it
	// (including the snapshot) has been handled.
	l.enqueue(it.gap.ToToken, bson.Timestamp{}, true)
	return nil
}
