package unified

import (
	"context"
	"fmt"
	"net/url"
	"sort"
	"strings"
	"sync"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/event"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"go.mongodb.org/mongo-driver/v2/mongo/readconcern"
	"go.mongodb.org/mongo-driver/v2/mongo/readpref"
	"go.mongodb.org/mongo-driver/v2/mongo/writeconcern"
)

// entityMap holds one test's entities. It is never shared between tests.
type entityMap struct {
	mu    sync.Mutex
	m     map[string]any
	order []string
}

func newEntityMap() *entityMap { return &entityMap{m: map[string]any{}} }

func (e *entityMap) add(id string, v any) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if id == "" {
		return fmt.Errorf("entity without an id")
	}
	if _, dup := e.m[id]; dup {
		return fmt.Errorf("entity %q already exists", id)
	}
	e.m[id] = v
	e.order = append(e.order, id)
	return nil
}

func (e *entityMap) get(id string) (any, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	v, ok := e.m[id]
	if !ok {
		return nil, fmt.Errorf("no entity named %q", id)
	}
	return v, nil
}

// value returns a BSON value entity (saved with saveResultAsEntity).
func (e *entityMap) value(id string) (any, error) {
	v, err := e.get(id)
	if err != nil {
		return nil, err
	}
	switch v.(type) {
	case *clientEntity, *mongo.Database, *mongo.Collection, *mongo.ChangeStream, *mongo.Session:
		return nil, fmt.Errorf("entity %q is a %T, not a BSON value", id, v)
	}
	return v, nil
}

func (e *entityMap) client(id string) (*clientEntity, error) {
	v, err := e.get(id)
	if err != nil {
		return nil, err
	}
	c, ok := v.(*clientEntity)
	if !ok {
		return nil, fmt.Errorf("entity %q is a %T, not a client", id, v)
	}
	return c, nil
}

func (e *entityMap) database(id string) (*mongo.Database, error) {
	v, err := e.get(id)
	if err != nil {
		return nil, err
	}
	d, ok := v.(*mongo.Database)
	if !ok {
		return nil, fmt.Errorf("entity %q is a %T, not a database", id, v)
	}
	return d, nil
}

func (e *entityMap) session(id string) (*mongo.Session, error) {
	v, err := e.get(id)
	if err != nil {
		return nil, err
	}
	s, ok := v.(*mongo.Session)
	if !ok {
		return nil, fmt.Errorf("entity %q is a %T, not a session", id, v)
	}
	return s, nil
}

func (e *entityMap) sessionLsid(id string) (bson.D, error) {
	s, err := e.session(id)
	if err != nil {
		return nil, err
	}
	var d bson.D
	if err := bson.Unmarshal(s.ID(), &d); err != nil {
		return nil, fmt.Errorf("session %q lsid: %w", id, err)
	}
	return d, nil
}

// close releases every entity in reverse creation order: change streams,
// then sessions, then clients.
func (e *entityMap) close(ctx context.Context) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for i := len(e.order) - 1; i >= 0; i-- {
		switch v := e.m[e.order[i]].(type) {
		case *mongo.ChangeStream:
			_ = v.Close(ctx)
		case *mongo.Cursor:
			_ = v.Close(ctx)
		case *mongo.Session:
			v.EndSession(ctx)
		}
	}
	for i := len(e.order) - 1; i >= 0; i-- {
		if c, ok := e.m[e.order[i]].(*clientEntity); ok {
			_ = c.client.Disconnect(ctx)
		}
	}
	e.m = map[string]any{}
	e.order = nil
}

// clientEntity is a MongoClient plus the command-monitoring events observed
// on it.
type clientEntity struct {
	id               string
	client           *mongo.Client
	observe          map[string]bool
	ignore           map[string]bool
	observeSensitive bool

	mu        sync.Mutex
	recording bool
	events    []cmdEvent
}

// cmdEvent is one observed command-monitoring event.
type cmdEvent struct {
	kind         string // commandStartedEvent, commandSucceededEvent, commandFailedEvent
	name, db     string
	command      bson.D // started only
	reply        bson.D // succeeded only
	serverConnID *int64
	serviceID    *bson.ObjectID
}

