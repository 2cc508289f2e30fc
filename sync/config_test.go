package sync

import (
	"context"
	"errors"
	"strings"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
)

func TestConfigValidate(t *testing.T) {
	// Databases are never contacted by New, so unconnected clients do.
	client, err := mongo.Connect()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = client.Disconnect(context.Background()) })
	local, remote := client.Database("l"), client.Database("r")
	ok := Config{Local: local, Remote: remote, Collections: []string{"books"}}
	cases := []struct {
		name string
		edit func(*Config)
		want string
	}{
		{"no local", func(c *Config) { c.Local = nil }, "Local database is nil"},
		{"no remote", func(c *Config) { c.Remote = nil }, "Remote database is nil"},
		{"same db", func(c *Config) { c.Remote = local }, `same database "l"`},
		{"no collections", func(c *Config) { c.Collections = nil }, "Collections is empty"},
		{"empty name", func(c *Config) { c.Collections = []string{""} }, "Collections[0]: collection name is empty"},
		{"dollar", func(c *Config) { c.Collections = []string{"a$b"} }, `"a$b" contains '$'`},
		{"nul", func(c *Config) { c.Collections = []string{"a\x00"} }, "NUL"},
		{"system", func(c *Config) { c.Collections = []string{"system.views"} }, "system collection"},
		{"reserved", func(c *Config) { c.Collections = []string{"_mongotide_sync_docs"} }, "reserved for sync metadata"},
		{"too long", func(c *Config) { c.Collections = []string{strings.Repeat("x", 201)} }, "at most 200"},
		{"duplicate", func(c *Config) { c.Collections = []string{"a", "a"} }, `Collections[1]: "a" is listed twice`},
		{"batch", func(c *Config) { c.BatchSize = -1 }, "BatchSize is -1"},
		{"policy", func(c *Config) { c.Conflict = 42 }, "not a known policy"},
		{"owner empty", func(c *Config) { c.Owner = &Owner{} }, "set Field and Value, or Func"},
		{"owner both", func(c *Config) {
			c.Owner = &Owner{Field: "o", Value: 1, Func: func(bson.Raw) (bool, error) { return true, nil }}
		}, "not both"},
		{"owner nil value", func(c *Config) { c.Owner = &Owner{Field: "o"} }, `Value for field "o" is nil`},
		{"owner _id", func(c *Config) { c.Owner = &Owner{Field: "_id", Value: 1} }, "cannot be _id"},
		{"custom without resolve", func(c *Config) { c.Conflict = Custom }, "Resolve is nil"},
		{"resolve without custom", func(c *Config) {
			c.Resolve = func(context.Context, Conflict) (bson.Raw, error) { return nil, nil }
		}, "Resolve needs Custom"},
		{"replica", func(c *Config) { c.ReplicaID = RemoteReplica }, "reserved for remote writes"},
		{"negative upload rate", func(c *Config) { c.UploadRate = -1 }, "UploadRate is -1"},
		{"burst without rate", func(c *Config) { c.UploadBurst = 5 }, "UploadBurst is 5 but UploadRate is 0"},
		{"negative burst", func(c *Config) { c.UploadRate = 1; c.UploadBurst = -2 }, "UploadBurst is -2"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := ok
			tc.edit(&cfg)
			_, err := New(cfg)
			if !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("New: %v, want ErrInvalidConfig mentioning %q", err, tc.want)
			}
		})
	}
	if _, err := New(ok); err != nil {
		t.Fatalf("valid config refused: %v", err)
	}
	d := Config{}.WithDefaults()
	if d.BatchSize != 500 || d.Backoff == nil || d.Logger == nil || d.Conflict != LastWriterWins {
		t.Fatalf("defaults = %+v", d)
	}
}
