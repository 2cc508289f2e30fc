package embedded

import (
	"context"
	"errors"
	"runtime"
	"time"

	"github.com/mongotide/mongotide/embedded/internal/wire"
	"github.com/mongotide/mongotide/internal/ctxwait"
	"go.mongodb.org/mongo-driver/v2/bson"
)

// Version facts reported to clients.
const (
	serverVersion  = "8.0.0"
	minWireVersion = 0
	// maxWireVersion 25 is MongoDB 8.0.
	maxWireVersion        = 25
	maxWriteBatchSize     = 100000
	sessionTimeoutMinutes = 30
	// defaultMaxAwait bounds an awaitable hello that names no
	// maxAwaitTimeMS.
	defaultMaxAwait = 10 * time.Second
)

// clientAppName returns client.application.name from a handshake hello.
func clientAppName(body bson.D) string {
	client, _ := lookup(body, "client")
	cd, _ := client.(bson.D)
	app, _ := lookup(cd, "application")
	ad, _ := app.(bson.D)
	name, _ := lookup(ad, "name")
	s, _ := name.(string)
	return s
}

func isHello(name string) bool { return name == "hello" || name == "isMaster" || name == "ismaster" }

// isAwaitable reports whether a hello asks to wait for a topology change:
// both topologyVersion and maxAwaitTimeMS are present.
func isAwaitable(body bson.D) bool {
	_, tv := lookup(body, "topologyVersion")
	_, ma := lookup(body, "maxAwaitTimeMS")
	return tv && ma
}

// cmdHello answers hello/isMaster. An awaitable hello (topologyVersion +
// maxAwaitTimeMS) whose topologyVersion is current waits maxAwaitTimeMS
// before answering: our topology never changes while the server runs, so
// the wait ends only by time or shutdown. Answering early would make
// drivers poll in a tight loop.
func cmdHello(ctx context.Context, s *Server, req *request) (bson.D, error) {
	c := connFrom(ctx)
	if c != nil && !isAwaitable(req.Body) {
		c.helloWake = s.monitorWake() // see conn.waitIdle
	}
	if isAwaitable(req.Body) {
		tv, _ := lookup(req.Body, "topologyVersion")
		maxAwait, _ := lookup(req.Body, "maxAwaitTimeMS")
		ms, ok := asInt64(maxAwait)
		if !ok || ms < 0 {
			return nil, errorf(codeBadValue, "BadValue", "maxAwaitTimeMS must be a non-negative integer")
		}
		tvd, ok := tv.(bson.D)
		if !ok {
			return nil, errorf(codeTypeMismatch, "TypeMismatch", "topologyVersion must be a document")
		}
		pid, _ := lookup(tvd, "processId")
		counter, _ := lookup(tvd, "counter")
		cnt, _ := asInt64(counter)
		if pid == s.processID && cnt == 0 {
			wait := time.Duration(ms) * time.Millisecond
			if s.quiesce.Err() != nil {
				wait = min(wait, quiesceAwait)
			}
			defer func() {
				if c != nil && s.quiesce.Err() != nil {
					c.endExhaust = true // see quiesceAwait
				}
			}()
			// Quiesce ends the wait early (a normal answer, see Quiesce).
			wctx, cancel := context.WithCancel(ctx)
			stop := context.AfterFunc(s.quiesce, cancel)
			var err error
			if c != nil {
				err = c.waitIdle(wctx, wait)
			} else {
				err = ctxwait.Sleep(wctx, wait)
			}
			stop()
			cancel()
			if err != nil && ctx.Err() == nil && s.ctx.Err() == nil && s.quiesce.Err() != nil && !errors.Is(err, errClientGone) {
				err = nil
			}
			switch {
			case errors.Is(err, errClientGone):
				c.close() // nobody to answer; the serve loop ends at its next read
				return nil, err
			case s.ctx.Err() != nil:
				return nil, errorf(91, "ShutdownInProgress", "the server is shutting down")
			}
		}
	}
	return s.helloBody(req, c), nil
}

