package embeddedtest_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/mongotide/mongotide/embedded"
	"github.com/mongotide/mongotide/embedded/embeddedtest"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// Parallel tests each get a database of their own: each sees only its own
// documents, and every database is gone once its test ended.
func TestDatabasesAreUniqueAndDropped(t *testing.T) {
	ctx := context.Background()
	names := make(chan string, 20)
	t.Run("group", func(t *testing.T) {
		for i := 0; i < cap(names); i++ {
			t.Run(fmt.Sprintf("test %d", i), func(t *testing.T) {
				t.Parallel()
				db := embeddedtest.Database(t)
				names <- db.Name()
				coll := db.Collection("c")
				for j := 0; j < 10; j++ {
					if _, err := coll.InsertOne(ctx, bson.D{{Key: "_id", Value: j}, {Key: "test", Value: i}}); err != nil {
						t.Fatal(err)
					}
				}
				n, err := coll.CountDocuments(ctx, bson.D{})
				if err != nil || n != 10 {
					t.Fatalf("count = %d, %v; want this test's 10 documents only", n, err)
				}
				if n, _ := coll.CountDocuments(ctx, bson.D{{Key: "test", Value: bson.D{{Key: "$ne", Value: i}}}}); n != 0 {
					t.Fatalf("%d documents of other tests in this test's database", n)
				}
			})
		}
	})
	close(names)
	seen := map[string]bool{}
	var list []string
	for n := range names {
		if seen[n] {
			t.Fatalf("database %s given to two tests", n)
		}
		seen[n] = true
		list = append(list, n)
	}
	left, err := embeddedtest.Client(t).ListDatabaseNames(ctx, bson.D{{Key: "name", Value: bson.D{{Key: "$in", Value: list}}}})
	if err != nil {
		t.Fatal(err)
	}
	if len(left) != 0 {
		t.Fatalf("databases not dropped after their tests: %v", left)
	}
}

// A failpoint set by a test is off once the test ended.
func TestFailPointOffAfterTheTest(t *testing.T) {
	ctx := context.Background()
	coll := embeddedtest.Database(t).Collection("c")
	t.Run("with failpoint", func(t *testing.T) {
		embeddedtest.FailPoint(t, bson.D{{Key: "configureFailPoint", Value: "failCommand"}, {Key: "mode", Value: "alwaysOn"},
			{Key: "data", Value: bson.D{{Key: "failCommands", Value: bson.A{"insert"}}, {Key: "errorCode", Value: 2}}}})
		_, err := coll.InsertOne(ctx, bson.D{{Key: "_id", Value: 1}})
		var ce mongo.CommandError
		if !errors.As(err, &ce) || ce.Code != 2 {
			t.Fatalf("insert under the failpoint = %v; want error code 2", err)
		}
	})
	if _, err := coll.InsertOne(ctx, bson.D{{Key: "_id", Value: 1}}); err != nil {
		t.Fatalf("insert after the failpoint's test: %v (the failpoint outlived its test)", err)
	}
}

func TestFailPointRejectsOtherCommands(t *testing.T) {
	f := &fatalRecorder{TB: t}
	func() {
		defer func() {
			if r := recover(); r != nil && r != f {
				panic(r)
			}
		}()
		embeddedtest.FailPoint(f, bson.D{{Key: "ping", Value: 1}})
	}()
	if !strings.Contains(f.msg, "configureFailPoint") {
		t.Fatalf("FailPoint with a ping: %q", f.msg)
	}
}

// A dedicated server keeps its data across a restart on the same address;
// its failpoints touch no other server.
func TestServerRestartAndFailPoint(t *testing.T) {
	ctx := context.Background()
	s := embeddedtest.Server(t, embedded.Config{Dir: t.TempDir()})
	client := s.Client(nil)
	coll := client.Database("app").Collection("c")
	if _, err := coll.InsertOne(ctx, bson.D{{Key: "_id", Value: "kept"}}); err != nil {
		t.Fatal(err)
	}
	uri := s.URI()
	s.Restart()
	if s.URI() != uri {
		t.Fatalf("URI changed across Restart: %s, then %s", uri, s.URI())
	}
	if n, err := coll.CountDocuments(ctx, bson.D{{Key: "_id", Value: "kept"}}); err != nil || n != 1 {
		t.Fatalf("after Restart: count = %d, %v; want the document kept in Dir", n, err)
	}
	s.FailPoint(bson.D{{Key: "configureFailPoint", Value: "failCommand"}, {Key: "mode", Value: "alwaysOn"},
		{Key: "data", Value: bson.D{{Key: "failCommands", Value: bson.A{"insert"}}, {Key: "errorCode", Value: 2}}}})
	if _, err := coll.InsertOne(ctx, bson.D{}); err == nil {
		t.Fatal("insert on the server with the failpoint succeeded")
	}
	if _, err := embeddedtest.Database(t).Collection("c").InsertOne(ctx, bson.D{}); err != nil {
		t.Fatalf("the dedicated server's failpoint reached the shared server: %v", err)
	}
}

