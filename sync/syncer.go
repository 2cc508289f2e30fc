package sync

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"github.com/mongotide/mongotide/internal/goid"
	"hash/fnv"
	gosync "sync"
	"sync/atomic"
	"time"

	"github.com/mongotide/mongotide/listen"
	"github.com/mongotide/mongotide/resume"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// Syncer replicates Config.Collections between Config.Local and
// Config.Remote. Create it with New; it is safe for concurrent use.
type Syncer struct {
	cfg   Config
	clock hlc
	store resume.Store

	localDocs  *mongo.Collection
	localState *mongo.Collection
	remoteVers *mongo.Collection

	// locks serialise the two directions' handlers for one document.
	locks [64]gosync.Mutex

	online atomic.Int32 // 0 unknown, 1 online, 2 offline
	// wentOffline wakes probeRemote (buffered, 1).
	wentOffline chan struct{}

	// own are the goroutines running a Config callback right now.
	own goid.Set

	mu      gosync.Mutex // guards the fields below
	running bool
	done    chan struct{} // of the current or last run; closed when it stopped
	replica string
	cancel  context.CancelFunc
	wg      gosync.WaitGroup
	colls   map[string]*collState

	// upLimit paces uploads (Config.UploadRate); nil when unlimited.
	upLimit *uploadLimiter

	// caps limit the size of sync's own entries (see sizeCaps).
	caps sizeCaps

	// ownLocal and ownRemote remember the syncer's own commits on each
	// side, so that the other direction skips their echoes (see
	// ownWrites).
	ownLocal, ownRemote ownWrites
}

// collState is the live state of one synced collection.
type collState struct {
	name         string
	bootstrapped atomic.Bool
	uploaded     atomic.Uint64
	downloaded   atomic.Uint64
	retrying     atomic.Int32 // uploads currently failing and retrying
	lastUp       atomic.Pointer[bson.Timestamp]
	lastDown     atomic.Pointer[bson.Timestamp]
	upSub        atomic.Pointer[listen.Subscription]
	downSub      atomic.Pointer[listen.Subscription]
	// gwCursor is where the pull of a gateway remote stands: every
	// change before it was handled (WaitSynced reads it).
	gwCursor atomic.Pointer[string]
}

// New validates cfg and returns a stopped Syncer.
func New(cfg Config) (*Syncer, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	s := &Syncer{
		cfg:         cfg,
		clock:       hlc{wall: cfg.Clock},
		store:       resume.NewMongoStore(cfg.Local.Collection(localCheckpointsColl)),
		localDocs:   cfg.Local.Collection(localDocsColl),
		localState:  cfg.Local.Collection(localStateColl),
		caps:        defaultCaps(),
		wentOffline: make(chan struct{}, 1),
		upLimit:     newUploadLimiter(cfg.UploadRate, cfg.UploadBurst),
	}
	if cfg.Remote != nil {
		s.remoteVers = cfg.Remote.Collection(remoteVersionsColl)
	}
	return s, nil
}

// Start starts syncing in the background and returns once the local side
// is ready; it does not wait for the remote (offline-first). ctx bounds the
// start-up only; Stop ends the syncer. Calling Start on a running Syncer
// does nothing.
func (s *Syncer) Start(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.running {
		select {
		case <-s.done: // stopped from a callback; nobody waited for it
			s.running = false
		default:
			return nil
		}
	}
	replica, err := s.replicaID(ctx)
	if err != nil {
		return fmt.Errorf("sync: replica id: %w", err)
	}
	s.replica = replica
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	s.colls = map[string]*collState{}
	for _, name := range s.cfg.Collections {
		cs := &collState{name: name}
		s.colls[name] = cs
		// The upload side starts from a point captured now, before any
		// bootstrap, so local writes made meanwhile are not missed.
		if err := s.captureResumePoint(ctx, s.cfg.Local.Collection(name), uploadKey(name)); err != nil {
			cancel()
			return fmt.Errorf("sync: local change stream on %q: %w", name, err)
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			if s.cfg.Gateway != nil {
				s.gwRunCollection(runCtx, cs)
				return
			}
			s.runCollection(runCtx, cs)
		}()
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		s.probeRemote(runCtx)
	}()
	if s.cfg.Gateway == nil {
		// A gateway keeps no registry of its clients, and compacts its
		// database itself (POST /v1/compact).
		s.wg.Add(2)
		go func() {
			defer s.wg.Done()
			s.runHeartbeats(runCtx)
		}()
		go func() {
			defer s.wg.Done()
			s.runCompaction(runCtx)
		}()
	}
	s.cancel = cancel
	s.running = true
	done := make(chan struct{})
	s.done = done
	go func() {
		// Closes done once the run's goroutines ended, however the stop
		// was asked for (Stop waits for it; a Stop from a callback
		// cannot).
		<-runCtx.Done()
		s.wg.Wait()
		close(done)
	}()
	return nil
}

