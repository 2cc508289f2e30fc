package embedded_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/mongotide/mongotide/embedded"
	"github.com/mongotide/mongotide/internal/testenv"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// TestRetryableWriteReplayedNotReapplied makes the first attempt of an
// update succeed but report a retryable write-concern error: the driver
// retries with the same txnNumber and the server must answer from its
// record instead of incrementing twice.
func TestRetryableWriteReplayedNotReapplied(t *testing.T) {
	c := testenv.Client(t)
	coll := c.Database("rw").Collection("counters")
	ctx := context.Background()
	if _, err := coll.InsertOne(ctx, bson.D{{Key: "_id", Value: 1}, {Key: "n", Value: 0}}); err != nil {
		t.Fatal(err)
	}
	setFailPoint(t, c, failCommand(bson.D{{Key: "times", Value: 1}}, bson.D{
		{Key: "failCommands", Value: bson.A{"update"}},
		{Key: "writeConcernError", Value: bson.D{{Key: "code", Value: 91}, {Key: "errmsg", Value: "Replication is being shut down"}}},
	}))
	res, err := coll.UpdateOne(ctx, bson.D{{Key: "_id", Value: 1}}, bson.D{{Key: "$inc", Value: bson.D{{Key: "n", Value: 1}}}})
	if err != nil {
		t.Fatalf("retried update failed: %v", err)
	}
	if res.ModifiedCount != 1 {
		t.Fatalf("ModifiedCount = %d, want 1 (the replayed reply)", res.ModifiedCount)
	}
	var doc struct{ N int }
	if err := coll.FindOne(ctx, bson.D{{Key: "_id", Value: 1}}).Decode(&doc); err != nil {
		t.Fatal(err)
	}
	if doc.N != 1 {
		t.Fatalf("n = %d after one retried $inc, want 1", doc.N)
	}
}

func TestRetryableInsertAfterClosedConnection(t *testing.T) {
	c := testenv.Client(t)
	coll := c.Database("rw").Collection("docs")
	ctx := context.Background()
	setFailPoint(t, c, failCommand(bson.D{{Key: "times", Value: 1}}, bson.D{
		{Key: "failCommands", Value: bson.A{"insert"}}, {Key: "closeConnection", Value: true},
	}))
	if _, err := coll.InsertOne(ctx, bson.D{{Key: "k", Value: "once"}}); err != nil {
		t.Fatalf("insert with one dropped connection: %v", err)
	}
	n := countDocs(t, coll, bson.D{{Key: "k", Value: "once"}})
	if n != 1 {
		t.Fatalf("%d documents after a retried insert, want 1", n)
	}
}

// TestTxnNumberRules drives lsid/txnNumber by hand: a repeated txnNumber
// replays, an older one is refused with TransactionTooOld.
func TestTxnNumberRules(t *testing.T) {
	srv := testenv.StartEmbedded(t, embedded.Config{})
	r := dialRaw(t, srv.Addr())
	lsid := bson.D{{Key: "id", Value: bson.Binary{Subtype: 4, Data: []byte("0123456789abcdef")}}}
	insert := func(txn int64, id int) bson.Raw {
		r.msg(0, bson.D{{Key: "insert", Value: "c"}, {Key: "documents", Value: bson.A{bson.D{{Key: "_id", Value: id}}}},
			{Key: "lsid", Value: lsid}, {Key: "txnNumber", Value: txn}, {Key: "$db", Value: "rw"}})
		_, _, doc := r.read()
		return doc
	}
	if doc := insert(5, 1); doc.Lookup("ok").Double() != 1 || doc.Lookup("n").Int32() != 1 {
		t.Fatalf("first insert: %v", doc)
	}
	// Same txnNumber, different payload: the stored reply comes back and
	// nothing is inserted.
	if doc := insert(5, 2); doc.Lookup("ok").Double() != 1 || doc.Lookup("n").Int32() != 1 {
		t.Fatalf("replayed insert: %v", doc)
	}
	doc := insert(4, 3)
	if doc.Lookup("code").Int32() != 225 || doc.Lookup("codeName").StringValue() != "TransactionTooOld" {
		t.Fatalf("older txnNumber: %v, want 225 TransactionTooOld", doc)
	}
	c := testenv.Connect(t, srv.URI(), nil)
	n := countDocs(t, c.Database("rw").Collection("c"), bson.D{})
	if n != 1 {
		t.Fatalf("%d documents, want 1 (the replay and the too-old write must not insert)", n)
	}
	// txnNumber on a non-write command is refused.
	r.msg(0, bson.D{{Key: "find", Value: "c"}, {Key: "lsid", Value: lsid}, {Key: "txnNumber", Value: int64(9)}, {Key: "$db", Value: "rw"}})
	if _, _, doc := r.read(); doc.Lookup("code").Int32() != 50768 {
		t.Fatalf("find with txnNumber: %v, want 50768", doc)
	}
}

