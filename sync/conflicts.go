package sync

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// localConflictsColl is the local conflict log.
const localConflictsColl = metaPrefix + "_conflicts"

// ErrConflictNotFound is returned by RetryConflict and DismissConflict for
// an id that is not in the conflict log (never was, or already retried or
// dismissed).
var ErrConflictNotFound = errors.New("sync: conflict not found")

// Side names one side of a sync.
type Side string

const (
	// LocalSide is Config.Local.
	LocalSide Side = "local"
	// RemoteSide is Config.Remote.
	RemoteSide Side = "remote"
)

// Conflict is a concurrent edit whose losing side was overwritten. It stays
// in the conflict log (a local collection) until retried or dismissed.
type Conflict struct {
	// ID identifies the entry for RetryConflict and DismissConflict. The
	// same conflict seen twice (a redelivered change) has the same ID.
	ID         string        `bson:"_id"`
	Collection string        `bson:"coll"`
	DocumentID bson.RawValue `bson:"docId"`
	// Kept is the side whose edit won (and is now on both sides).
	Kept Side `bson:"kept"`
	// Policy is the ConflictPolicy that decided.
	Policy string `bson:"policy"`
	// Local and Remote are the two edits; nil when that edit was a delete.
	Local         bson.Raw `bson:"local,omitempty"`
	Remote        bson.Raw `bson:"remote,omitempty"`
	LocalVersion  Version  `bson:"localVersion"`
	RemoteVersion Version  `bson:"remoteVersion"`
	// At is when the conflict was resolved.
	At time.Time `bson:"at"`
}

// lost returns the document of the side that lost (nil for a delete).
func (c Conflict) lost() bson.Raw {
	if c.Kept == LocalSide {
		return c.Remote
	}
	return c.Local
}

func conflictID(coll string, id bson.RawValue, local, remote Version) string {
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%x\x00%d\x00%s\x00%d\x00%s", coll, id.Value, local.HLC, local.Replica, remote.HLC, remote.Replica)
	return hex.EncodeToString(h.Sum(nil)[:12])
}

// logConflict records c (idempotently: its ID derives from the document and
// both versions) and calls Config.OnConflict.
func (s *Syncer) logConflict(ctx context.Context, c Conflict) error {
	c.ID = conflictID(c.Collection, c.DocumentID, c.LocalVersion, c.RemoteVersion)
	c.Policy = s.cfg.Conflict.String()
	c.At = time.Now().UTC()
	coll := s.cfg.Local.Collection(localConflictsColl)
	if _, err := coll.ReplaceOne(ctx, bson.D{{Key: "_id", Value: c.ID}}, c, options.Replace().SetUpsert(true)); err != nil {
		return fmt.Errorf("sync: log conflict on %s: %w", c.Collection, err)
	}
	if s.cfg.OnConflict != nil {
		s.cfg.OnConflict(c)
	}
	return nil
}

// Conflicts lists the conflict log of collection coll (every collection
// when coll is ""), oldest first.
func (s *Syncer) Conflicts(ctx context.Context, coll string) ([]Conflict, error) {
	filter := bson.D{}
	if coll != "" {
		filter = bson.D{{Key: "coll", Value: coll}}
	}
	cur, err := s.cfg.Local.Collection(localConflictsColl).Find(ctx, filter,
		options.Find().SetSort(bson.D{{Key: "at", Value: 1}, {Key: "_id", Value: 1}}))
	if err != nil {
		return nil, fmt.Errorf("sync: list conflicts: %w", err)
	}
	var out []Conflict
	if err := cur.All(ctx, &out); err != nil {
		return nil, fmt.Errorf("sync: list conflicts: %w", err)
	}
	return out, nil
}

// RetryConflict makes the losing edit of conflict id win after all: it is
// written to the local database as a new edit (newer than everything this
// replica has seen), which then syncs to the remote like any local write,
// and the entry leaves the log.
func (s *Syncer) RetryConflict(ctx context.Context, id string) error {
	c, err := s.conflict(ctx, id)
	if err != nil {
		return err
	}
	if err := writeDoc(ctx, s.cfg.Local.Collection(c.Collection), c.DocumentID, c.lost()); err != nil {
		return fmt.Errorf("sync: retry conflict %s: %w", id, err)
	}
	return s.DismissConflict(ctx, id)
}

// DismissConflict accepts the outcome of conflict id and removes it from
// the log.
func (s *Syncer) DismissConflict(ctx context.Context, id string) error {
	res, err := s.cfg.Local.Collection(localConflictsColl).DeleteOne(ctx, bson.D{{Key: "_id", Value: id}})
	if err != nil {
		return fmt.Errorf("sync: dismiss conflict %s: %w", id, err)
	}
	if res.DeletedCount == 0 {
		return fmt.Errorf("%w: %q", ErrConflictNotFound, id)
	}
	return nil
}

func (s *Syncer) conflict(ctx context.Context, id string) (Conflict, error) {
	var c Conflict
	err := s.cfg.Local.Collection(localConflictsColl).FindOne(ctx, bson.D{{Key: "_id", Value: id}}).Decode(&c)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return c, fmt.Errorf("%w: %q", ErrConflictNotFound, id)
	}
	if err != nil {
		return c, fmt.Errorf("sync: read conflict %s: %w", id, err)
	}
	return c, nil
}
