package gateway

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"time"
)

// streamSSE serves live=sse: an event "ready" with the starting cursor,
// then one event "change" per change whose id is the cursor after it (so an
// EventSource reconnects with Last-Event-ID where it left off), comment
// lines as heartbeats, and an event "end" when the gateway stops.
func (g *Gateway) streamSSE(w http.ResponseWriter, r *http.Request, p Principal, pl pull) {
	rc := http.NewResponseController(w)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no") // nginx: do not buffer the stream
	w.WriteHeader(http.StatusOK)
	g.live.Add(1)
	defer g.live.Add(-1)

	ctx := r.Context()
	pos := slices.Clone(pl.pos)
	send := func(format string, args ...any) bool {
		if _, err := fmt.Fprintf(w, format, args...); err != nil {
			return false
		}
		return rc.Flush() == nil
	}
	cur, err := g.cursorFor(p.Owner, pl.names, pos)
	if err != nil || !send("retry: 1000\nevent: ready\nid: %s\ndata: {\"cursor\":%q}\n\n", cur, cur) {
		return
	}
	heartbeat := time.NewTicker(g.cfg.Heartbeat)
	defer heartbeat.Stop()
	end := func() { send("event: end\ndata: {\"reason\":\"shutdown\"}\n\n") }
	for {
		// Stop closes the feeds right after it signals stopping: a wake-up
		// from a closing feed must end the stream as a shutdown, not as an
		// error.
		if g.isStopping() {
			end()
			return
		}
		lw := g.beforeRead(pl.feeds, p.Owner)
		items, next, historic, err := g.pageFrom(ctx, pl, pos, p.Owner)
		if err != nil {
			if g.isStopping() {
				end()
				return
			}
			code := "internal"
			switch {
			case errors.Is(err, errHistoryLost):
				code = "cursor_expired"
			case errors.Is(err, errUnavailable):
				code = "unavailable"
			}
			send("event: error\ndata: {\"code\":%q}\n\n", code)
			return
		}
		for _, s := range items {
			pos[s.ci] = s.pos
			b, err := renderChange(s, pl.json)
			if err == nil {
				cur, err = g.cursorFor(p.Owner, pl.names, pos)
			}
			if err != nil || !send("event: change\nid: %s\ndata: %s\n\n", cur, b) {
				return
			}
		}
		g.served.Add(int64(len(items)))
		pos = next
		if len(items) == pl.limit {
			continue // more is waiting
		}
		wake, release := lw.after(historic)
		select {
		case <-wake:
		case <-heartbeat.C:
			if !send(": heartbeat\n\n") {
				release()
				return
			}
		case <-g.stopping:
			release()
			end()
			return
		case <-ctx.Done():
			release()
			return
		}
		release()
	}
}
