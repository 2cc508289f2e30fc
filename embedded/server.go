package embedded

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mongotide/mongotide/embedded/internal/engine"
	"go.mongodb.org/mongo-driver/v2/bson"
)

// Server is a running embedded server: a single-node replica set primary
// listening on TCP. Create it with Start and release it with Stop.
type Server struct {
	cfg    Config
	logger *slog.Logger
	engine *engine.Engine

	// handlers is built once in Start and only read afterwards.
	handlers map[string]handler
	stats    *commandStats

	ln   net.Listener
	host string // "127.0.0.1:PORT" exactly as advertised in hello

	processID  bson.ObjectID
	electionID bson.ObjectID
	started    time.Time

	// ctx is cancelled by Stop: blocked awaitable hellos, change-stream
	// getMores and failpoint blocks return at once.
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	// quiesce is cancelled by Quiesce (and Stop): awaitable hellos are
	// answered within quiesceAwait from then on.
	quiesce       context.Context
	cancelQuiesce context.CancelFunc

	nextConnID atomic.Int64
	connsMu    sync.Mutex
	conns      map[int64]*conn
	stopping   bool
	rejected   int64 // connections refused at MaxConnections (connsMu)
	// pending is the memory held by partially received messages, bounded
	// by Config.MaxPendingMessageBytes.
	pending atomic.Int64

	// auth verifies SCRAM-SHA-256 conversations; nil when Config.Users is
	// empty (no authentication).
	auth *authenticator

	cursors    *cursorRegistry
	sessions   *sessionTable
	failpoints *failpoints
	// mem holds the memory limits and the temporary directory of spilling
	// sorts.
	mem *memLimits

	// hangup is closed (and replaced) when a client hangs up a connection
	// that was not a monitor's, waking every waiting awaitable hello: see
	// wakeMonitors. hangupMu guards the field, not the channel.
	hangupMu sync.Mutex
	hangup   chan struct{}

	stopOnce sync.Once
	stopErr  error
	stopped  chan struct{}
}

// Start opens the storage engine and starts listening. The returned server
// runs until Stop; ctx only bounds startup.
func Start(ctx context.Context, cfg Config) (*Server, error) { return start(ctx, cfg, nil) }