func (s *Server) helloBody(req *request, c *conn) bson.D {
	now := s.cfg.Clock()
	ts := s.engine.ClusterTime()
	opTime := bson.D{{Key: "ts", Value: ts}, {Key: "t", Value: int64(1)}}
	var connID int64
	if c != nil {
		connID = c.id
	}
	d := bson.D{
		{Key: "topologyVersion", Value: bson.D{{Key: "processId", Value: s.processID}, {Key: "counter", Value: int64(0)}}},
		{Key: "hosts", Value: bson.A{s.host}},
		{Key: "setName", Value: s.cfg.ReplicaSetName},
		{Key: "setVersion", Value: int32(1)},
	}
	if req.Name == "hello" {
		d = append(d, bson.E{Key: "isWritablePrimary", Value: true})
	} else {
		d = append(d, bson.E{Key: "ismaster", Value: true})
	}
	d = append(d,
		bson.E{Key: "secondary", Value: false},
		bson.E{Key: "primary", Value: s.host},
		bson.E{Key: "me", Value: s.host},
		bson.E{Key: "electionId", Value: s.electionID},
		bson.E{Key: "lastWrite", Value: s.lastWriteDoc(opTime, ts, now)},
		bson.E{Key: "maxBsonObjectSize", Value: int32(wire.MaxBSONObjectSize)},
		bson.E{Key: "maxMessageSizeBytes", Value: int32(wire.MaxMessageSizeBytes)},
		bson.E{Key: "maxWriteBatchSize", Value: int32(maxWriteBatchSize)},
		bson.E{Key: "localTime", Value: bson.NewDateTimeFromTime(now)},
		bson.E{Key: "logicalSessionTimeoutMinutes", Value: int32(sessionTimeoutMinutes)},
		bson.E{Key: "connectionId", Value: connID},
		bson.E{Key: "minWireVersion", Value: int32(minWireVersion)},
		bson.E{Key: "maxWireVersion", Value: int32(maxWireVersion)},
		bson.E{Key: "readOnly", Value: false},
	)
	if v, ok := lookup(req.Body, "helloOk"); ok && v == true {
		d = append(d, bson.E{Key: "helloOk", Value: true})
	}
	return append(d, s.helloAuthFields(req, c)...)
}

func cmdPing(context.Context, *Server, *request) (bson.D, error) { return bson.D{}, nil }

func cmdBuildInfo(context.Context, *Server, *request) (bson.D, error) {
	return bson.D{
		{Key: "version", Value: serverVersion},
		{Key: "gitVersion", Value: "mongotide-embedded"},
		{Key: "versionArray", Value: bson.A{int32(8), int32(0), int32(0), int32(0)}},
		{Key: "bits", Value: int32(64)},
		{Key: "debug", Value: false},
		{Key: "maxBsonObjectSize", Value: int32(wire.MaxBSONObjectSize)},
		{Key: "storageEngines", Value: bson.A{"mongotide"}},
		{Key: "modules", Value: bson.A{}},
		{Key: "javascriptEngine", Value: "none"},
		{Key: "sysInfo", Value: "deprecated"},
		{Key: "openssl", Value: bson.D{{Key: "running", Value: "disabled"}}},
		{Key: "buildEnvironment", Value: bson.D{{Key: "target_os", Value: runtime.GOOS}, {Key: "target_arch", Value: runtime.GOARCH}}},
	}, nil
}

// knownParameters answers getParameter for what drivers and test runners ask.
func (s *Server) knownParameters() bson.D {
	return bson.D{
		{Key: "featureCompatibilityVersion", Value: bson.D{{Key: "version", Value: "8.0"}}},
		{Key: "enableTestCommands", Value: s.cfg.EnableTestCommands},
		{Key: "authenticationMechanisms", Value: s.authMechanisms()},
		{Key: "requireApiVersion", Value: false},
		{Key: "transactionLifetimeLimitSeconds", Value: int32(60)},
		{Key: "cursorTimeoutMillis", Value: s.cfg.CursorIdleTimeout.Milliseconds()},
		{Key: "logicalSessionRefreshMillis", Value: int32(300000)},
		{Key: "maxBSONDepth", Value: int32(200)},
	}
}

