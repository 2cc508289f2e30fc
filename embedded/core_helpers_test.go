package embedded_test

import (
	"context"
	"errors"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
)

func runCmd(t *testing.T, db *mongo.Database, cmd bson.D) bson.M {
	t.Helper()
	var res bson.M
	if err := db.RunCommand(context.Background(), cmd).Decode(&res); err != nil {
		t.Fatalf("%v: %v", cmd[0].Key, err)
	}
	return res
}

func cmdErr(t *testing.T, err error) mongo.CommandError {
	t.Helper()
	var ce mongo.CommandError
	if !errors.As(err, &ce) {
		t.Fatalf("error %v (%T) is not a CommandError", err, err)
	}
	return ce
}

func setFailPoint(t *testing.T, c *mongo.Client, fp bson.D) {
	t.Helper()
	runCmd(t, c.Database("admin"), fp)
	t.Cleanup(func() {
		_ = c.Database("admin").RunCommand(context.Background(),
			bson.D{{Key: "configureFailPoint", Value: fp[0].Value}, {Key: "mode", Value: "off"}}).Err()
	})
}

// toM converts a decoded sub-document (bson.D inside a bson.M) to a map.
func toM(v any) (bson.M, bool) {
	switch d := v.(type) {
	case bson.M:
		return d, true
	case bson.D:
		m := bson.M{}
		for _, e := range d {
			m[e.Key] = e.Value
		}
		return m, true
	}
	return nil, false
}