// The environment variable points an Env at another deployment: here a
// dedicated embedded server, standing in for a real one.
func TestEnvVarPointsAtADeployment(t *testing.T) {
	ctx := context.Background()
	target := embeddedtest.Server(t, embedded.Config{})
	const v = "EMBEDDEDTEST_TEST_TARGET_URI"
	t.Setenv(v, target.URI())
	env := embeddedtest.New(embeddedtest.Config{EnvVar: v})
	defer func() {
		if err := env.Close(ctx); err != nil {
			t.Error(err)
		}
	}()
	if !env.External() {
		t.Fatal("External() = false with the variable set")
	}
	var name string
	t.Run("uses it", func(t *testing.T) {
		db := env.Database(t)
		name = db.Name()
		if _, err := db.Collection("c").InsertOne(ctx, bson.D{{Key: "_id", Value: 1}}); err != nil {
			t.Fatal(err)
		}
		n, err := target.Client(nil).Database(name).Collection("c").CountDocuments(ctx, bson.D{})
		if err != nil || n != 1 {
			t.Fatalf("the target deployment holds %d documents (%v); want the test's one", n, err)
		}
	})
	left, err := target.Client(nil).ListDatabaseNames(ctx, bson.D{{Key: "name", Value: name}})
	if err != nil || len(left) != 0 {
		t.Fatalf("database %s left on the deployment: %v %v", name, left, err)
	}
}

// Close is idempotent and prompt; an Env used after Close fails the test
// with ErrClosed.
func TestEnvClose(t *testing.T) {
	ctx := context.Background()
	env := embeddedtest.New(embeddedtest.Config{})
	if _, err := env.Client(t).ListDatabaseNames(ctx, bson.D{}); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if err := env.Close(ctx); err != nil {
		t.Fatal(err)
	}
	t.Logf("Close took %v", time.Since(start))
	if err := env.Close(ctx); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, _, err := env.Open(ctx, "x"); !errors.Is(err, embeddedtest.ErrClosed) {
		t.Fatalf("Open after Close = %v, want ErrClosed", err)
	}
}

// NewClient gives a test a client of its own options, disconnected at the
// test's end; a failpoint scoped to its appName fails only its commands.
func TestNewClientScopesAFailPoint(t *testing.T) {
	ctx := context.Background()
	db := embeddedtest.Database(t)
	app := "scoped-" + db.Name()
	mine := embeddedtest.NewClient(t, options.Client().SetAppName(app)).Database(db.Name()).Collection("c")
	embeddedtest.FailPoint(t, bson.D{{Key: "configureFailPoint", Value: "failCommand"}, {Key: "mode", Value: "alwaysOn"},
		{Key: "data", Value: bson.D{{Key: "failCommands", Value: bson.A{"insert"}}, {Key: "errorCode", Value: 2}, {Key: "appName", Value: app}}}})
	if _, err := mine.InsertOne(ctx, bson.D{}); err == nil {
		t.Fatal("insert of the scoped client succeeded under its failpoint")
	}
	if _, err := db.Collection("c").InsertOne(ctx, bson.D{}); err != nil {
		t.Fatalf("insert of the shared client failed under another client's failpoint: %v", err)
	}
}

// fatalRecorder records a Fatal instead of ending the test.
type fatalRecorder struct {
	testing.TB
	msg string
}

func (f *fatalRecorder) Helper() {}
func (f *fatalRecorder) Fatal(a ...any) {
	f.msg = fmt.Sprint(a...)
	panic(f)
}
func (f *fatalRecorder) Fatalf(format string, a ...any) {
	f.msg = fmt.Sprintf(format, a...)
	panic(f)
}

// A user that may not drop databases (Atlas's readWriteAnyDatabase) gets
// the test's collections dropped instead: nothing is left behind.
func TestDatabaseDropWithoutDropDatabaseRight(t *testing.T) {
	ctx := context.Background()
	target := embeddedtest.Server(t, embedded.Config{})
	target.FailPoint(bson.D{{Key: "configureFailPoint", Value: "failCommand"}, {Key: "mode", Value: "alwaysOn"},
		{Key: "data", Value: bson.D{{Key: "failCommands", Value: bson.A{"dropDatabase"}}, {Key: "errorCode", Value: 13}}}})
	const v = "EMBEDDEDTEST_TEST_NODROP_URI"
	t.Setenv(v, target.URI())
	env := embeddedtest.New(embeddedtest.Config{EnvVar: v})
	defer env.Close(ctx)
	var name string
	t.Run("writes two collections", func(t *testing.T) {
		db := env.Database(t)
		name = db.Name()
		for _, c := range []string{"a", "b"} {
			if _, err := db.Collection(c).InsertOne(ctx, bson.D{}); err != nil {
				t.Fatal(err)
			}
		}
	})
	left, err := target.Client(nil).Database(name).ListCollectionNames(ctx, bson.D{})
	if err != nil || len(left) != 0 {
		t.Fatalf("collections left in %s: %v %v", name, left, err)
	}
}

// On a deployment without test commands (Atlas), FailPoint skips the test
// and says why, so the same suite runs there.
func TestFailPointSkipsWithoutTestCommands(t *testing.T) {
	ctx := context.Background()
	srv, err := embedded.Start(ctx, embedded.Config{}) // EnableTestCommands off, as on Atlas
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Stop(ctx)
	const v = "EMBEDDEDTEST_TEST_NOFP_URI"
	t.Setenv(v, srv.URI())
	env := embeddedtest.New(embeddedtest.Config{EnvVar: v})
	defer env.Close(ctx)
	var sub *testing.T
	t.Run("needs a failpoint", func(t *testing.T) {
		sub = t
		env.FailPoint(t, bson.D{{Key: "configureFailPoint", Value: "failCommand"}, {Key: "mode", Value: "off"}})
		t.Error("FailPoint returned on a deployment without failpoints")
	})
	if !sub.Skipped() {
		t.Fatal("the test was not skipped")
	}
}