func cmdGetParameter(_ context.Context, s *Server, req *request) (bson.D, error) {
	if req.DB != "admin" {
		return nil, errorf(codeUnauthorized, "Unauthorized", "getParameter may only be run against the admin database")
	}
	all := s.knownParameters()
	v := req.Body[0].Value
	if v == "*" {
		return all, nil
	}
	if d, ok := v.(bson.D); ok {
		if a, _ := lookup(d, "allParameters"); a == true {
			return all, nil
		}
	}
	var out bson.D
	for _, e := range req.Body[1:] {
		if e.Key == "$db" || e.Key == "lsid" || e.Key == "$clusterTime" || e.Key == "comment" || e.Key == "$readPreference" {
			continue
		}
		if pv, ok := lookup(all, e.Key); ok {
			out = append(out, bson.E{Key: e.Key, Value: pv})
		} else {
			return nil, errorf(codeInvalidOptions, "InvalidOptions", "no option found to get: %s (this server knows %d parameters)", e.Key, len(all))
		}
	}
	return out, nil
}

func cmdGetCmdLineOpts(_ context.Context, s *Server, _ *request) (bson.D, error) {
	return bson.D{
		{Key: "argv", Value: bson.A{"mongotide-embedded"}},
		{Key: "parsed", Value: bson.D{
			{Key: "net", Value: s.netOptions()},
			{Key: "security", Value: bson.D{{Key: "authorization", Value: s.authorization()}}},
			{Key: "replication", Value: bson.D{{Key: "replSet", Value: s.cfg.ReplicaSetName}}},
		}},
	}, nil
}

func cmdServerStatus(_ context.Context, s *Server, _ *request) (bson.D, error) {
	s.connsMu.Lock()
	current, rejected := len(s.conns), s.rejected
	s.connsMu.Unlock()
	return bson.D{
		{Key: "host", Value: s.host},
		{Key: "version", Value: serverVersion},
		{Key: "process", Value: "mongotide-embedded"},
		{Key: "uptime", Value: time.Since(s.started).Seconds()},
		{Key: "localTime", Value: bson.NewDateTimeFromTime(s.cfg.Clock())},
		{Key: "connections", Value: bson.D{
			{Key: "current", Value: int32(current)},
			{Key: "available", Value: int32(max(s.cfg.MaxConnections-current, 0))},
			{Key: "totalCreated", Value: s.nextConnID.Load()},
			{Key: "rejected", Value: rejected},
			{Key: "pendingMessageBytes", Value: s.pending.Load()},
		}},
		{Key: "metrics", Value: bson.D{
			{Key: "commands", Value: s.stats.doc()},
			{Key: "cursor", Value: bson.D{{Key: "open", Value: bson.D{{Key: "total", Value: int64(s.cursors.count())}}}}},
			{Key: "query", Value: s.mem.metrics()},
		}},
		{Key: "storageEngine", Value: bson.D{{Key: "name", Value: "mongotide"}, {Key: "supportsCommittedReads", Value: true}}},
	}, nil
}