// start is Start with extra handlers (tests use it to add commands that
// misbehave on purpose).
func start(ctx context.Context, cfg Config, extra map[string]handler) (*Server, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	eng, err := engine.Open(engine.Options{
		OplogCapacity: cfg.OplogCapacity, OplogSizeBytes: cfg.OplogSizeBytes,
		SnapshotHistoryWindow: cfg.SnapshotHistoryWindow, Dir: cfg.Dir, Logger: cfg.Logger,
		Sync: engine.SyncMode(cfg.Sync), CommitInterval: cfg.CommitInterval, Repair: cfg.Repair, FS: cfg.fs,
		Now: cfg.Clock,
	})
	if err != nil {
		return nil, fmt.Errorf("embedded: open engine: %w", err)
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", cfg.Addr)
	if err != nil {
		_ = eng.Close()
		return nil, fmt.Errorf("embedded: listen on %s: %w", cfg.Addr, err)
	}
	if cfg.TLS != nil {
		ln = tls.NewListener(ln, cfg.TLS.Clone())
	}
	auth, err := newAuthenticator(cfg.Users)
	if err != nil {
		_ = ln.Close()
		_ = eng.Close()
		return nil, err
	}
	s := &Server{
		cfg:        cfg,
		logger:     cfg.Logger,
		engine:     eng,
		ln:         ln,
		host:       advertisedHost(ln.Addr()),
		processID:  bson.NewObjectID(),
		electionID: bson.NewObjectID(),
		started:    time.Now(),
		conns:      make(map[int64]*conn),
		sessions:   newSessionTable(),
		failpoints: newFailpoints(),
		auth:       auth,
		stopped:    make(chan struct{}),
		hangup:     make(chan struct{}),
	}
	s.cursors = newCursorRegistry(s)
	s.mem = newMemLimits(cfg)
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.quiesce, s.cancelQuiesce = context.WithCancel(s.ctx)
	if s.handlers, err = s.buildHandlers(extra); err != nil {
		s.cancel()
		_ = ln.Close()
		_ = eng.Close()
		return nil, err
	}
	s.stats = newCommandStats(s.handlers)
	s.warnExposure()
	s.wg.Add(2)
	go s.acceptLoop()
	go s.janitor()
	s.wg.Add(1)
	go s.ttlMonitor()
	s.logger.Debug("embedded server started", "addr", s.host, "replicaSet", cfg.ReplicaSetName)
	return s, nil
}

// advertisedHost is the host:port put in hello: clients match it exactly
// against the seed list, so it must be dialable (never 0.0.0.0).
func advertisedHost(a net.Addr) string {
	ta, ok := a.(*net.TCPAddr)
	if !ok {
		return a.String()
	}
	ip := ta.IP
	if ip == nil || ip.IsUnspecified() {
		ip = net.IPv4(127, 0, 0, 1)
	}
	return net.JoinHostPort(ip.String(), strconv.Itoa(ta.Port))
}

// buildHandlers registers the core commands and then the command handlers.
func (s *Server) buildHandlers(extra map[string]handler) (map[string]handler, error) {
	core := map[string]handler{}
	s.registerCore(core)
	for name, h := range extra {
		core[name] = h
	}
	if !s.cfg.EnableTestCommands {
		for name := range testCommands {
			delete(core, name)
		}
	}
	cmds := map[string]handler{}
	s.registerCommands(cmds)
	for name, h := range cmds {
		if _, dup := core[name]; dup {
			return nil, fmt.Errorf("embedded: command %q is registered twice (core and commands)", name)
		}
		core[name] = h
	}
	return core, nil
}

// URI returns a connection string for the replica set form
// ("mongodb://127.0.0.1:PORT/?replicaSet=rs0"). Appending
// "&directConnection=true" also works. With Config.TLS it carries
// tls=true; credentials are never put in it.
func (s *Server) URI() string {
	uri := "mongodb://" + s.host + "/?replicaSet=" + s.cfg.ReplicaSetName
	if s.cfg.TLS != nil {
		uri += "&tls=true"
	}
	return uri
}

// Addr returns the host:port the server listens on and advertises.
func (s *Server) Addr() string { return s.host }

// Done is closed once the server has stopped: Stop finished closing every
// connection, goroutine and the engine.
func (s *Server) Done() <-chan struct{} { return s.stopped }

// Err says what is wrong with the server: the error that stopped its engine
// (a failed fsync of acknowledged data: the server then fails every command
// rather than serve a past it cannot keep), or, once stopped, the error of
// closing the engine; nil otherwise.
func (s *Server) Err() error {
	select {
	case <-s.stopped:
		if s.stopErr != nil {
			return s.stopErr
		}
	default:
	}
	return s.engine.Failure()
}

// Quiesce prepares the server for Stop the way mongod's quiesce mode does:
// commands go on being served, but the awaitable hellos of the drivers'
// monitors are answered at once, and later ones within a few milliseconds,
// instead of after their maxAwaitTimeMS. A driver's Client.Disconnect waits
// for its monitor's hello to return, and a Disconnect that races with the
// start of that wait (the driver misses its own cancellation) waited a
// whole heartbeat interval: 10 s by default. Quiesce, then Disconnect the
// clients, then Stop, and each takes milliseconds. Stop quiesces too.
// Idempotent; there is no way back short of a restart.
func (s *Server) Quiesce() { s.cancelQuiesce() }

// quiesceAwait bounds an awaitable hello's wait once the server quiesces,
// and its reply ends the exhaust stream: each of a monitor's checks then
// returns within it, so a Disconnect whose cancellation the monitor missed
// waits at most this long; and a monitor that is not disconnecting does
// not spin.
const quiesceAwait = time.Millisecond

// Stop closes the listener and every connection, kills cursors, aborts open
// transactions, waits for every goroutine of the server and closes the
// engine. It is idempotent: later calls wait for the first one and return
// its result. If ctx ends first, Stop returns ctx's error and the remaining
// cleanup (commands still running, then the engine) finishes in the
// background.
func (s *Server) Stop(ctx context.Context) error {
	s.stopOnce.Do(func() {
		s.cancelQuiesce()
		s.cancel()
		_ = s.ln.Close()
		s.connsMu.Lock()
		s.stopping = true
		for _, c := range s.conns {
			c.close()
		}
		s.connsMu.Unlock()
		go s.finishStop()
	})
	select {
	case <-s.stopped:
		return s.stopErr
	case <-ctx.Done():
		return fmt.Errorf("embedded: stop: %w", ctx.Err())
	}
}

// finishStop waits for the server's goroutines, then releases cursors,
// sessions and the engine.
func (s *Server) finishStop() {
	s.wg.Wait()
	s.cursors.killAll()
	s.sessions.abortAll()
	s.mem.close()
	if err := s.engine.Close(); err != nil {
		s.stopErr = fmt.Errorf("embedded: close engine: %w", err)
	}
	s.logger.Debug("embedded server stopped", "addr", s.host)
	close(s.stopped)
}

// monitorWake returns the channel the next client hang-up closes.
func (s *Server) monitorWake() <-chan struct{} {
	s.hangupMu.Lock()
	defer s.hangupMu.Unlock()
	return s.hangup
}

// wakeMonitors answers every waiting awaitable hello now. It runs when a
// client closes an application (pooled) connection, which is what
// mongo.Client.Disconnect does after it has told its monitor to stop. The
// Go driver's monitor can miss that signal when it arrives between two
// checks (its stop listener is not yet listening), and then sits in an
// awaitable hello for a whole heartbeat interval (10 s by default) while
// Disconnect waits for it. Answering the hello lets the monitor see that it
// is stopping and return, so Disconnect (and a Stop after it) takes
// milliseconds. Other clients' monitors get one topology-unchanged reply
// and wait again: a reply costs microseconds, and hang-ups of application
// connections are rare next to the commands on them.
func (s *Server) wakeMonitors() {
	s.hangupMu.Lock()
	defer s.hangupMu.Unlock()
	close(s.hangup)
	s.hangup = make(chan struct{})
}

func (s *Server) removeConn(c *conn) {
	s.connsMu.Lock()
	delete(s.conns, c.id)
	s.connsMu.Unlock()
	s.cursors.reapConn(c.id)
}

// janitor expires idle cursors and sessions.
func (s *Server) janitor() {
	defer s.wg.Done()
	interval := min(s.cfg.CursorIdleTimeout, s.cfg.SessionIdleTimeout) / 4
	interval = max(min(interval, 5*time.Second), 10*time.Millisecond)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-s.ctx.Done():
			return
		case now := <-t.C:
			s.cursors.expire(now.Add(-s.cfg.CursorIdleTimeout))
			for _, key := range s.sessions.expire(now.Add(-s.cfg.SessionIdleTimeout)) {
				s.cursors.killSession(key)
			}
			s.sessions.abortStaleTxns(now.Add(-txnLifetimeLimit))
		}
	}
}
