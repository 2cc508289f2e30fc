package sync

import (
	"context"
	"fmt"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// A replaced the document, B edited it later, then A replaced it again,
// all while both syncers were stopped. A's first event finds the document
// already at its second content: that content must go up with the second
// write's time (later than B's edit), not the first's.
func TestSupersededEventDoesNotBackdateALaterWrite(t *testing.T) {
	for _, tc := range []struct {
		name  string
		first pairOp
	}{
		{"replace then replace", opReplace(bson.D{{Key: "_id", Value: 1}, {Key: "v", Value: "A1"}})},
		{"delete then reinsert", opDelete(1)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := testCtx(t)
			e := newPairEnv(t, ctx, LastWriterWins)
			if err := tc.first(ctx, e.la); err != nil {
				t.Fatal(err)
			}
			clockOf(t).Advance()
			if err := opSet(1, bson.D{{Key: "v", Value: "B"}})(ctx, e.lb); err != nil {
				t.Fatal(err)
			}
			clockOf(t).Advance()
			second := func(ctx context.Context, c *mongo.Collection) error {
				_, err := c.ReplaceOne(ctx, bson.D{{Key: "_id", Value: 1}}, bson.D{{Key: "_id", Value: 1}, {Key: "v", Value: "A2"}},
					optionsUpsert())
				return err
			}
			if err := second(ctx, e.la); err != nil {
				t.Fatal(err)
			}
			if err := e.b.Start(ctx); err != nil {
				t.Fatal(err)
			}
			eventually(t, "B uploaded", func() (bool, string) {
				m := findOne(t, ctx, e.rc, 1)
				return m != nil && m["v"] == "B", fmt.Sprintf("%v", m)
			})
			if err := e.a.Start(ctx); err != nil {
				t.Fatal(err)
			}
			e.converged(t, ctx, mustRaw(t, bson.D{{Key: "_id", Value: 1}, {Key: "v", Value: "A2"}}), e.a, e.b)
			list, err := e.a.Conflicts(ctx, "c")
			if err != nil || len(list) != 1 || list[0].Kept != LocalSide {
				t.Fatalf("conflicts = %+v, %v; want A's later write kept", list, err)
			}
		})
	}
}

func optionsUpsert() *options.ReplaceOptionsBuilder { return options.Replace().SetUpsert(true) }