// Done is closed when the syncer has stopped (Stop returned nil); before the
// first Start it is already closed. A later Start makes a new channel.
func (s *Syncer) Done() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.done == nil {
		s.done = make(chan struct{})
		close(s.done)
	}
	return s.done
}

// Err is why the syncer stopped. It is always nil: a Syncer runs until Stop,
// surviving every error (each goes to Config.OnError and is retried with
// backoff); it exists so that every long-lived mongotide value has the same
// Stop/Done/Err lifecycle.
func (s *Syncer) Err() error { return nil }

// probeRemote pings the remote with backoff while it is offline, so its
// return is noticed (OnOnline, Status.Online) even when no change is
// waiting to sync: a change stream reconnecting inside listen reports
// failures, not recoveries.
func (s *Syncer) probeRemote(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.wentOffline:
		}
		bo := s.cfg.Backoff()
		for s.online.Load() == 2 {
			if !sleep(ctx, bo.NextBackOff()) {
				return
			}
			var err error
			if s.cfg.Gateway != nil {
				err = s.cfg.Gateway.Ready(ctx)
			} else {
				err = s.cfg.Remote.Client().Ping(ctx, nil)
			}
			if ctx.Err() != nil {
				return
			}
			if err == nil {
				s.remoteResult(nil)
			}
		}
	}
}

// Stop stops syncing and waits for every goroutine to end; each direction
// waits for its in-flight change and saves its checkpoint. If ctx ends first
// Stop returns its error and the syncer keeps stopping (call Stop again, or
// wait for Done). Calling Stop on a stopped Syncer does nothing. Called from
// a Config callback (which runs on one of the goroutines Stop waits for),
// it asks the syncer to stop and returns at once; Done is closed once the
// syncer has stopped.
func (s *Syncer) Stop(ctx context.Context) error {
	s.mu.Lock()
	if !s.running {
		s.mu.Unlock()
		return nil
	}
	cancel, done := s.cancel, s.done
	s.mu.Unlock()
	cancel()
	if s.own.HasSelf() {
		return nil // waiting here would wait for the caller itself
	}
	select {
	case <-done:
	case <-ctx.Done():
		return fmt.Errorf("sync: stop: %w", ctx.Err())
	}
	s.mu.Lock()
	if s.done == done {
		s.running = false
	}
	s.mu.Unlock()
	return nil
}

// callback runs f, a call of a Config callback, as user code: a Stop it
// makes does not wait for the goroutine it runs on (see internal/goid).
func (s *Syncer) callback(f func()) {
	id := s.own.AddSelf()
	defer s.own.RemoveID(id)
	f()
}

// CollectionStatus is the state of one synced collection.
type CollectionStatus struct {
	Name string
	// Bootstrapped is true once the initial copy finished.
	Bootstrapped bool
	// Pending counts local changes received but not yet uploaded.
	Pending int
	// Uploaded and Downloaded count documents written to the other side
	// since Start.
	Uploaded, Downloaded uint64
	// LastUpload and LastDownload are the cluster times (on the source
	// side) of the last changes handled in each direction.
	LastUpload, LastDownload bson.Timestamp
	// UploadLag and DownloadLag are how long after its commit the last
	// change of each direction was handled.
	UploadLag, DownloadLag time.Duration
}