func cmdReplSetGetStatus(_ context.Context, s *Server, req *request) (bson.D, error) {
	if req.DB != "admin" {
		return nil, errorf(codeUnauthorized, "Unauthorized", "replSetGetStatus may only be run against the admin database")
	}
	ts := s.engine.ClusterTime()
	now := bson.NewDateTimeFromTime(s.cfg.Clock())
	opTime := bson.D{{Key: "ts", Value: ts}, {Key: "t", Value: int64(1)}}
	// Committed (majority) and durable are what the journal has fsynced,
	// which trails what was applied by up to CommitInterval.
	durable := bson.D{{Key: "ts", Value: s.engine.DurableTime()}, {Key: "t", Value: int64(1)}}
	return bson.D{
		{Key: "set", Value: s.cfg.ReplicaSetName},
		{Key: "date", Value: now},
		{Key: "myState", Value: int32(1)},
		{Key: "term", Value: int64(1)},
		{Key: "optimes", Value: bson.D{{Key: "lastCommittedOpTime", Value: durable}, {Key: "appliedOpTime", Value: opTime}, {Key: "durableOpTime", Value: durable}}},
		{Key: "members", Value: bson.A{bson.D{
			{Key: "_id", Value: int32(0)},
			{Key: "name", Value: s.host},
			{Key: "health", Value: 1.0},
			{Key: "state", Value: int32(1)},
			{Key: "stateStr", Value: "PRIMARY"},
			{Key: "uptime", Value: int64(time.Since(s.started).Seconds())},
			{Key: "optime", Value: opTime},
			{Key: "self", Value: true},
		}}},
	}, nil
}

func cmdWhatsMyURI(ctx context.Context, _ *Server, _ *request) (bson.D, error) {
	you := ""
	if c := connFrom(ctx); c != nil {
		you = c.nc.RemoteAddr().String()
	}
	return bson.D{{Key: "you", Value: you}}, nil
}

func cmdHostInfo(_ context.Context, s *Server, _ *request) (bson.D, error) {
	return bson.D{
		{Key: "system", Value: bson.D{{Key: "currentTime", Value: bson.NewDateTimeFromTime(s.cfg.Clock())}, {Key: "hostname", Value: s.host}, {Key: "numCores", Value: int32(runtime.NumCPU())}}},
		{Key: "os", Value: bson.D{{Key: "type", Value: runtime.GOOS}}},
	}, nil
}

func cmdConnectionStatus(ctx context.Context, _ *Server, _ *request) (bson.D, error) {
	return bson.D{{Key: "authInfo", Value: connFrom(ctx).authInfo()}}, nil
}

func cmdListCommands(_ context.Context, s *Server, _ *request) (bson.D, error) {
	cmds := bson.D{}
	for name := range s.handlers {
		cmds = append(cmds, bson.E{Key: name, Value: bson.D{{Key: "help", Value: ""}}})
	}
	return bson.D{{Key: "commands", Value: cmds}}, nil
}

// registerCore registers the commands the server core implements.
func (s *Server) registerCore(r map[string]handler) {
	r["hello"] = cmdHello
	r["isMaster"] = cmdHello
	r["ismaster"] = cmdHello
	r["ping"] = cmdPing
	r["buildInfo"] = cmdBuildInfo
	r["buildinfo"] = cmdBuildInfo
	r["getParameter"] = cmdGetParameter
	r["getCmdLineOpts"] = cmdGetCmdLineOpts
	r["serverStatus"] = cmdServerStatus
	r["replSetGetStatus"] = cmdReplSetGetStatus
	r["whatsmyuri"] = cmdWhatsMyURI
	r["hostInfo"] = cmdHostInfo
	r["connectionStatus"] = cmdConnectionStatus
	r["listCommands"] = cmdListCommands
	r["saslStart"] = cmdSaslStart
	r["saslContinue"] = cmdSaslContinue
	r["endSessions"] = cmdEndSessions
	r["killSessions"] = cmdEndSessions
	r["killAllSessions"] = cmdKillAllSessions
	r["refreshSessions"] = cmdRefreshSessions
	r["configureFailPoint"] = cmdConfigureFailPoint
	r["waitForFailPoint"] = cmdWaitForFailPoint
	r["getMore"] = cmdGetMore
	r["killCursors"] = cmdKillCursors
	r["commitTransaction"] = cmdCommitTransaction
	r["abortTransaction"] = cmdAbortTransaction
}