// sensitiveCommand names commands never observed unless observeSensitiveCommands is set
// (command logging and monitoring spec, "Security").
func sensitiveCommand(lower string) bool {
	switch lower {
	case "authenticate", "saslstart", "saslcontinue", "getnonce", "createuser", "updateuser",
		"copydbgetnonce", "copydbsaslstart", "copydb":
		return true
	}
	return false
}

func (c *clientEntity) record(ev cmdEvent, redacted bool) {
	if !c.observe[ev.kind] || c.ignore[ev.name] || ev.name == "configureFailPoint" {
		return
	}
	if !c.observeSensitive {
		lower := strings.ToLower(ev.name)
		if sensitiveCommand(lower) || ((lower == "hello" || lower == "ismaster") && redacted) {
			return
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.recording {
		c.events = append(c.events, ev)
	}
}

func (c *clientEntity) stopRecording() {
	c.mu.Lock()
	c.recording = false
	c.mu.Unlock()
}

func (c *clientEntity) observed() []cmdEvent {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]cmdEvent(nil), c.events...)
}

func (c *clientEntity) monitor() *event.CommandMonitor {
	return &event.CommandMonitor{
		Started: func(_ context.Context, e *event.CommandStartedEvent) {
			cmd := rawToD(e.Command)
			c.record(cmdEvent{kind: "commandStartedEvent", name: e.CommandName, db: e.DatabaseName, command: cmd,
				serverConnID: e.ServerConnectionID, serviceID: e.ServiceID}, len(cmd) == 0)
		},
		Succeeded: func(_ context.Context, e *event.CommandSucceededEvent) {
			reply := rawToD(e.Reply)
			c.record(cmdEvent{kind: "commandSucceededEvent", name: e.CommandName, db: e.DatabaseName, reply: reply,
				serverConnID: e.ServerConnectionID, serviceID: e.ServiceID}, len(reply) == 0)
		},
		Failed: func(_ context.Context, e *event.CommandFailedEvent) {
			c.record(cmdEvent{kind: "commandFailedEvent", name: e.CommandName, db: e.DatabaseName,
				serverConnID: e.ServerConnectionID, serviceID: e.ServiceID}, false)
		},
	}
}

func rawToD(r bson.Raw) bson.D {
	var d bson.D
	if len(r) > 0 {
		_ = bson.Unmarshal(r, &d)
	}
	return d
}

// createEntities builds the entities of createEntities, in order.
func (r *Runner) createEntities(ctx context.Context, ents *entityMap, defs []bson.D) error {
	for i, def := range defs {
		if len(def) != 1 {
			return fmt.Errorf("createEntities[%d]: want exactly one entity type key", i)
		}
		kind := def[0].Key
		spec, ok := def[0].Value.(bson.D)
		if !ok {
			return fmt.Errorf("createEntities[%d].%s: want a document", i, kind)
		}
		var err error
		switch kind {
		case "client":
			err = r.createClient(ctx, ents, spec)
		case "database":
			err = createDatabase(ents, spec)
		case "collection":
			err = createCollection(ents, spec)
		case "session":
			err = createSession(ents, spec)
		default:
			return skipf("unsupported entity type %q", kind)
		}
		if err != nil {
			return fmt.Errorf("createEntities %s %q: %w", kind, str(spec, "id"), err)
		}
	}
	return nil
}

