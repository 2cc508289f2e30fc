package gateway

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// pull is one /v1/changes request's parameters.
type pull struct {
	feeds   []*feed
	names   []string
	pos     []position
	limit   int
	live    string
	timeout time.Duration
	json    jsonMode
	// fresh: read from the database's history, not the ring (every
	// change committed before the request; a barrier, see parsePull).
	fresh bool
}

// parsePull reads the query; false means it answered the error.
func (g *Gateway) parsePull(w http.ResponseWriter, r *http.Request, p Principal) (pull, bool) {
	q := r.URL.Query()
	var pl pull
	for _, n := range strings.Split(q.Get("collections"), ",") {
		n = strings.TrimSpace(n)
		if n == "" || slices.Contains(pl.names, n) {
			writeError(w, http.StatusBadRequest, "bad_request", "collections must list distinct collection names, comma separated")
			return pl, false
		}
		f, ok := g.readable(w, p, n)
		if !ok {
			return pl, false
		}
		pl.names = append(pl.names, n)
		pl.feeds = append(pl.feeds, f)
	}
	var ok bool
	if pl.limit, ok = parseLimit(w, q.Get("limit"), g.cfg.DefaultPageSize, g.cfg.MaxPageSize); !ok {
		return pl, false
	}
	switch pl.live = q.Get("live"); pl.live {
	case "", "longpoll", "sse":
	default:
		writeError(w, http.StatusBadRequest, "bad_request", `live must be "longpoll" or "sse"`)
		return pl, false
	}
	if pl.json, ok = parseJSONMode(w, r); !ok {
		return pl, false
	}
	// fresh=true answers a page with every change committed before the
	// request, read from the database's own history (a change stream
	// opened for the request) instead of the shared stream's ring, which
	// can trail the database by the stream's latency. It costs a server
	// cursor per request: a barrier for a client that must know it has
	// seen everything (sync's WaitSynced), not a way to poll.
	switch f := q.Get("fresh"); f {
	case "", "false":
	case "true":
		if pl.live != "" || q.Get("since") == "" {
			writeError(w, http.StatusBadRequest, "bad_request", "fresh=true needs since and no live")
			return pl, false
		}
		pl.fresh = true
	default:
		writeError(w, http.StatusBadRequest, "bad_request", `fresh must be "true" or "false"`)
		return pl, false
	}
	pl.timeout = g.cfg.DefaultLongPoll
	if s := q.Get("timeout"); s != "" {
		secs, err := strconv.ParseFloat(s, 64)
		if err != nil || secs < 0 || secs > g.cfg.MaxLongPoll.Seconds() {
			writeError(w, http.StatusBadRequest, "bad_request", fmt.Sprintf("timeout must be a number of seconds between 0 and %g", g.cfg.MaxLongPoll.Seconds()))
			return pl, false
		}
		pl.timeout = time.Duration(secs * float64(time.Second))
	}
	since := q.Get("since")
	if id := r.Header.Get("Last-Event-ID"); id != "" && pl.live == "sse" {
		// An EventSource reconnecting: it sends the URL it was opened
		// with, whose since is where it started, and the id of the last
		// event it got, which is where it is.
		since = id
	}
	if since == "" {
		for _, f := range pl.feeds {
			now, err := f.now(r.Context())
			if err != nil {
				writeError(w, http.StatusServiceUnavailable, "unavailable", err.Error())
				return pl, false
			}
			pl.pos = append(pl.pos, now)
		}
		return pl, true
	}
	c, err := decodeCursor(g.cfg.CursorKey, since)
	if err == nil {
		err = c.check(p.Owner, pl.names)
	}
	if err != nil {
		writeError(w, http.StatusBadRequest, "bad_cursor", "since is not a cursor this gateway issued for this client and these collections")
		return pl, false
	}
	for _, cc := range c.Colls {
		pl.pos = append(pl.pos, cc.Pos)
	}
	return pl, true
}