func TestTransactionCommitAndAbort(t *testing.T) {
	uri := testenv.URI(t)
	c := testenv.Connect(t, uri, nil)
	other := testenv.Connect(t, uri, nil)
	ctx := context.Background()
	coll := c.Database("tx").Collection("c")
	if err := c.Database("tx").CreateCollection(ctx, "c"); err != nil {
		t.Fatal(err)
	}
	count := func(cl *mongo.Client) int64 {
		t.Helper()
		return countDocs(t, cl.Database("tx").Collection("c"), bson.D{})
	}

	sess, err := c.StartSession()
	if err != nil {
		t.Fatal(err)
	}
	defer sess.EndSession(ctx)
	_, err = sess.WithTransaction(ctx, func(sc context.Context) (any, error) {
		if _, err := coll.InsertOne(sc, bson.D{{Key: "_id", Value: 1}}); err != nil {
			return nil, err
		}
		if _, err := coll.InsertOne(sc, bson.D{{Key: "_id", Value: 2}}); err != nil {
			return nil, err
		}
		cur, err := coll.Find(sc, bson.D{})
		if err != nil {
			return nil, err
		}
		var all []bson.Raw
		if err := cur.All(sc, &all); err != nil {
			return nil, err
		}
		inside := len(all)
		if inside != 2 {
			t.Errorf("inside the transaction: %d documents, want 2", inside)
		}
		if n := count(other); n != 0 {
			t.Errorf("outside before commit: %d documents visible, want 0", n)
		}
		return nil, nil
	})
	if err != nil {
		t.Fatalf("transaction: %v", err)
	}
	if n := count(other); n != 2 {
		t.Fatalf("after commit: %d documents, want 2", n)
	}
	// A retried commit succeeds again.
	if err := sess.CommitTransaction(ctx); err != nil {
		t.Fatalf("retried commit: %v", err)
	}

	if err := sess.StartTransaction(); err != nil {
		t.Fatal(err)
	}
	sc := mongo.NewSessionContext(ctx, sess)
	if _, err := coll.InsertOne(sc, bson.D{{Key: "_id", Value: 3}}); err != nil {
		t.Fatal(err)
	}
	if err := sess.AbortTransaction(ctx); err != nil {
		t.Fatalf("abort: %v", err)
	}
	if n := count(other); n != 2 {
		t.Fatalf("after abort: %d documents, want 2", n)
	}
}

func TestNoSuchTransaction(t *testing.T) {
	srv := testenv.StartEmbedded(t, embedded.Config{})
	r := dialRaw(t, srv.Addr())
	lsid := bson.D{{Key: "id", Value: bson.Binary{Subtype: 4, Data: []byte("fedcba9876543210")}}}
	r.msg(0, bson.D{{Key: "commitTransaction", Value: 1}, {Key: "lsid", Value: lsid}, {Key: "txnNumber", Value: int64(1)},
		{Key: "autocommit", Value: false}, {Key: "$db", Value: "admin"}})
	_, _, doc := r.read()
	if doc.Lookup("code").Int32() != 251 || !strings.Contains(doc.Lookup("errorLabels").String(), "TransientTransactionError") {
		t.Fatalf("commit of unknown txn: %v, want 251 with TransientTransactionError", doc)
	}
}