func (r *Runner) createClient(ctx context.Context, ents *entityMap, spec bson.D) error {
	c := &clientEntity{id: str(spec, "id"), observe: map[string]bool{}, ignore: map[string]bool{}, recording: true}
	var uriOpts bson.D
	var serverAPI *options.ServerAPIOptions
	for _, e := range spec {
		switch e.Key {
		case "id":
		case "uriOptions":
			uriOpts, _ = e.Value.(bson.D)
		case "useMultipleMongoses":
			// Only meaningful for sharded and load-balanced topologies, where
			// the runner's single URI is used as given.
		case "observeEvents":
			for _, x := range asArray(e.Value) {
				name, _ := x.(string)
				switch name {
				case "commandStartedEvent", "commandSucceededEvent", "commandFailedEvent":
					c.observe[name] = true
				default:
					return skipf("unsupported observeEvents type %q", name)
				}
			}
		case "ignoreCommandMonitoringEvents":
			for _, x := range asArray(e.Value) {
				name, _ := x.(string)
				c.ignore[name] = true
			}
		case "observeSensitiveCommands":
			c.observeSensitive, _ = e.Value.(bool)
		case "serverApi":
			d, _ := e.Value.(bson.D)
			version := str(d, "version")
			if version != string(options.ServerAPIVersion1) {
				return fmt.Errorf("serverApi version %q not supported by the driver", version)
			}
			serverAPI = options.ServerAPI(options.ServerAPIVersion1)
			if v, ok := lookup(d, "strict"); ok {
				b, _ := v.(bool)
				serverAPI.SetStrict(b)
			}
			if v, ok := lookup(d, "deprecationErrors"); ok {
				b, _ := v.(bool)
				serverAPI.SetDeprecationErrors(b)
			}
		default:
			return skipf("unsupported client option %q", e.Key)
		}
	}
	uri, err := withURIOptions(r.cfg.URI, uriOpts)
	if err != nil {
		return err
	}
	opts := options.Client().ApplyURI(uri).SetMonitor(c.monitor())
	if _, ok := lookupFold(uriOpts, "heartbeatFrequencyMS"); !ok {
		opts.SetHeartbeatInterval(r.cfg.HeartbeatInterval)
	}
	if serverAPI != nil {
		opts.SetServerAPIOptions(serverAPI)
	}
	client, err := mongo.Connect(opts)
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	c.client = client
	if err := ents.add(c.id, c); err != nil {
		_ = client.Disconnect(ctx)
		return err
	}
	return nil
}

// withURIOptions overrides (case-insensitively) or adds query options of a
// connection string.
func withURIOptions(base string, opts bson.D) (string, error) {
	if len(opts) == 0 {
		return base, nil
	}
	head, query, _ := strings.Cut(base, "?")
	if !strings.Contains(strings.TrimPrefix(strings.TrimPrefix(head, "mongodb+srv://"), "mongodb://"), "/") {
		head += "/"
	}
	override := map[string]bool{}
	for _, e := range opts {
		override[strings.ToLower(e.Key)] = true
	}
	var parts []string
	for _, p := range strings.Split(query, "&") {
		if p == "" {
			continue
		}
		k, _, _ := strings.Cut(p, "=")
		if !override[strings.ToLower(k)] {
			parts = append(parts, p)
		}
	}
	for _, e := range opts {
		switch v := e.Value.(type) {
		case bson.A:
			for _, x := range v {
				parts = append(parts, e.Key+"="+url.QueryEscape(uriValue(x)))
			}
		case bson.D:
			if _, _, ok := specialOp(v); ok {
				return "", skipf("uriOptions %s: $$placeholder values are not supported", e.Key)
			}
			var kv []string
			for _, x := range v {
				kv = append(kv, x.Key+":"+uriValue(x.Value))
			}
			sort.Strings(kv)
			parts = append(parts, e.Key+"="+url.QueryEscape(strings.Join(kv, ",")))
		default:
			parts = append(parts, e.Key+"="+url.QueryEscape(uriValue(v)))
		}
	}
	return head + "?" + strings.Join(parts, "&"), nil
}

func uriValue(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case bool:
		if x {
			return "true"
		}
		return "false"
	case bson.D:
		var kv []string
		for _, e := range x {
			kv = append(kv, e.Key+":"+uriValue(e.Value))
		}
		return strings.Join(kv, ",")
	}
	return fmt.Sprint(v)
}

func createDatabase(ents *entityMap, spec bson.D) error {
	var clientID, name string
	var dbOpts *options.DatabaseOptionsBuilder
	for _, e := range spec {
		switch e.Key {
		case "id":
		case "client":
			clientID, _ = e.Value.(string)
		case "databaseName":
			name, _ = e.Value.(string)
		case "databaseOptions":
			d, _ := e.Value.(bson.D)
			rc, rp, wc, err := commonOptions(d)
			if err != nil {
				return err
			}
			dbOpts = options.Database()
			if rc != nil {
				dbOpts.SetReadConcern(rc)
			}
			if rp != nil {
				dbOpts.SetReadPreference(rp)
			}
			if wc != nil {
				dbOpts.SetWriteConcern(wc)
			}
		default:
			return skipf("unsupported database option %q", e.Key)
		}
	}
	c, err := ents.client(clientID)
	if err != nil {
		return err
	}
	var db *mongo.Database
	if dbOpts != nil {
		db = c.client.Database(name, dbOpts)
	} else {
		db = c.client.Database(name)
	}
	return ents.add(str(spec, "id"), db)
}