// Status is a snapshot of a Syncer.
type Status struct {
	Running bool
	// Online is true when the last remote operation succeeded.
	Online bool
	// ReplicaID is this replica's id in document versions.
	ReplicaID   string
	Collections []CollectionStatus
	// UploadRate is the upload rate limit (Config.UploadRate) and how
	// much it held uploads back.
	UploadRate UploadRateStatus
}

// Status reports the syncer's state. It does not block on the remote.
func (s *Syncer) Status(ctx context.Context) (Status, error) {
	if err := ctx.Err(); err != nil {
		return Status{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	st := Status{Running: s.running, Online: s.online.Load() == 1, ReplicaID: s.replica, UploadRate: s.upLimit.status()}
	for _, name := range s.cfg.Collections {
		cs := s.colls[name]
		if cs == nil {
			st.Collections = append(st.Collections, CollectionStatus{Name: name})
			continue
		}
		c := CollectionStatus{
			Name:         name,
			Bootstrapped: cs.bootstrapped.Load(),
			Uploaded:     cs.uploaded.Load(),
			Downloaded:   cs.downloaded.Load(),
			Pending:      int(cs.retrying.Load()),
		}
		if ts := cs.lastUp.Load(); ts != nil {
			c.LastUpload = *ts
		}
		if ts := cs.lastDown.Load(); ts != nil {
			c.LastDownload = *ts
		}
		if sub := cs.upSub.Load(); sub != nil {
			stats := sub.Stats()
			// Unfinished covers the changes being uploaded, retried or
			// queued for a worker (retrying among them).
			c.Pending = stats.Buffered + stats.Unfinished
			c.UploadLag = stats.Lag
		}
		if sub := cs.downSub.Load(); sub != nil {
			c.DownloadLag = sub.Stats().Lag
		}
		st.Collections = append(st.Collections, c)
	}
	return st, nil
}

// replicaID returns Config.ReplicaID, else the id kept in the local state
// collection, generating it on first use.
func (s *Syncer) replicaID(ctx context.Context) (string, error) {
	if s.cfg.ReplicaID != "" {
		return s.cfg.ReplicaID, nil
	}
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	var doc struct {
		ID string `bson:"id"`
	}
	err := s.localState.FindOneAndUpdate(ctx, bson.D{{Key: "_id", Value: "replica"}},
		bson.D{{Key: "$setOnInsert", Value: bson.D{{Key: "id", Value: hex.EncodeToString(b[:])}}}},
		options.FindOneAndUpdate().SetUpsert(true).SetReturnDocument(options.After)).Decode(&doc)
	return doc.ID, err
}

func (s *Syncer) lock(coll string, id bson.RawValue) func() {
	h := fnv.New32a()
	h.Write([]byte(coll))
	h.Write(id.Value)
	m := &s.locks[h.Sum32()%uint32(len(s.locks))]
	m.Lock()
	return m.Unlock
}

func (s *Syncer) reportError(err error) {
	if s.cfg.OnError != nil {
		s.callback(func() { s.cfg.OnError(err) })
	}
	s.cfg.Logger.Debug("sync: error", "err", err)
}

// remoteResult records the outcome of a remote operation for the
// online/offline state.
func (s *Syncer) remoteResult(err error) {
	if err == nil {
		if s.online.Swap(1) != 1 && s.cfg.OnOnline != nil {
			s.callback(s.cfg.OnOnline)
		}
		return
	}
	if !isOffline(err) {
		return
	}
	if s.online.Swap(2) != 2 {
		select {
		case s.wentOffline <- struct{}{}:
		default:
		}
		if s.cfg.OnOffline != nil {
			s.callback(func() { s.cfg.OnOffline(err) })
		}
	}
}

func uploadKey(coll string) string   { return "upload." + coll }
func downloadKey(coll string) string { return "download." + coll }

// isOffline reports whether err means the remote could not be reached (as
// opposed to the remote refusing an operation).
func isOffline(err error) bool {
	return mongo.IsNetworkError(err) || mongo.IsTimeout(err) || listen.Classify(err) == listen.Resumable
}