func TestCursorBatchesGetMoreAndKill(t *testing.T) {
	c := testenv.Client(t)
	ctx := context.Background()
	coll := c.Database("cur").Collection("c")
	docs := make([]any, 10)
	for i := range docs {
		docs[i] = bson.D{{Key: "_id", Value: i}}
	}
	if _, err := coll.InsertMany(ctx, docs); err != nil {
		t.Fatal(err)
	}
	cur, err := coll.Find(ctx, bson.D{}, options.Find().SetBatchSize(3).SetSort(bson.D{{Key: "_id", Value: 1}}))
	if err != nil {
		t.Fatal(err)
	}
	var got []struct {
		ID int `bson:"_id"`
	}
	if err := cur.All(ctx, &got); err != nil {
		t.Fatal(err)
	}
	if len(got) != 10 || got[9].ID != 9 {
		t.Fatalf("got %v", got)
	}
	if n := openCursors(t, c); n != 0 {
		t.Fatalf("%d cursors open after an exhausted find", n)
	}
	cur, err = coll.Find(ctx, bson.D{}, options.Find().SetBatchSize(2))
	if err != nil {
		t.Fatal(err)
	}
	if n := openCursors(t, c); n != 1 {
		t.Fatalf("%d cursors open, want 1", n)
	}
	if err := cur.Close(ctx); err != nil { // killCursors
		t.Fatal(err)
	}
	if n := openCursors(t, c); n != 0 {
		t.Fatalf("%d cursors open after Close, want 0", n)
	}
	err = c.Database("cur").RunCommand(ctx, bson.D{{Key: "getMore", Value: int64(12345)}, {Key: "collection", Value: "c"}}).Err()
	if ce := cmdErr(t, err); ce.Code != 43 {
		t.Fatalf("getMore on unknown cursor: %+v, want 43 CursorNotFound", ce)
	}
	var kc bson.M
	if err := c.Database("cur").RunCommand(ctx, bson.D{{Key: "killCursors", Value: "c"}, {Key: "cursors", Value: bson.A{int64(777)}}}).Decode(&kc); err != nil {
		t.Fatal(err)
	}
	if nf, ok := kc["cursorsNotFound"].(bson.A); !ok || len(nf) != 1 || nf[0] != int64(777) {
		t.Fatalf("killCursors reply %v", kc)
	}
}

func openCursors(t *testing.T, c *mongo.Client) int64 {
	t.Helper()
	res := runCmd(t, c.Database("admin"), bson.D{{Key: "serverStatus", Value: 1}})
	m, _ := toM(res["metrics"])
	cm, _ := toM(m["cursor"])
	om, _ := toM(cm["open"])
	n, _ := om["total"].(int64)
	return n
}

// TestCursorReapedWhenConnectionDrops: drivers send no killCursors after a
// network error, so the server must reap the cursor itself.
func TestCursorReapedWhenConnectionDrops(t *testing.T) {
	testenv.SkipIfExternal(t, "reads the embedded server's open-cursor count after a dropped connection")
	uri := testenv.URI(t)
	admin := testenv.Connect(t, uri, nil)
	app := testenv.Connect(t, uri, options.Client().SetAppName("reapme").SetRetryReads(false))
	ctx := context.Background()
	coll := app.Database("cur").Collection("reap")
	docs := make([]any, 6)
	for i := range docs {
		docs[i] = bson.D{{Key: "_id", Value: i}}
	}
	if _, err := coll.InsertMany(ctx, docs); err != nil {
		t.Fatal(err)
	}
	cur, err := coll.Find(ctx, bson.D{}, options.Find().SetBatchSize(2))
	if err != nil {
		t.Fatal(err)
	}
	defer cur.Close(ctx)
	if n := openCursors(t, admin); n != 1 {
		t.Fatalf("%d open cursors, want 1", n)
	}
	setFailPoint(t, admin, failCommand(bson.D{{Key: "times", Value: 1}}, bson.D{
		{Key: "failCommands", Value: bson.A{"getMore"}}, {Key: "closeConnection", Value: true}, {Key: "appName", Value: "reapme"},
	}))
	for cur.Next(ctx) {
	}
	var le mongo.LabeledError
	if err := cur.Err(); err == nil || !errors.As(err, &le) || !le.HasErrorLabel("NetworkError") {
		t.Fatalf("cursor error %v, want a network error", err)
	}
	testenv.Eventually(t, 5*time.Second, "the cursor of the dropped connection to be reaped", func() bool { return openCursors(t, admin) == 0 })
}

func TestLargeDocumentsSplitAcrossBatches(t *testing.T) {
	c := testenv.Client(t)
	ctx := context.Background()
	coll := c.Database("cur").Collection("big")
	// Three 6 MiB documents exceed one 16 MiB batch.
	big := strings.Repeat("x", 6<<20)
	for i := 0; i < 3; i++ {
		if _, err := coll.InsertOne(ctx, bson.D{{Key: "_id", Value: i}, {Key: "s", Value: big}}); err != nil {
			t.Fatal(err)
		}
	}
	cur, err := coll.Find(ctx, bson.D{})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for cur.Next(ctx) {
		n++
	}
	if err := cur.Err(); err != nil {
		t.Fatal(err)
	}
	if n != 3 {
		t.Fatalf("read %d of 3 large documents", n)
	}
}

