package engine

import (
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
)

func TestModifyIndexSurvivesARestart(t *testing.T) {
	dir := t.TempDir()
	e := openDir(t, dir, Options{})
	hour := int32(3600)
	if _, err := e.CreateIndexes(testNS, []IndexSpec{{Name: "at_1", Key: bson.D{{Key: "at", Value: int32(1)}}, ExpireAfterSeconds: &hour}}); err != nil {
		t.Fatal(err)
	}
	res, err := e.ModifyIndex(testNS, IndexMod{KeyPattern: bson.D{{Key: "at", Value: int32(1)}}, SetTTL: true, ExpireAfterSeconds: 10})
	if err != nil || res.OldExpireAfterSeconds == nil || *res.OldExpireAfterSeconds != 3600 {
		t.Fatalf("ModifyIndex: %+v %v", res, err)
	}
	if _, err := e.ModifyIndex(testNS, IndexMod{Name: "nope", SetTTL: true, ExpireAfterSeconds: 1}); errCode(err) != CodeIndexNotFound {
		t.Fatalf("unknown index: %v", err)
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	e = openDir(t, dir, Options{})
	defer e.Close()
	specs, err := e.ListIndexes(testNS)
	if err != nil || len(specs) != 2 || specs[1].ExpireAfterSeconds == nil || *specs[1].ExpireAfterSeconds != 10 {
		t.Fatalf("after restart: %+v %v", specs, err)
	}
}
