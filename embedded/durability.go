package embedded

import (
	"errors"
	"fmt"
	"time"

	"github.com/mongotide/mongotide/embedded/internal/engine"
	"go.mongodb.org/mongo-driver/v2/bson"
)

// SyncMode chooses when writes reach the disk with Config.Dir.
type SyncMode string

const (
	// SyncJournaled (the default) fsyncs the journal before acknowledging
	// a write that asks for it (writeConcern j: true, w: "majority" or
	// fsync: true) and every transaction commit; concurrent ones share one
	// fsync (group commit). Other writes are fsynced in the background every
	// CommitInterval, like mongod's commitIntervalMs; a crash of the
	// machine (not of the process) can lose that last interval of them.
	SyncJournaled SyncMode = "journaled"
	// SyncAlways fsyncs before acknowledging every write.
	SyncAlways SyncMode = "always"
)

// RepairReport is what Config.Repair dropped at Start.
type RepairReport struct {
	// Dropped describes each damaged or missing piece that was left out,
	// naming its file and offset.
	Dropped []string
}

// RepairReport returns what Config.Repair dropped when the server started
// (empty when nothing was damaged or Repair was off).
func (s *Server) RepairReport() RepairReport {
	return RepairReport{Dropped: s.engine.Repaired().Dropped}
}

func (c Config) validateDurability() error {
	switch c.Sync {
	case "", SyncJournaled, SyncAlways:
	default:
		return fmt.Errorf("%w: Sync %q is not %q or %q", ErrInvalidConfig, c.Sync, SyncJournaled, SyncAlways)
	}
	if c.CommitInterval < 0 {
		return fmt.Errorf("%w: CommitInterval %v is negative", ErrInvalidConfig, c.CommitInterval)
	}
	if c.Repair && c.Dir == "" {
		return fmt.Errorf("%w: Repair needs a Dir", ErrInvalidConfig)
	}
	return nil
}

// writeCommands are the commands whose reply waits for the fsync under
// SyncAlways.
var writeCommands = map[string]bool{
	"insert": true, "update": true, "delete": true, "findAndModify": true, "bulkWrite": true,
	"create": true, "drop": true, "dropDatabase": true, "createIndexes": true, "dropIndexes": true,
	"renameCollection": true, "collMod": true, "aggregate": true, "commitTransaction": true,
}

// wantsDurable reports whether the reply to req acknowledges its writes as
// durable: MongoDB's j: true, w: "majority" (journaled on a single node,
// writeConcernMajorityJournalDefault), fsync: true, and every transaction
// commit.
func (s *Server) wantsDurable(req *request) bool {
	if req.Name == "commitTransaction" || (s.engine.SyncAlways() && writeCommands[req.Name]) {
		return true
	}
	v, ok := lookup(req.Body, "writeConcern")
	if !ok {
		return false
	}
	wc, _ := v.(bson.D)
	for _, e := range wc {
		switch e.Key {
		case "j", "fsync":
			if b, ok := e.Value.(bool); ok && b {
				return true
			}
		case "w":
			if e.Value == "majority" {
				return true
			}
		}
	}
	return false
}

// awaitDurable holds the reply until the journal is fsynced past the
// writes it acknowledges (at once without a Dir).
func (s *Server) awaitDurable(req *request) error {
	if !s.wantsDurable(req) {
		return nil
	}
	return s.engine.WaitDurable()
}

// engineFailure names the cause when the engine stopped after a failed
// fsync: every later command fails with it rather than "closed".
func (s *Server) engineFailure(err error) error {
	if errors.Is(err, engine.ErrClosed) {
		if f := s.engine.Failure(); f != nil {
			return f
		}
	}
	return err
}

// lastWriteDoc is hello's lastWrite: the applied optime and, as majority,
// the durable one (a single node's majority commit point is its journal),
// each with the wall time of its second.
func (s *Server) lastWriteDoc(opTime bson.D, ts bson.Timestamp, now time.Time) bson.D {
	durable := s.engine.DurableTime()
	date := func(t bson.Timestamp) bson.DateTime {
		if t.T == 0 {
			return bson.NewDateTimeFromTime(now)
		}
		return bson.NewDateTimeFromTime(time.Unix(int64(t.T), 0))
	}
	return bson.D{
		{Key: "opTime", Value: opTime},
		{Key: "lastWriteDate", Value: date(ts)},
		{Key: "majorityOpTime", Value: bson.D{{Key: "ts", Value: durable}, {Key: "t", Value: int64(1)}}},
		{Key: "majorityWriteDate", Value: date(durable)},
	}
}

// DefaultCommitInterval is Config.CommitInterval's default, mongod's
// commitIntervalMs.
const DefaultCommitInterval = 100 * time.Millisecond
