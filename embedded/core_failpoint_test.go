package embedded_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/mongotide/mongotide/internal/testenv"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

func failCommand(mode any, data bson.D) bson.D {
	return bson.D{{Key: "configureFailPoint", Value: "failCommand"}, {Key: "mode", Value: mode}, {Key: "data", Value: data}}
}

func buildInfoErr(c *mongo.Client) error {
	return c.Database("admin").RunCommand(context.Background(), bson.D{{Key: "buildInfo", Value: 1}}).Err()
}

func TestFailCommandTimes(t *testing.T) {
	c := testenv.Client(t)
	setFailPoint(t, c, failCommand(bson.D{{Key: "times", Value: 2}}, bson.D{
		{Key: "failCommands", Value: bson.A{"buildInfo"}}, {Key: "errorCode", Value: 8},
	}))
	for i := 0; i < 2; i++ {
		ce := cmdErr(t, buildInfoErr(c))
		if ce.Code != 8 || ce.Name != "UnknownError" {
			t.Fatalf("attempt %d: %+v, want code 8 UnknownError", i, ce)
		}
	}
	if err := buildInfoErr(c); err != nil {
		t.Fatalf("third buildInfo after times:2: %v", err)
	}
	// Commands not listed are untouched.
	if err := c.Ping(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
}

// TestFailCommandTimesWithSkip: mongod takes {times: n, skip: m} (the
// driver's own test helpers always send both) as {times: n}.
func TestFailCommandTimesWithSkip(t *testing.T) {
	c := testenv.Client(t)
	setFailPoint(t, c, failCommand(bson.D{{Key: "times", Value: 1}, {Key: "skip", Value: 0}}, bson.D{
		{Key: "failCommands", Value: bson.A{"buildInfo"}}, {Key: "errorCode", Value: 8},
	}))
	if ce := cmdErr(t, buildInfoErr(c)); ce.Code != 8 {
		t.Fatalf("first buildInfo: %+v, want code 8", ce)
	}
	if err := buildInfoErr(c); err != nil {
		t.Fatalf("second buildInfo after {times: 1, skip: 0}: %v", err)
	}
}

func TestFailCommandSkipAlwaysOnOff(t *testing.T) {
	c := testenv.Client(t)
	setFailPoint(t, c, failCommand(bson.D{{Key: "skip", Value: 1}}, bson.D{
		{Key: "failCommands", Value: bson.A{"buildInfo"}}, {Key: "errorCode", Value: 2},
	}))
	if err := buildInfoErr(c); err != nil {
		t.Fatalf("skipped call failed: %v", err)
	}
	for i := 0; i < 3; i++ {
		if ce := cmdErr(t, buildInfoErr(c)); ce.Code != 2 {
			t.Fatalf("call %d after skip: %+v", i, ce)
		}
	}
	setFailPoint(t, c, failCommand("alwaysOn", bson.D{
		{Key: "failCommands", Value: bson.A{"buildInfo"}}, {Key: "errorCode", Value: 91},
		{Key: "errorLabels", Value: bson.A{"CustomLabel"}},
	}))
	err := buildInfoErr(c)
	ce := cmdErr(t, err)
	if ce.Code != 91 || !slices.Equal(ce.Labels, []string{"CustomLabel"}) {
		t.Fatalf("alwaysOn: %+v, want 91 with exactly [CustomLabel]", ce)
	}
	runCmd(t, c.Database("admin"), bson.D{{Key: "configureFailPoint", Value: "failCommand"}, {Key: "mode", Value: "off"}})
	if err := buildInfoErr(c); err != nil {
		t.Fatalf("after off: %v", err)
	}
}

func TestFailCommandCloseConnection(t *testing.T) {
	c := testenv.Client(t)
	setFailPoint(t, c, failCommand(bson.D{{Key: "times", Value: 1}}, bson.D{
		{Key: "failCommands", Value: bson.A{"buildInfo"}}, {Key: "closeConnection", Value: true},
	}))
	err := buildInfoErr(c)
	var le mongo.LabeledError
	if err == nil || !errors.As(err, &le) || !le.HasErrorLabel("NetworkError") {
		t.Fatalf("buildInfo with closeConnection: %v, want a network error", err)
	}
	if err := buildInfoErr(c); err != nil {
		t.Fatalf("after the failpoint fired once: %v", err)
	}
}

func TestFailCommandAppNameAndBlock(t *testing.T) {
	uri := testenv.URI(t)
	admin := testenv.Connect(t, uri, nil)
	victim := testenv.Connect(t, uri, options.Client().SetAppName("victim"))
	const block = 300 * time.Millisecond
	setFailPoint(t, admin, failCommand("alwaysOn", bson.D{
		{Key: "failCommands", Value: bson.A{"buildInfo"}}, {Key: "appName", Value: "victim"},
		{Key: "blockConnection", Value: true}, {Key: "blockTimeMS", Value: int32(block / time.Millisecond)},
	}))
	if err := buildInfoErr(admin); err != nil {
		t.Fatalf("other appName affected: %v", err)
	}
	start := time.Now()
	if err := buildInfoErr(victim); err != nil {
		t.Fatalf("blocked buildInfo failed: %v", err)
	}
	if el := time.Since(start); el < block {
		t.Fatalf("buildInfo took %v, want at least blockTimeMS %v", el, block)
	}
}

func TestFailCommandHelloOnlyWhenListed(t *testing.T) {
	c := testenv.Client(t)
	setFailPoint(t, c, failCommand("alwaysOn", bson.D{
		{Key: "failCommands", Value: bson.A{"ping"}}, {Key: "errorCode", Value: 8},
	}))
	if err := c.Database("admin").RunCommand(context.Background(), bson.D{{Key: "hello", Value: 1}}).Err(); err != nil {
		t.Fatalf("hello failed although only ping is listed: %v", err)
	}
	if ce := cmdErr(t, c.Ping(context.Background(), nil)); ce.Code != 8 {
		t.Fatalf("ping: %+v", ce)
	}
}

func TestConfigureFailPointErrors(t *testing.T) {
	c := testenv.Client(t)
	for _, cmd := range []bson.D{
		{{Key: "configureFailPoint", Value: "noSuchFailPoint"}, {Key: "mode", Value: "alwaysOn"}},
		{{Key: "configureFailPoint", Value: "failCommand"}, {Key: "mode", Value: "sometimes"}},
		failCommand("alwaysOn", bson.D{{Key: "errorCode", Value: 2}}),
		failCommand("alwaysOn", bson.D{{Key: "failCommands", Value: bson.A{"ping"}}, {Key: "bogus", Value: 1}}),
	} {
		err := c.Database("admin").RunCommand(context.Background(), cmd).Err()
		if ce := cmdErr(t, err); ce.Code != 2 {
			t.Errorf("%v: %+v, want BadValue", cmd, ce)
		}
	}
	err := c.Database("test").RunCommand(context.Background(), failCommand("off", nil)).Err()
	if ce := cmdErr(t, err); ce.Code != 13 {
		t.Errorf("configureFailPoint on test db: %+v, want Unauthorized", ce)
	}
}

// TestFailCommandOnHandshakeByAppName: failCommand can target the
// handshake of the client named by appName (SDAM tests do this), which
// needs the appName known before the very first hello is failed.
func TestFailCommandOnHandshakeByAppName(t *testing.T) {
	uri := testenv.URI(t)
	admin := testenv.Connect(t, uri, nil)
	runCmd(t, admin.Database("admin"), failCommand(bson.D{{Key: "times", Value: 2}}, bson.D{
		{Key: "failCommands", Value: bson.A{"isMaster", "hello"}}, {Key: "appName", Value: "handshake-victim"},
		{Key: "closeConnection", Value: true},
	}))
	victim := testenv.Connect(t, uri, options.Client().SetAppName("handshake-victim").SetHeartbeatInterval(500*time.Millisecond))
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := victim.Ping(ctx, nil); err != nil {
		t.Fatalf("ping after two failed handshakes: %v", err)
	}
	off := runCmd(t, admin.Database("admin"), bson.D{{Key: "configureFailPoint", Value: "failCommand"}, {Key: "mode", Value: "off"}})
	if n, _ := off["count"].(int64); n < 2 {
		t.Fatalf("failpoint entered %v times, want 2 (the victim's handshakes)", off["count"])
	}
}

// TestBlockConnectionHonoursMaxTimeMS: a command blocked by the failpoint
// longer than its maxTimeMS fails with MaxTimeMSExpired, as on MongoDB.
func TestBlockConnectionHonoursMaxTimeMS(t *testing.T) {
	c := testenv.Client(t)
	setFailPoint(t, c, failCommand(bson.D{{Key: "times", Value: 1}}, bson.D{
		{Key: "failCommands", Value: bson.A{"buildInfo"}}, {Key: "blockConnection", Value: true}, {Key: "blockTimeMS", Value: 2000},
	}))
	// Had the block ignored maxTimeMS, buildInfo would succeed after 2 s.
	err := c.Database("admin").RunCommand(context.Background(), bson.D{{Key: "buildInfo", Value: 1}, {Key: "maxTimeMS", Value: 100}}).Err()
	if ce := cmdErr(t, err); ce.Code != 50 || ce.Name != "MaxTimeMSExpired" {
		t.Fatalf("blocked buildInfo with maxTimeMS 100: %+v, want 50 MaxTimeMSExpired", ce)
	}
}

func TestWaitForFailPoint(t *testing.T) {
	c := testenv.Client(t)
	ctx := context.Background()
	res := runCmd(t, c.Database("admin"), failCommand(bson.D{{Key: "times", Value: 1}}, bson.D{
		{Key: "failCommands", Value: bson.A{"buildInfo"}}, {Key: "errorCode", Value: 2},
	}))
	t.Cleanup(func() {
		_ = c.Database("admin").RunCommand(ctx, bson.D{{Key: "configureFailPoint", Value: "failCommand"}, {Key: "mode", Value: "off"}}).Err()
	})
	count, _ := res["count"].(int64)
	done := make(chan error, 1)
	go func() {
		done <- c.Database("admin").RunCommand(ctx, bson.D{{Key: "waitForFailPoint", Value: "failCommand"},
			{Key: "timesEntered", Value: count + 1}, {Key: "maxTimeMS", Value: 10000}}).Err()
	}()
	if ce := cmdErr(t, buildInfoErr(c)); ce.Code != 2 {
		t.Fatalf("buildInfo: %+v", ce)
	}
	if err := <-done; err != nil {
		t.Fatalf("waitForFailPoint after the failpoint fired: %v", err)
	}
	err := c.Database("admin").RunCommand(ctx, bson.D{{Key: "waitForFailPoint", Value: "failCommand"},
		{Key: "timesEntered", Value: count + 100}, {Key: "maxTimeMS", Value: 50}}).Err()
	if ce := cmdErr(t, err); ce.Code != 50 {
		t.Fatalf("waitForFailPoint that cannot be satisfied: %+v, want 50 MaxTimeMSExpired", ce)
	}
}

func TestFailCommandNamespaceAndExtraInfo(t *testing.T) {
	c := testenv.Client(t)
	ctx := context.Background()
	setFailPoint(t, c, failCommand("alwaysOn", bson.D{
		{Key: "failCommands", Value: bson.A{"insert"}}, {Key: "namespace", Value: "fp.target"},
		{Key: "errorCode", Value: 2}, {Key: "errorExtraInfo", Value: bson.D{{Key: "why", Value: "because"}}},
	}))
	if _, err := c.Database("fp").Collection("other").InsertOne(ctx, bson.D{{Key: "a", Value: 1}}); err != nil {
		t.Fatalf("insert into another namespace failed: %v", err)
	}
	_, err := c.Database("fp").Collection("target").InsertOne(ctx, bson.D{{Key: "a", Value: 1}})
	ce := cmdErr(t, err)
	if ce.Code != 2 || ce.Raw.Lookup("why").StringValue() != "because" {
		t.Fatalf("insert into the failing namespace: %+v (raw %v), want code 2 with why: because", ce, ce.Raw)
	}
}