func createCollection(ents *entityMap, spec bson.D) error {
	var dbID, name string
	var collOpts *options.CollectionOptionsBuilder
	for _, e := range spec {
		switch e.Key {
		case "id":
		case "database":
			dbID, _ = e.Value.(string)
		case "collectionName":
			name, _ = e.Value.(string)
		case "collectionOptions":
			d, _ := e.Value.(bson.D)
			rc, rp, wc, err := commonOptions(d)
			if err != nil {
				return err
			}
			collOpts = options.Collection()
			if rc != nil {
				collOpts.SetReadConcern(rc)
			}
			if rp != nil {
				collOpts.SetReadPreference(rp)
			}
			if wc != nil {
				collOpts.SetWriteConcern(wc)
			}
		default:
			return skipf("unsupported collection option %q", e.Key)
		}
	}
	db, err := ents.database(dbID)
	if err != nil {
		return err
	}
	var coll *mongo.Collection
	if collOpts != nil {
		coll = db.Collection(name, collOpts)
	} else {
		coll = db.Collection(name)
	}
	return ents.add(str(spec, "id"), coll)
}

func createSession(ents *entityMap, spec bson.D) error {
	var clientID string
	sessOpts := options.Session()
	for _, e := range spec {
		switch e.Key {
		case "id":
		case "client":
			clientID, _ = e.Value.(string)
		case "sessionOptions":
			d, _ := e.Value.(bson.D)
			for _, o := range d {
				switch o.Key {
				case "causalConsistency":
					b, _ := o.Value.(bool)
					sessOpts.SetCausalConsistency(b)
				case "snapshot":
					b, _ := o.Value.(bool)
					sessOpts.SetSnapshot(b)
				default:
					return skipf("unsupported session option %q", o.Key)
				}
			}
		default:
			return skipf("unsupported session entity field %q", e.Key)
		}
	}
	c, err := ents.client(clientID)
	if err != nil {
		return err
	}
	s, err := c.client.StartSession(sessOpts)
	if err != nil {
		return fmt.Errorf("start session: %w", err)
	}
	return ents.add(str(spec, "id"), s)
}

// commonOptions parses collectionOrDatabaseOptions.
func commonOptions(d bson.D) (*readconcern.ReadConcern, *readpref.ReadPref, *writeconcern.WriteConcern, error) {
	var rc *readconcern.ReadConcern
	var rp *readpref.ReadPref
	var wc *writeconcern.WriteConcern
	for _, e := range d {
		sub, _ := e.Value.(bson.D)
		switch e.Key {
		case "readConcern":
			rc = &readconcern.ReadConcern{Level: str(sub, "level")}
		case "readPreference":
			mode, err := readpref.ModeFromString(str(sub, "mode"))
			if err != nil {
				return nil, nil, nil, fmt.Errorf("readPreference: %w", err)
			}
			rp, err = readpref.New(mode)
			if err != nil {
				return nil, nil, nil, fmt.Errorf("readPreference: %w", err)
			}
		case "writeConcern":
			wc = parseWriteConcern(sub)
		default:
			return nil, nil, nil, skipf("unsupported collection/database option %q", e.Key)
		}
	}
	return rc, rp, wc, nil
}

func parseWriteConcern(d bson.D) *writeconcern.WriteConcern {
	wc := &writeconcern.WriteConcern{}
	for _, e := range d {
		switch e.Key {
		case "w":
			if n, ok := toInt64(e.Value); ok {
				wc.W = int(n)
			} else {
				wc.W = e.Value
			}
		case "j", "journal":
			b, _ := e.Value.(bool)
			wc.Journal = &b
		}
	}
	return wc
}

// lookupFold is lookup with a case-insensitive key, as URI options are.
func lookupFold(d bson.D, key string) (any, bool) {
	for _, e := range d {
		if strings.EqualFold(e.Key, key) {
			return e.Value, true
		}
	}
	return nil, false
}

func asArray(v any) bson.A {
	a, _ := v.(bson.A)
	return a
}