// countDocs counts with find (not the aggregate behind CountDocuments), so
// these core tests do not depend on the pipeline.
func countDocs(t *testing.T, coll *mongo.Collection, filter bson.D) int64 {
	t.Helper()
	cur, err := coll.Find(context.Background(), filter)
	if err != nil {
		t.Fatal(err)
	}
	var all []bson.Raw
	if err := cur.All(context.Background(), &all); err != nil {
		t.Fatal(err)
	}
	return int64(len(all))
}

func TestKillAllSessionsAbortsTransactions(t *testing.T) {
	c := testenv.Client(t)
	ctx := context.Background()
	coll := c.Database("tx").Collection("kill")
	if err := c.Database("tx").CreateCollection(ctx, "kill"); err != nil {
		t.Fatal(err)
	}
	sess, err := c.StartSession()
	if err != nil {
		t.Fatal(err)
	}
	defer sess.EndSession(ctx)
	if err := sess.StartTransaction(); err != nil {
		t.Fatal(err)
	}
	sc := mongo.NewSessionContext(ctx, sess)
	if _, err := coll.InsertOne(sc, bson.D{{Key: "_id", Value: 1}}); err != nil {
		t.Fatal(err)
	}
	runCmd(t, c.Database("admin"), bson.D{{Key: "killAllSessions", Value: bson.A{}}})
	err = sess.CommitTransaction(ctx)
	if ce := cmdErr(t, err); ce.Code != 251 {
		t.Fatalf("commit after killAllSessions: %+v, want 251 NoSuchTransaction", ce)
	}
	if n := countDocs(t, coll, bson.D{}); n != 0 {
		t.Fatalf("%d documents from a killed transaction", n)
	}
}

func TestEndSessionKillsItsCursors(t *testing.T) {
	testenv.SkipIfExternal(t, "reads the embedded server's open-cursor count")
	c := testenv.Client(t)
	ctx := context.Background()
	coll := c.Database("cur").Collection("sess")
	if _, err := coll.InsertMany(ctx, []any{bson.D{{Key: "_id", Value: 1}}, bson.D{{Key: "_id", Value: 2}}, bson.D{{Key: "_id", Value: 3}}}); err != nil {
		t.Fatal(err)
	}
	sess, err := c.StartSession()
	if err != nil {
		t.Fatal(err)
	}
	cur, err := coll.Find(mongo.NewSessionContext(ctx, sess), bson.D{}, options.Find().SetBatchSize(1))
	if err != nil {
		t.Fatal(err)
	}
	if n := openCursors(t, c); n != 1 {
		t.Fatalf("%d open cursors, want 1", n)
	}
	// The driver only sends endSessions at Disconnect; send it by hand.
	runCmd(t, c.Database("admin"), bson.D{{Key: "endSessions", Value: bson.A{sess.ID()}}})
	if n := openCursors(t, c); n != 0 {
		t.Fatalf("%d open cursors after endSessions, want 0", n)
	}
	_ = cur.Close(ctx)
	sess.EndSession(ctx)
}

// TestSessionCommandsRefusedInTransaction: endSessions inside the
// transaction of the very session it names must fail, not deadlock.
func TestSessionCommandsRefusedInTransaction(t *testing.T) {
	srv := testenv.StartEmbedded(t, embedded.Config{})
	r := dialRaw(t, srv.Addr())
	lsid := bson.D{{Key: "id", Value: bson.Binary{Subtype: 4, Data: []byte("aaaaaaaaaaaaaaaa")}}}
	r.msg(0, bson.D{{Key: "insert", Value: "c"}, {Key: "documents", Value: bson.A{bson.D{{Key: "_id", Value: 1}}}},
		{Key: "lsid", Value: lsid}, {Key: "txnNumber", Value: int64(1)}, {Key: "startTransaction", Value: true},
		{Key: "autocommit", Value: false}, {Key: "$db", Value: "t"}})
	if _, _, doc := r.read(); doc.Lookup("ok").Double() != 1 {
		t.Fatalf("insert starting a transaction: %v", doc)
	}
	r.msg(0, bson.D{{Key: "endSessions", Value: bson.A{lsid}}, {Key: "lsid", Value: lsid}, {Key: "txnNumber", Value: int64(1)},
		{Key: "autocommit", Value: false}, {Key: "$db", Value: "admin"}})
	if _, _, doc := r.read(); doc.Lookup("code").Int32() != 263 {
		t.Fatalf("endSessions inside a transaction: %v, want 263", doc)
	}
}
