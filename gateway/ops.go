package gateway

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"
)

func (g *Gateway) handleHealth(w http.ResponseWriter, _ *http.Request, _ Principal) {
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, []byte(`{"status":"ok"}`+"\n"))
}

// handleReady says whether this instance should get traffic: started, not
// stopping, the database answers and every change stream is open.
func (g *Gateway) handleReady(w http.ResponseWriter, r *http.Request, _ Principal) {
	g.mu.Lock()
	started := g.started
	g.mu.Unlock()
	var problems []string
	switch {
	case !started:
		problems = append(problems, "not started")
	case g.isStopping():
		problems = append(problems, "stopping")
	}
	for _, n := range g.names {
		if st, _ := g.feeds[n].status(); st != "open" {
			problems = append(problems, fmt.Sprintf("change stream of %q is %s", n, st))
		}
	}
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if err := g.cfg.Database.Client().Ping(ctx, nil); err != nil {
		problems = append(problems, "database unreachable")
	}
	if len(problems) > 0 {
		writeError(w, http.StatusServiceUnavailable, "not_ready", strings.Join(problems, "; "))
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, []byte(`{"status":"ready"}`+"\n"))
}

// Stats is a snapshot of the gateway's counters (GET /v1/stats).
type Stats struct {
	StartedAt     time.Time `json:"started_at"` // zero before Start
	Requests      int64     `json:"requests"`
	Clients       int64     `json:"clients"`      // requests in progress
	LiveClients   int64     `json:"live_clients"` // long polls and SSE streams open
	ChangesServed int64     `json:"changes_served"`
	Refused       int64     `json:"refused"` // 401 and 403 answers
	// ServerStreams is how many change streams the gateway holds open on
	// the database: one per collection, whatever the number of clients.
	ServerStreams int                        `json:"server_streams"`
	Collections   map[string]CollectionStats `json:"collections"`
	// Pushes counts the results of pushed operations.
	Pushes PushStats `json:"pushes"`
}

// PushStats counts POST /v1/operations results: each operation applied or
// refused for the first time by its status, and the operations answered
// from their idempotency record (a repeated opId) as Replayed.
type PushStats struct {
	Accepted int64 `json:"accepted"`
	Conflict int64 `json:"conflict"`
	Rejected int64 `json:"rejected"`
	Replayed int64 `json:"replayed"`
}

// CollectionStats describes one collection's shared stream.
type CollectionStats struct {
	State        string `json:"state"` // starting, open, failed, stopped
	Error        string `json:"error,omitempty"`
	Ring         int    `json:"ring"` // changes held in memory
	Appended     uint64 `json:"appended"`
	Evicted      uint64 `json:"evicted"`
	HistoryReads uint64 `json:"history_reads"` // requests older than the ring
	// Gaps counts the times the stream fell behind the oplog and reopened
	// from then (the ring emptied; older cursors read the history or get
	// 410).
	Gaps uint64 `json:"gaps"`
	// Reopens counts the times the stream ended with an error and was
	// reopened (Config.ReopenBackoff).
	Reopens uint64 `json:"reopens"`
	// UnattributedDeletes are deletes without a pre-image, hidden from
	// owner-scoped clients.
	UnattributedDeletes uint64 `json:"unattributed_deletes"`
}

// Stats returns the current counters.
func (g *Gateway) Stats() Stats {
	g.mu.Lock()
	startedAt := g.startedAt
	g.mu.Unlock()
	s := Stats{
		StartedAt:     startedAt,
		Requests:      g.requests.Load(),
		Clients:       g.active.Load(),
		LiveClients:   g.live.Load(),
		ChangesServed: g.served.Load(),
		Refused:       g.refused.Load(),
		ServerStreams: g.hub.StreamCount(),
		Collections:   make(map[string]CollectionStats, len(g.names)),
		Pushes: PushStats{Accepted: g.pushAccepted.Load(), Conflict: g.pushConflict.Load(),
			Rejected: g.pushRejected.Load(), Replayed: g.pushReplayed.Load()},
	}
	for _, n := range g.names {
		f := g.feeds[n]
		f.mu.Lock()
		cs := CollectionStats{State: f.state, Ring: len(f.ring)}
		if f.err != nil {
			cs.Error = f.err.Error()
		}
		f.mu.Unlock()
		cs.Appended, cs.Evicted = f.appended.Load(), f.evicted.Load()
		cs.HistoryReads, cs.UnattributedDeletes = f.historyOpens.Load(), f.unattributed.Load()
		cs.Gaps = f.gaps.Load()
		cs.Reopens = f.reopens.Load()
		s.Collections[n] = cs
	}
	return s
}

