package embedded_test

import (
	"context"
	"errors"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/mongotide/mongotide/internal/testenv"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
)

// testDB returns a database private to the test, on a fresh client (and,
// without MONGOTIDE_TEST_URI, a fresh embedded server). It is dropped at
// the end so the tests also run unchanged against a real replica set.
func testDB(t *testing.T) *mongo.Database {
	t.Helper()
	client := testenv.Client(t)
	name := regexp.MustCompile(`[^A-Za-z0-9_]`).ReplaceAllString(t.Name(), "_")
	if len(name) > 50 {
		name = name[len(name)-50:]
	}
	db := client.Database("cmd_" + name)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = db.Drop(ctx)
	})
	return db
}

func testCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// serverError is the code and message of the first server error in err:
// a command error, or the first write error of a write exception.
func serverError(t *testing.T, err error) (int32, string) {
	t.Helper()
	var ce mongo.CommandError
	if errors.As(err, &ce) {
		return ce.Code, ce.Message
	}
	var we mongo.WriteException
	if errors.As(err, &we) && len(we.WriteErrors) > 0 {
		return int32(we.WriteErrors[0].Code), we.WriteErrors[0].Message
	}
	var be mongo.BulkWriteException
	if errors.As(err, &be) && len(be.WriteErrors) > 0 {
		return int32(be.WriteErrors[0].Code), be.WriteErrors[0].Message
	}
	t.Fatalf("want a server error, got %T: %v", err, err)
	return 0, ""
}

// wantCode fails unless err is a server error with the code and, when
// msg is not empty, a message containing msg.
func wantCode(t *testing.T, err error, code int32, msg string) {
	t.Helper()
	if err == nil {
		t.Fatalf("want error code %d, got success", code)
	}
	got, gotMsg := serverError(t, err)
	if got != code {
		t.Fatalf("want error code %d, got %d: %s", code, got, gotMsg)
	}
	if msg != "" && !strings.Contains(gotMsg, msg) {
		t.Fatalf("want message containing %q, got %q", msg, gotMsg)
	}
}

// runCmd runs a raw command and returns its reply.
func runCommand(t *testing.T, db *mongo.Database, cmd bson.D) (bson.D, error) {
	t.Helper()
	var out bson.D
	err := db.RunCommand(testCtx(t), cmd).Decode(&out)
	return out, err
}

// mustRun runs a raw command that must succeed.
func mustRun(t *testing.T, db *mongo.Database, cmd bson.D) bson.D {
	t.Helper()
	out, err := runCommand(t, db, cmd)
	if err != nil {
		t.Fatalf("%v: %v", cmd, err)
	}
	return out
}

// get returns the value of key in d.
func get(d bson.D, key string) any {
	for _, e := range d {
		if e.Key == key {
			return e.Value
		}
	}
	return nil
}

// asInt converts an int32/int64/float64 reply number.
func asInt(t *testing.T, v any) int64 {
	t.Helper()
	switch n := v.(type) {
	case int32:
		return int64(n)
	case int64:
		return n
	case float64:
		return int64(n)
	}
	t.Fatalf("not a number: %T %v", v, v)
	return 0
}

// all decodes every document of a cursor: all(t)(coll.Find(...)).
func all(t *testing.T) func(*mongo.Cursor, error) []bson.D {
	return func(cur *mongo.Cursor, err error) []bson.D {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		var out []bson.D
		if err := cur.All(testCtx(t), &out); err != nil {
			t.Fatal(err)
		}
		return out
	}
}

// ids lists the _id values of docs.
func ids(docs []bson.D) []any {
	out := make([]any, len(docs))
	for i, d := range docs {
		out[i] = get(d, "_id")
	}
	return out
}

// seed inserts docs into coll.
func seed(t *testing.T, coll *mongo.Collection, docs ...bson.D) {
	t.Helper()
	if len(docs) == 0 {
		return
	}
	if _, err := coll.InsertMany(testCtx(t), docs); err != nil {
		t.Fatal(err)
	}
}

// equalJSON compares values through their extended JSON, which keeps
// field order and numeric types visible in failures.
func wantJSON(t *testing.T, got any, want string) {
	t.Helper()
	b, err := bson.MarshalExtJSON(bson.D{{Key: "v", Value: got}}, false, false)
	if err != nil {
		t.Fatal(err)
	}
	if s := string(b); s != `{"v":`+want+`}` {
		t.Fatalf("got  %s\nwant {\"v\":%s}", s, want)
	}
}

// writeReply runs a write command and returns the server's reply even when
// it carries writeErrors (which the driver reports as a WriteException).
func writeReply(t *testing.T, db *mongo.Database, cmd bson.D) bson.D {
	t.Helper()
	out, err := runCommand(t, db, cmd)
	var we mongo.WriteException
	if errors.As(err, &we) {
		if err := bson.Unmarshal(we.Raw, &out); err != nil {
			t.Fatal(err)
		}
		return out
	}
	if err != nil {
		t.Fatalf("%v: %v", cmd, err)
	}
	return out
}
