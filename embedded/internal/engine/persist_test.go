package engine

import (
	"bytes"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// dataFiles returns the files of dir matching pattern, sorted.
func dataFiles(t *testing.T, dir, pattern string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, pattern))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func openDir(t *testing.T, dir string, opts Options) *Engine {
	t.Helper()
	opts.Dir = dir
	e, err := Open(opts)
	if err != nil {
		t.Fatalf("Open(%s): %v", dir, err)
	}
	return e
}

// populate writes one of everything the journal must carry.
func populate(t *testing.T, e *Engine) {
	t.Helper()
	if err := e.CreateCollection(testNS, CollectionOptions{ChangeStreamPreAndPostImages: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.CreateIndexes(testNS, []IndexSpec{{Key: bson.D{{Key: "u", Value: int32(1)}}, Unique: true}, {Key: bson.D{{Key: "x", Value: int32(-1)}}}}); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 20; i++ {
		mustInsert(t, e, testNS, bson.D{{Key: "_id", Value: int32(i)}, {Key: "u", Value: int32(i)}, {Key: "x", Value: "v"}})
	}
	if _, err := e.Update(testNS, UpdateArgs{Filter: bson.D{{Key: "_id", Value: int32(1)}}, Update: bson.D{{Key: "$set", Value: bson.D{{Key: "x", Value: "changed"}}}, {Key: "$unset", Value: bson.D{{Key: "u", Value: ""}}}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Delete(testNS, bson.D{{Key: "_id", Value: int32(2)}}, 1); err != nil {
		t.Fatal(err)
	}
	tx := e.Begin(txnMeta(7))
	mustInsert(t, tx, testNS, bson.D{{Key: "_id", Value: int32(100)}, {Key: "u", Value: int32(100)}})
	mustInsert(t, tx, Namespace{DB: "db", Coll: "t"}, bson.D{{Key: "_id", Value: "a"}})
	if _, err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	mustInsert(t, e, Namespace{DB: "db", Coll: "old"}, bson.D{{Key: "_id", Value: int32(1)}})
	if err := e.RenameCollection(Namespace{DB: "db", Coll: "old"}, Namespace{DB: "db2", Coll: "new"}, false); err != nil {
		t.Fatal(err)
	}
	if _, err := e.CreateIndexes(testNS, []IndexSpec{{Key: bson.D{{Key: "tmp", Value: int32(1)}}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.DropIndexes(testNS, []string{"tmp_1"}); err != nil {
		t.Fatal(err)
	}
	validator := bson.D{{Key: "v", Value: bson.D{{Key: "$exists", Value: true}}}}
	if err := e.CollMod(Namespace{DB: "db", Coll: "t"}, CollModArgs{Validator: &validator}); err != nil {
		t.Fatal(err)
	}
	mustInsert(t, e, Namespace{DB: "db2", Coll: "victim"}, bson.D{})
	mustInsert(t, e, Namespace{DB: "db2", Coll: "src"}, bson.D{{Key: "_id", Value: "moved"}})
	if err := e.RenameCollection(Namespace{DB: "db2", Coll: "src"}, Namespace{DB: "db2", Coll: "victim"}, true); err != nil {
		t.Fatal(err)
	}
	mustInsert(t, e, Namespace{DB: "gone", Coll: "x"}, bson.D{})
	if err := e.DropDatabase("gone"); err != nil {
		t.Fatal(err)
	}
}

func checkPopulated(t *testing.T, e *Engine) {
	t.Helper()
	if n := e.EstimatedCount(testNS); n != 20 {
		t.Fatalf("count %d want 20", n)
	}
	raw, ok := e.FindByID(testNS, int32(1))
	if !ok || field(decode(t, raw), "x") != "changed" || field(decode(t, raw), "u") != nil {
		t.Fatalf("updated doc %v", raw)
	}
	if _, ok := e.FindByID(testNS, int32(2)); ok {
		t.Fatal("deleted doc came back")
	}
	if _, ok := e.FindByID(testNS, int32(100)); !ok {
		t.Fatal("transaction insert lost")
	}
	if _, ok := e.FindByID(Namespace{DB: "db2", Coll: "new"}, int32(1)); !ok {
		t.Fatal("renamed collection lost")
	}
	if cs := e.ListCollections("db2"); len(cs) != 2 || cs[1].Name != "victim" || cs[1].Count != 1 {
		t.Fatalf("db2 collections %+v", cs)
	}
	if _, ok := e.FindByID(Namespace{DB: "db2", Coll: "victim"}, "moved"); !ok {
		t.Fatal("rename with dropTarget not replayed")
	}
	if dbs := e.ListDatabases(); len(dbs) != 2 {
		t.Fatalf("databases %+v", dbs)
	}
	info, ok := e.Collection(testNS)
	if !ok || !info.Options.ChangeStreamPreAndPostImages {
		t.Fatalf("options lost: %+v", info)
	}
	specs, err := e.ListIndexes(testNS)
	if err != nil || len(specs) != 3 || !specs[1].Unique || specs[2].Name != "x_-1" {
		t.Fatalf("indexes %+v %v", specs, err)
	}
	_, err = e.Insert(testNS, bson.D{{Key: "u", Value: int32(5)}})
	wantCode(t, err, 11000) // unique index still enforced
	_, err = e.Insert(Namespace{DB: "db", Coll: "t"}, bson.D{{Key: "no", Value: int32(1)}})
	wantCode(t, err, CodeDocumentValidationFailure) // validator from collMod survived
}

func TestPersistenceRestart(t *testing.T) {
	dir := t.TempDir()
	e := openDir(t, dir, Options{})
	populate(t, e)
	before := mustOplog(t, e, Position{})
	ct := e.ClusterTime()
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	e = openDir(t, dir, Options{})
	defer e.Close()
	checkPopulated(t, e)
	after := mustOplog(t, e, Position{})
	if len(after) != len(before) {
		t.Fatalf("oplog %d entries after restart, %d before", len(after), len(before))
	}
	for i := range before {
		b, a := before[i], after[i]
		if a.Pos != b.Pos || a.Op != b.Op || a.NS != b.NS || !bytes.Equal(a.Document, b.Document) || !bytes.Equal(a.PreImage, b.PreImage) ||
			!bytes.Equal(a.DocumentKey, b.DocumentKey) || a.ImagesEnabled != b.ImagesEnabled || a.To != b.To || !bytes.Equal(a.LSID, b.LSID) ||
			(a.TxnNumber == nil) != (b.TxnNumber == nil) || a.Wall.UnixMilli() != b.Wall.UnixMilli() {
			t.Fatalf("entry %d differs:\n%+v\n%+v", i, b, a)
		}
		if (a.UpdateDescription == nil) != (b.UpdateDescription == nil) {
			t.Fatalf("entry %d update description lost", i)
		}
		if a.UpdateDescription != nil && (len(a.UpdateDescription.UpdatedFields) != 1 || a.UpdateDescription.UpdatedFields[0].Value != "changed" || len(a.UpdateDescription.RemovedFields) != 1) {
			t.Fatalf("entry %d update description %+v", i, a.UpdateDescription)
		}
	}
	// The clock restarts past every second it may have handed out, so no
	// timestamp of a commit lost in a crash is ever reused.
	if !e.ClusterTime().After(ct) {
		t.Fatalf("cluster time %v after restart, was %v", e.ClusterTime(), ct)
	}
	mustInsert(t, e, Namespace{DB: "db", Coll: "clock"}, bson.D{})
	if !e.ClusterTime().After(ct) {
		t.Fatalf("clock did not advance past %v: %v", ct, e.ClusterTime())
	}
}

func TestPersistenceSnapshotCompaction(t *testing.T) {
	dir := t.TempDir()
	// compact after every few commits: several snapshots and journal rotations
	e := openDir(t, dir, Options{CompactBytes: 2000, OplogCapacity: 30})
	populate(t, e)
	before := mustOplog(t, e, e.OplogFirst())
	first := e.OplogFirst()
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	if snaps := dataFiles(t, dir, "snapshot-*.bson"); len(snaps) != 1 {
		t.Fatalf("want one snapshot, got %v", snaps)
	}
	if js := dataFiles(t, dir, "journal-*.jnl"); len(js) != 1 {
		m, _ := os.ReadFile(filepath.Join(dir, "MANIFEST"))
		ents, _ := os.ReadDir(dir)
		var names []string
		for _, e := range ents {
			names = append(names, e.Name())
		}
		t.Fatalf("old journals not removed: %v\nmanifest %s\nfiles %v", js, m, names)
	}
	e = openDir(t, dir, Options{CompactBytes: 2000, OplogCapacity: 30})
	defer e.Close()
	checkPopulated(t, e)
	if e.OplogFirst() != first {
		t.Fatalf("oplog window starts at %v, was %v", e.OplogFirst(), first)
	}
	if got := mustOplog(t, e, e.OplogFirst()); len(got) != len(before) {
		t.Fatalf("%d entries after restart, %d before", len(got), len(before))
	}
	if _, err := e.OplogRead(Position{}, 0); err == nil {
		t.Fatal("truncation not remembered across restart")
	}
}

func TestPersistenceTornTail(t *testing.T) {
	dir := t.TempDir()
	e := openDir(t, dir, Options{})
	for i := 0; i < 10; i++ {
		mustInsert(t, e, testNS, bson.D{{Key: "_id", Value: int32(i)}})
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	js := dataFiles(t, dir, "journal-*.jnl")
	path := js[len(js)-1]
	st, _ := os.Stat(path)
	for _, cut := range []int64{3, 20} { // inside the last record's header, then its payload
		if err := os.Truncate(path, st.Size()-cut); err != nil {
			t.Fatal(err)
		}
		var logs bytes.Buffer
		e = openDir(t, dir, Options{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
		n := e.EstimatedCount(testNS)
		if n != 9 {
			t.Fatalf("cut %d: %d docs, want 9 (last commit dropped)", cut, n)
		}
		if !strings.Contains(logs.String(), "torn journal tail") {
			t.Fatalf("no warning logged: %q", logs.String())
		}
		mustInsert(t, e, testNS, bson.D{{Key: "_id", Value: int32(9)}})
		if err := e.Close(); err != nil {
			t.Fatal(err)
		}
		st, _ = os.Stat(path)
	}
	// a flipped byte in the last record of the newest journal is
	// indistinguishable from a torn write: that record is dropped
	data, _ := os.ReadFile(path)
	data[len(data)-5] ^= 0xff
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	e = openDir(t, dir, Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	defer e.Close()
	if n := e.EstimatedCount(testNS); n != 9 {
		t.Fatalf("after corruption %d docs", n)
	}
}

func TestPersistenceDirLocked(t *testing.T) {
	dir := t.TempDir()
	e := openDir(t, dir, Options{})
	defer e.Close()
	if _, err := Open(Options{Dir: dir}); err == nil {
		t.Fatal("second engine opened a directory in use")
	}
}

func TestPersistenceCorruptSnapshot(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, legacySnapshotFile), []byte("garbage that is not a snapshot"), 0o644); err != nil {
		t.Fatal(err)
	}
	if e, err := Open(Options{Dir: dir}); err == nil {
		e.Close()
		t.Fatal("opened a corrupt snapshot")
	}
}