func parseLimit(w http.ResponseWriter, s string, def, maxN int) (int, bool) {
	if s == "" {
		return def, true
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 {
		writeError(w, http.StatusBadRequest, "bad_request", "limit must be a positive integer")
		return 0, false
	}
	return min(n, maxN), true
}

// page reads up to limit changes after pos, merged across collections in
// cluster-time order, and the positions to continue from. A collection's
// next position is past every change it returned and past the other
// owners' changes it skipped, but never past a change of the caller that
// did not fit in the page.
func (g *Gateway) page(ctx context.Context, pl pull, pos []position, owner string) ([]scoped, []position, error) {
	all, next, _, err := g.pageFrom(ctx, pl, pos, owner)
	return all, next, err
}

// pageFrom is page, also saying whether a collection was read from the
// server's history (the position was older than its ring).
func (g *Gateway) pageFrom(ctx context.Context, pl pull, pos []position, owner string) (_ []scoped, _ []position, historic bool, _ error) {
	var all []scoped
	tails := make([]position, len(pl.feeds))
	for i, f := range pl.feeds {
		var (
			items []scoped
			tail  position
			ok    bool
			err   error
		)
		if !pl.fresh {
			items, tail, ok, err = f.readRing(pos[i], owner, pl.limit)
		}
		if err == nil && !ok {
			historic = true
			items, tail, err = f.readHistory(ctx, pos[i], owner, pl.limit)
		}
		if err != nil {
			return nil, nil, historic, err
		}
		for j := range items {
			items[j].ci = i
		}
		all = append(all, items...)
		tails[i] = tail
	}
	slices.SortStableFunc(all, func(a, b scoped) int {
		if c := a.pos.T.Compare(b.pos.T); c != 0 {
			return c
		}
		return a.ci - b.ci
	})
	next := slices.Clone(tails)
	if len(all) > pl.limit {
		cut := make([]bool, len(pl.feeds))
		for _, s := range all[pl.limit:] {
			cut[s.ci] = true
		}
		all = all[:pl.limit]
		for i := range next {
			if cut[i] {
				next[i] = pos[i]
			}
		}
		for _, s := range all {
			if cut[s.ci] {
				next[s.ci] = s.pos
			}
		}
	}
	return all, next, historic, nil
}

func (g *Gateway) cursorFor(owner string, names []string, pos []position) (string, error) {
	c := cursor{Owner: owner}
	for i, n := range names {
		c.Colls = append(c.Colls, cursorColl{Name: n, Pos: pos[i]})
	}
	return encodeCursor(g.cfg.CursorKey, c)
}

// renderChange is one change as extended JSON in mode m, so that
// ObjectIds, dates and the other BSON types survive the trip (every type,
// in canonical mode). version names the document's content (the base of a
// push that edits it).
func renderChange(s scoped, m jsonMode) ([]byte, error) {
	d := bson.D{{Key: "collection", Value: s.coll}, {Key: "op", Value: string(s.op)}, {Key: "id", Value: s.id}}
	if s.doc != nil {
		d = append(d, bson.E{Key: "doc", Value: s.doc}, bson.E{Key: "version", Value: versionOf(s.doc)})
	}
	// The commit's cluster time: it orders the change against a push's
	// result (whose time is its own change's), where versions, being
	// content hashes, cannot.
	d = append(d, bson.E{Key: "time", Value: s.pos.T})
	return m.marshal(d)
}

func (g *Gateway) handleChanges(w http.ResponseWriter, r *http.Request, p Principal) {
	pl, ok := g.parsePull(w, r, p)
	if !ok {
		return
	}
	if pl.live == "sse" {
		g.streamSSE(w, r, p, pl)
		return
	}
	ctx := r.Context()
	var items []scoped
	var next []position
	var err error
	if pl.live == "longpoll" {
		g.live.Add(1)
		defer g.live.Add(-1)
		deadline := time.NewTimer(pl.timeout)
		defer deadline.Stop()
		for {
			// The wake channels are taken before reading, so that a change
			// arriving between the read and the wait still wakes us.
			lw := g.beforeRead(pl.feeds, p.Owner)
			var historic bool
			if items, next, historic, err = g.pageFrom(ctx, pl, pl.pos, p.Owner); err != nil || len(items) > 0 {
				break
			}
			pl.pos = next
			wake, release := lw.after(historic)
			woken := false
			select {
			case <-wake:
				woken = !g.isStopping()
			case <-deadline.C:
			case <-g.stopping:
			case <-ctx.Done():
			}
			release()
			if !woken {
				break
			}
		}
	} else {
		items, next, err = g.page(ctx, pl, pl.pos, p.Owner)
	}
	if err != nil {
		g.pageError(w, err)
		return
	}
	var buf bytes.Buffer
	buf.WriteString(`{"changes":[`)
	for i, s := range items {
		b, err := renderChange(s, pl.json)
		if err != nil {
			g.pageError(w, err)
			return
		}
		if i > 0 {
			buf.WriteByte(',')
		}
		buf.Write(b)
	}
	cur, err := g.cursorFor(p.Owner, pl.names, next)
	if err != nil {
		g.pageError(w, err)
		return
	}
	full := len(items) == pl.limit
	tail, _ := json.Marshal(struct {
		Cursor string `json:"cursor"`
		More   bool   `json:"more"`
	}{cur, full})
	buf.WriteString(`],`)
	buf.Write(tail[1:])
	g.served.Add(int64(len(items)))

	h := w.Header()
	if full && pl.live == "" {
		// A full page from a cursor holds the same changes whenever and
		// wherever it is asked for: a cache may keep it. The cursor in the
		// URL is bound to its owner; Vary keeps shared caches from answering
		// another token with it.
		sum := sha256.Sum256(buf.Bytes())
		etag := `"` + hex.EncodeToString(sum[:16]) + `"`
		h.Set("Cache-Control", fmt.Sprintf("public, max-age=%d", int(g.cfg.CacheMaxAge.Seconds())))
		h.Set("ETag", etag)
		h.Add("Vary", "Authorization")
		if inm := r.Header.Get("If-None-Match"); inm != "" && strings.Contains(inm, etag) {
			w.WriteHeader(http.StatusNotModified)
			return
		}
	} else {
		h.Set("Cache-Control", "no-store")
	}
	writeJSON(w, http.StatusOK, buf.Bytes())
}

func (g *Gateway) pageError(w http.ResponseWriter, err error) {
	switch {
	case errors.Is(err, errHistoryLost):
		writeError(w, http.StatusGone, "cursor_expired", err.Error())
	case errors.Is(err, errUnavailable):
		writeError(w, http.StatusServiceUnavailable, "unavailable", err.Error())
	case errors.Is(err, context.Canceled):
		// The client went away; nobody reads the answer.
	default:
		g.cfg.Logger.Error("gateway: read changes", "err", err)
		writeError(w, http.StatusInternalServerError, "internal", "reading changes failed")
	}
}

// liveWait is what a live request waits on after reading a page, taken
// before reading it.
type liveWait struct {
	g     *Gateway
	owner <-chan struct{}   // the owner's next change (and wake-alls)
	feeds []<-chan struct{} // each feed's next change, whoever's
}

func (g *Gateway) beforeRead(feeds []*feed, owner string) liveWait {
	lw := liveWait{g: g, owner: g.owners.wait(owner), feeds: make([]<-chan struct{}, len(feeds))}
	for i, f := range feeds {
		lw.feeds[i] = f.waitCh()
	}
	return lw
}

// after returns the channel to wait on, and a func that releases it: the
// owner's when every collection was read from its ring; any change of the
// collections when one was read from the server's history (such a request
// catches up a bounded scan at a time and must not wait for a change of
// its own to go on).
func (lw liveWait) after(historic bool) (<-chan struct{}, func()) {
	if !historic {
		return lw.owner, func() {}
	}
	return lw.g.anyOf(lw.feeds)
}

// anyOf returns a channel closed when any of chans is (or when the gateway
// stops), and a func that releases it; with several channels it costs one
// goroutine until then.
func (g *Gateway) anyOf(chans []<-chan struct{}) (<-chan struct{}, func()) {
	if len(chans) == 1 {
		return chans[0], func() {}
	}
	cases := make([]reflect.SelectCase, 0, len(chans)+2)
	for _, c := range chans {
		cases = append(cases, reflect.SelectCase{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(c)})
	}
	release := make(chan struct{})
	cases = append(cases,
		reflect.SelectCase{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(g.stopping)},
		reflect.SelectCase{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(release)})
	out := make(chan struct{})
	go func() {
		defer close(out)
		reflect.Select(cases)
	}()
	var once sync.Once
	return out, func() { once.Do(func() { close(release) }) }
}