func (g *Gateway) handleStats(w http.ResponseWriter, _ *http.Request, _ Principal) {
	b, _ := json.Marshal(g.Stats())
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, b)
}

// handleMetrics writes the stats in the Prometheus text format (0.0.4),
// by hand: a handful of counters do not justify the client library.
func (g *Gateway) handleMetrics(w http.ResponseWriter, _ *http.Request, _ Principal) {
	s := g.Stats()
	var b strings.Builder
	metric := func(name, typ, help string) {
		fmt.Fprintf(&b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, typ)
	}
	metric("mongotide_gateway_requests_total", "counter", "HTTP requests received.")
	fmt.Fprintf(&b, "mongotide_gateway_requests_total %d\n", s.Requests)
	metric("mongotide_gateway_refused_total", "counter", "Requests answered 401 or 403.")
	fmt.Fprintf(&b, "mongotide_gateway_refused_total %d\n", s.Refused)
	metric("mongotide_gateway_clients", "gauge", "Requests in progress.")
	fmt.Fprintf(&b, "mongotide_gateway_clients %d\n", s.Clients)
	metric("mongotide_gateway_live_clients", "gauge", "Long polls and SSE streams open.")
	fmt.Fprintf(&b, "mongotide_gateway_live_clients %d\n", s.LiveClients)
	metric("mongotide_gateway_changes_served_total", "counter", "Changes and snapshot documents sent to clients.")
	fmt.Fprintf(&b, "mongotide_gateway_changes_served_total %d\n", s.ChangesServed)
	metric("mongotide_gateway_server_streams", "gauge", "Change streams open on the database.")
	fmt.Fprintf(&b, "mongotide_gateway_server_streams %d\n", s.ServerStreams)
	metric("mongotide_gateway_push_operations_total", "counter", "Pushed operations applied or refused, by status (replays of a recorded opId not included).")
	fmt.Fprintf(&b, "mongotide_gateway_push_operations_total{status=\"accepted\"} %d\n", s.Pushes.Accepted)
	fmt.Fprintf(&b, "mongotide_gateway_push_operations_total{status=\"conflict\"} %d\n", s.Pushes.Conflict)
	fmt.Fprintf(&b, "mongotide_gateway_push_operations_total{status=\"rejected\"} %d\n", s.Pushes.Rejected)
	metric("mongotide_gateway_push_replayed_total", "counter", "Pushed operations answered from their idempotency record (a repeated opId).")
	fmt.Fprintf(&b, "mongotide_gateway_push_replayed_total %d\n", s.Pushes.Replayed)
	perColl := []struct {
		name, typ, help string
		val             func(CollectionStats) any
	}{
		{"mongotide_gateway_stream_open", "gauge", "1 when the collection's change stream is open.", func(c CollectionStats) any { return b2i(c.State == "open") }},
		{"mongotide_gateway_ring_changes", "gauge", "Changes held in memory.", func(c CollectionStats) any { return c.Ring }},
		{"mongotide_gateway_stream_changes_total", "counter", "Changes read from the collection's stream.", func(c CollectionStats) any { return c.Appended }},
		{"mongotide_gateway_history_reads_total", "counter", "Requests served from a change stream of their own (cursor older than the ring).", func(c CollectionStats) any { return c.HistoryReads }},
		{"mongotide_gateway_unattributed_deletes_total", "counter", "Deletes without a pre-image, hidden from owner-scoped clients.", func(c CollectionStats) any { return c.UnattributedDeletes }},
	}
	for _, m := range perColl {
		metric(m.name, m.typ, m.help)
		for _, n := range g.names {
			fmt.Fprintf(&b, "%s{collection=%q} %v\n", m.name, n, m.val(s.Collections[n]))
		}
	}
	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write([]byte(b.String()))
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}
