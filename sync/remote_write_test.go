package sync

import (
	"context"
	"errors"
	"strings"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
)

// TestWriterConfigValidate: NewRemoteWriter refuses what New refuses of
// the same fields, and Apply refuses edits it cannot version, before
// touching the database. (Its behaviour against a database is tested
// through package gateway's push tests, with a Syncer on the same remote.)
func TestWriterConfigValidate(t *testing.T) {
	// Databases are never contacted here, so an unconnected client does.
	client, err := mongo.Connect()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = client.Disconnect(context.Background()) })
	remote := client.Database("r")
	resolve := func(context.Context, Conflict) (bson.Raw, error) { return nil, nil }
	for _, c := range []struct {
		name string
		cfg  WriterConfig
		want string
	}{
		{"no remote", WriterConfig{}, "Remote database is nil"},
		{"custom without Resolve", WriterConfig{Remote: remote, Conflict: Custom}, "Resolve is nil"},
		{"Resolve without custom", WriterConfig{Remote: remote, Resolve: resolve}, "Resolve needs Custom"},
		{"unknown policy", WriterConfig{Remote: remote, Conflict: 42}, "not a known policy"},
		{"retention", WriterConfig{Remote: remote, Retention: -1}, "Retention is -1ns"},
	} {
		_, err := NewRemoteWriter(c.cfg)
		if !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want ErrInvalidConfig naming %q", c.name, err, c.want)
		}
	}
	w, err := NewRemoteWriter(WriterConfig{Remote: remote, Conflict: Custom, Resolve: resolve})
	if err != nil {
		t.Fatal(err)
	}
	edit := func(context.Context, bson.Raw) (bson.Raw, error) { return nil, nil }
	for _, e := range []RemoteEdit{
		{Collection: "c", Replica: "", Edit: edit},
		{Collection: "c", Replica: RemoteReplica, Edit: edit},
		{Collection: "c", Replica: "client"},
	} {
		if _, err := w.Apply(context.Background(), e); err == nil {
			t.Errorf("Apply(%+v) accepted", e)
		}
	}
	if ContentHash(nil) != AbsentHash || ContentHash(bson.Raw{5, 0, 0, 0, 0}) == AbsentHash {
		t.Errorf("ContentHash of nil %q, of {} %q", ContentHash(nil), ContentHash(bson.Raw{5, 0, 0, 0, 0}))
	}
}
