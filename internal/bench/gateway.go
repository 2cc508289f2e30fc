package bench

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	mrand "math/rand/v2"
	"net/http"
	"net/url"
	"runtime"
	"slices"
	"strconv"
	"strings"
	gosync "sync"
	"sync/atomic"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/mongotide/mongotide/embedded"
	"github.com/mongotide/mongotide/gateway"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// The gateway measurements run two gateway instances (as behind a load
// balancer) on one database of an embedded server of their own in this
// process, each serving two
// owner-scoped collections over HTTP on loopback, and clients that are
// plain net/http clients holding a JWT each (one owner per client).

// gwCollections are the collections the bench gateways serve; live
// clients follow both.
var gwCollections = []string{"notes", "tasks"}

// gwLiveQuery is the live clients' request.
const gwLiveQuery = "/v1/changes?collections=notes,tasks&live=sse"

// gwSnapshotOwner owns the initial-sync documents.
const gwSnapshotOwner = "snapshot-owner"

// gwPad makes a write of the fan-out measurement about 250 bytes.
var gwPad = strings.Repeat("w", 200)

func gwOwner(i int) string { return fmt.Sprintf("u%05d", i) }

// gwEnv is the database, the two started gateways and one token per owner.
type gwEnv struct {
	db     *mongo.Database
	gws    []*gateway.Gateway
	urls   []string
	secret []byte
	tokens []string // tokens[i] is gwOwner(i)'s
	// cursors0 is the server's open cursor count before the gateways
	// started.
	cursors0 int64
}

// startGatewayEnv seeds one "notes" document per owner and starts the
// gateways.
func startGatewayEnv(ctx context.Context, client *mongo.Client, instances, owners int) (*gwEnv, error) {
	e := &gwEnv{db: freshDB(client, "gateway"), secret: make([]byte, 32)}
	key := make([]byte, 32)
	_, _ = rand.Read(e.secret)
	_, _ = rand.Read(key)
	batch := make([]any, 0, 1000)
	for i := 0; i < owners; i++ {
		batch = append(batch, bson.D{{Key: "_id", Value: "n-" + gwOwner(i)}, {Key: "owner", Value: gwOwner(i)}, {Key: "seq", Value: int64(-1)}})
		if len(batch) == cap(batch) || i == owners-1 {
			if _, err := e.db.Collection("notes").InsertMany(ctx, batch); err != nil {
				return nil, fmt.Errorf("seed notes: %w", err)
			}
			batch = batch[:0]
		}
	}
	for i := 0; i < owners; i++ {
		tok, err := e.token(gwOwner(i))
		if err != nil {
			return nil, err
		}
		e.tokens = append(e.tokens, tok)
	}
	var err error
	if e.cursors0, err = openCursors(ctx, client); err != nil {
		return nil, fmt.Errorf("serverStatus: %w", err)
	}
	auth, err := gateway.NewJWTAuthenticator(gateway.JWTConfig{HS256Secret: e.secret})
	if err != nil {
		return nil, err
	}
	rules := map[string]gateway.Rule{}
	for _, c := range gwCollections {
		rules[c] = gateway.Rule{OwnerField: "owner", ReadRoles: []string{"*"}}
	}
	for range instances {
		gw, err := gateway.New(gateway.Config{Database: e.db, Collections: rules, Authenticator: auth,
			CursorKey: key, Addr: "127.0.0.1:0"})
		if err != nil {
			return e, err
		}
		if err := gw.Start(ctx); err != nil {
			return e, err
		}
		e.gws = append(e.gws, gw)
		e.urls = append(e.urls, "http://"+gw.Addr())
	}
	return e, nil
}

func (e *gwEnv) token(owner string) (string, error) {
	return jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{
		"sub": owner, "exp": time.Now().Add(2 * time.Hour).Unix(),
	}).SignedString(e.secret)
}

// close stops the gateways and drops the database (its 100,000 snapshot
// documents would otherwise stay in this process's heap).
func (e *gwEnv) close(ctx context.Context) {
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	for _, gw := range e.gws {
		_ = gw.Stop(sctx)
	}
	_ = e.db.Drop(sctx)
}

// live is the number of live requests the gateways serve.
func (e *gwEnv) live() int64 {
	var n int64
	for _, gw := range e.gws {
		n += gw.Stats().LiveClients
	}
	return n
}

// streams is the gateways' own count of server change streams.
func (e *gwEnv) streams() int {
	n := 0
	for _, gw := range e.gws {
		n += gw.Stats().ServerStreams
	}
	return n
}

// waitLive waits until the gateways serve n live requests.
func (e *gwEnv) waitLive(ctx context.Context, n int64) error {
	deadline := time.Now().Add(time.Minute)
	for e.live() != n {
		if time.Now().After(deadline) {
			return fmt.Errorf("the gateways serve %d live requests, want %d", e.live(), n)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
	}
	return nil
}

// openCursors is the server's open cursor count (serverStatus
// metrics.cursor.open.total; a change stream is one).
func openCursors(ctx context.Context, client *mongo.Client) (int64, error) {
	var st struct {
		Metrics struct {
			Cursor struct {
				Open struct {
					Total int64 `bson:"total"`
				} `bson:"open"`
			} `bson:"cursor"`
		} `bson:"metrics"`
	}
	err := client.Database("admin").RunCommand(ctx, bson.D{{Key: "serverStatus", Value: 1}}).Decode(&st)
	return st.Metrics.Cursor.Open.Total, err
}

// newGatewayHTTPClient is the clients' net/http client: one transport,
// one connection per live stream.
func newGatewayHTTPClient() *http.Client {
	return &http.Client{Transport: &http.Transport{
		MaxIdleConnsPerHost: 64,
		DisableCompression:  true,
		ForceAttemptHTTP2:   false,
	}}
}

// sseConn is one live client's open stream.
type sseConn struct {
	body   io.ReadCloser
	rd     *bufio.Reader
	cancel context.CancelFunc
}

// dialSSE opens a live=sse request and reads its ready event.
func dialSSE(ctx context.Context, hc *http.Client, base, tok string) (*sseConn, error) {
	cctx, cancel := context.WithCancel(ctx)
	req, err := http.NewRequestWithContext(cctx, http.MethodGet, base+gwLiveQuery, nil)
	if err != nil {
		cancel()
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Accept", "text/event-stream")
	res, err := hc.Do(req)
	if err != nil {
		cancel()
		return nil, err
	}
	if res.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(res.Body, 512))
		res.Body.Close()
		cancel()
		return nil, fmt.Errorf("GET %s: %d %s", gwLiveQuery, res.StatusCode, b)
	}
	c := &sseConn{body: res.Body, rd: bufio.NewReader(res.Body), cancel: cancel}
	ev, _, err := c.next()
	if err == nil && ev != "ready" {
		err = fmt.Errorf("first event %q, want ready", ev)
	}
	if err != nil {
		c.close()
		return nil, err
	}
	return c, nil
}

func (c *sseConn) close() {
	c.cancel()
	_ = c.body.Close()
}

// next returns the next event's name and data; comment lines
// (heartbeats) are skipped.
func (c *sseConn) next() (event string, data []byte, err error) {
	for {
		line, err := c.rd.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			long := append([]byte(nil), line...)
			for errors.Is(err, bufio.ErrBufferFull) {
				line, err = c.rd.ReadSlice('\n')
				long = append(long, line...)
			}
			line = long
		}
		if err != nil {
			return "", nil, err
		}
		line = bytes.TrimRight(line, "\r\n")
		switch {
		case len(line) == 0:
			if event != "" || data != nil {
				return event, data, nil
			}
		case line[0] == ':':
		case bytes.HasPrefix(line, []byte("event: ")):
			event = string(line[len("event: "):])
		case bytes.HasPrefix(line, []byte("data: ")):
			data = append(data[:0], line[len("data: "):]...)
		}
	}
}

// dialMany opens one live stream per token, client i on urls[i%len(urls)],
// a few at a time.
func dialMany(ctx context.Context, hc *http.Client, urls, tokens []string) ([]*sseConn, error) {
	conns := make([]*sseConn, len(tokens))
	errs := make([]error, len(tokens))
	var next atomic.Int64
	var wg gosync.WaitGroup
	for range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= len(tokens) {
					return
				}
				conns[i], errs[i] = dialSSE(ctx, hc, urls[i%len(urls)], tokens[i])
			}
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		closeAll(conns)
		return nil, fmt.Errorf("open live streams: %w", err)
	}
	return conns, nil
}

func closeAll(conns []*sseConn) {
	for _, c := range conns {
		if c != nil {
			c.close()
		}
	}
}

// drainIdle reads c's events (heartbeats) until it is closed, as an idle
// client does.
func drainIdle(c *sseConn) {
	for {
		if _, _, err := c.next(); err != nil {
			return
		}
	}
}

// GatewayClientsSpec is what a gateway client process (mongotide bench
// gateway-clients) reads on stdin: client i opens a live stream on
// URLs[i%len(URLs)] with Tokens[i].
type GatewayClientsSpec struct {
	URLs   []string `json:"urls"`
	Tokens []string `json:"tokens"`
}

// RunGatewayClients is the body of a gateway client process: it reads a
// GatewayClientsSpec from stdin, opens the live streams, writes "ready N"
// to stdout, keeps reading the streams and closes them when stdin ends
// (or ctx does).
func RunGatewayClients(ctx context.Context, stdin io.Reader, stdout io.Writer) error {
	dec := json.NewDecoder(stdin)
	var spec GatewayClientsSpec
	if err := dec.Decode(&spec); err != nil {
		return fmt.Errorf("read the client spec: %w", err)
	}
	if len(spec.URLs) == 0 {
		return errors.New("the client spec has no URLs")
	}
	if err := EnsureFiles(len(spec.Tokens) + 256); err != nil {
		return err
	}
	conns, err := dialMany(ctx, newGatewayHTTPClient(), spec.URLs, spec.Tokens)
	if err != nil {
		return err
	}
	defer closeAll(conns)
	for _, c := range conns {
		go drainIdle(c)
	}
	fmt.Fprintf(stdout, "ready %d\n", len(conns))
	eof := make(chan struct{})
	go func() {
		_, _ = io.Copy(io.Discard, io.MultiReader(dec.Buffered(), stdin))
		close(eof)
	}()
	select {
	case <-eof:
	case <-ctx.Done():
	}
	return nil
}

// memInUse is the Go heap in use plus goroutine stacks, after collecting
// garbage: what a connection's state and its goroutines cost.
func memInUse() uint64 {
	runtime.GC()
	time.Sleep(50 * time.Millisecond) // let finalizers and sweeps run
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapInuse + ms.StackInuse
}

// perClient is (after-before)/n in bytes, 0 when memory shrank.
func perClient(before, after uint64, n int) float64 {
	if after < before || n < 1 {
		return 0
	}
	return float64(after-before) / float64(n)
}

// idleClientsInProcess starts a gateway client process (spawn) with one
// idle live stream per token and measures this process's memory before and
// after: the gateway side only, as the clients live in the other process.
func idleClientsInProcess(ctx context.Context, cfg Config, e *gwEnv) (perConn float64, err error) {
	before := memInUse()
	cmd := cfg.GatewayClientProcess()
	if cmd.Stderr == nil {
		cmd.Stderr = cfg.Progress
	}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return 0, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return 0, err
	}
	if err := cmd.Start(); err != nil {
		return 0, fmt.Errorf("start the gateway client process: %w", err)
	}
	defer func() {
		_ = stdin.Close()
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case werr := <-done:
			if werr != nil && err == nil {
				err = fmt.Errorf("gateway client process: %w", werr)
			}
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		if err == nil {
			err = e.waitLive(ctx, 0)
		}
	}()
	spec, _ := json.Marshal(GatewayClientsSpec{URLs: e.urls, Tokens: e.tokens})
	if _, err := stdin.Write(append(spec, '\n')); err != nil {
		return 0, fmt.Errorf("write the client spec: %w", err)
	}
	ready := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReader(stdout).ReadString('\n')
		ready <- strings.TrimSpace(line)
		_, _ = io.Copy(io.Discard, stdout)
	}()
	select {
	case line := <-ready:
		if line != "ready "+strconv.Itoa(len(e.tokens)) {
			return 0, fmt.Errorf("gateway client process said %q, want %q", line, "ready "+strconv.Itoa(len(e.tokens)))
		}
	case <-ctx.Done():
		return 0, ctx.Err()
	case <-time.After(2 * time.Minute):
		return 0, errors.New("the gateway client process did not open its streams in 2 minutes")
	}
	if err := e.waitLive(ctx, int64(len(e.tokens))); err != nil {
		return 0, err
	}
	return perClient(before, memInUse(), len(e.tokens)), nil
}

// GatewayFanout is the live fan-out measurement.
type GatewayFanout struct {
	Writes   int     // measured writes (after the warm-up)
	Rate     float64 // achieved write rate
	P50, P99 time.Duration
	// Cursors are the server's open cursors beyond those open before the
	// gateways started, sampled while the clients were connected: the
	// fewest and the most seen.
	MinCursors, MaxCursors int64
}

// gatewayFanout has conns[i] (gwOwner(i)'s live stream) receive writes made
// at rate per second for d after a one-second warm-up: each the update of
// the owner's "notes" document or the insert of a "tasks" document for a
// random owner with no write on its way (so an update's looked-up document
// is always the write's own). It fails unless every write reached its
// owner's stream exactly once and no stream saw another owner's document.
func gatewayFanout(ctx context.Context, client *mongo.Client, e *gwEnv, conns []*sseConn, rate int, d time.Duration) (GatewayFanout, error) {
	clients := len(conns)
	warmN := rate
	n := warmN + int(float64(rate)*d.Seconds())
	sent := make([]atomic.Int64, n) // unix ns before the write
	got := make([]atomic.Int64, n)  // latency ns, 0 until delivered
	ownerOf := make([]atomic.Int32, n)
	busy := make([]atomic.Bool, clients)
	var received, dups, foreign, unknown atomic.Int64
	var wg gosync.WaitGroup
	for i, c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			me := gwOwner(i)
			for {
				ev, data, err := c.next()
				if err != nil {
					return
				}
				if ev != "change" {
					continue
				}
				now := time.Now().UnixNano()
				var m struct {
					Doc struct {
						Owner string `json:"owner"`
						Seq   *int64 `json:"seq"`
					} `json:"doc"`
				}
				if err := json.Unmarshal(data, &m); err != nil || m.Doc.Seq == nil {
					unknown.Add(1)
					continue
				}
				k := *m.Doc.Seq
				switch {
				case m.Doc.Owner != me:
					foreign.Add(1)
				case k < 0 || k >= int64(n) || int(ownerOf[k].Load()) != i:
					unknown.Add(1)
				case !got[k].CompareAndSwap(0, max(1, now-sent[k].Load())):
					dups.Add(1)
				default:
					received.Add(1)
					busy[i].Store(false)
				}
			}
		}()
	}
	defer wg.Wait()
	defer closeAll(conns)

	minC, maxC := int64(1<<62), int64(-1)
	sample := func() error {
		c, err := openCursors(ctx, client)
		if err != nil {
			return err
		}
		c -= e.cursors0
		minC, maxC = min(minC, c), max(maxC, c)
		return nil
	}
	if err := sample(); err != nil {
		return GatewayFanout{}, err
	}
	notes, tasks := e.db.Collection("notes"), e.db.Collection("tasks")
	rng := mrand.New(mrand.NewPCG(uint64(time.Now().UnixNano()), 7))
	pick := func() (int, error) {
		for {
			r := rng.IntN(clients)
			for j := 0; j < clients; j++ {
				if o := (r + j) % clients; !busy[o].Load() {
					return o, nil
				}
			}
			select { // every owner has a write on its way
			case <-ctx.Done():
				return 0, ctx.Err()
			case <-time.After(100 * time.Microsecond):
			}
		}
	}
	var measured time.Time
	start := time.Now()
	interval := time.Second / time.Duration(rate)
	nextSample := start.Add(time.Second)
	for k := 0; k < n; k++ {
		if k == warmN {
			measured = time.Now()
		}
		if wait := time.Until(start.Add(time.Duration(k) * interval)); wait > 0 {
			time.Sleep(wait)
		}
		if time.Now().After(nextSample) {
			if err := sample(); err != nil {
				return GatewayFanout{}, err
			}
			nextSample = nextSample.Add(time.Second)
		}
		o, err := pick()
		if err != nil {
			return GatewayFanout{}, err
		}
		busy[o].Store(true)
		ownerOf[k].Store(int32(o))
		sent[k].Store(time.Now().UnixNano())
		if rng.IntN(2) == 0 {
			_, err = notes.UpdateOne(ctx, bson.D{{Key: "_id", Value: "n-" + gwOwner(o)}},
				bson.D{{Key: "$set", Value: bson.D{{Key: "seq", Value: int64(k)}, {Key: "pad", Value: gwPad}}}})
		} else {
			_, err = tasks.InsertOne(ctx, bson.D{{Key: "_id", Value: int64(k)}, {Key: "owner", Value: gwOwner(o)},
				{Key: "seq", Value: int64(k)}, {Key: "pad", Value: gwPad}})
		}
		if err != nil {
			return GatewayFanout{}, fmt.Errorf("write %d: %w", k, err)
		}
	}
	m := n - warmN
	achieved := float64(m) / time.Since(measured).Seconds()
	deadline := time.Now().Add(30 * time.Second)
	for received.Load() < int64(n) && time.Now().Before(deadline) && ctx.Err() == nil {
		time.Sleep(time.Millisecond)
	}
	// Late duplicates would arrive now.
	time.Sleep(250 * time.Millisecond)
	if err := sample(); err != nil {
		return GatewayFanout{}, err
	}
	if r, du, f, u := received.Load(), dups.Load(), foreign.Load(), unknown.Load(); r != int64(n) || du+f+u > 0 {
		return GatewayFanout{}, fmt.Errorf("gateway fan-out: of %d writes %d reached their owner (%d missing 30 s after the last write), %d duplicates, %d events of another owner, %d unrecognized events",
			n, r, int64(n)-r, du, f, u)
	}
	lat := make([]time.Duration, 0, m)
	for k := warmN; k < n; k++ {
		lat = append(lat, time.Duration(got[k].Load()))
	}
	slices.Sort(lat)
	return GatewayFanout{Writes: m, Rate: achieved, P50: pct(lat, 0.50), P99: pct(lat, 0.99), MinCursors: minC, MaxCursors: maxC}, nil
}

// GatewaySnapshot is the initial-sync measurement.
type GatewaySnapshot struct {
	Docs, Pages int
	Elapsed     time.Duration
	Retries     int // 429 answers waited out
}

// gatewaySnapshot inserts docs 1-KiB documents of one owner into "notes"
// (each batch once the gateways' streams have read the last), then pages
// GET /v1/snapshot?collection=notes&limit=1000 from the first gateway to
// the end as one client would, decoding every page.
func gatewaySnapshot(ctx context.Context, e *gwEnv, docs int, progress func(string)) (GatewaySnapshot, error) {
	notes := e.db.Collection("notes")
	appended0 := make([]uint64, len(e.gws))
	for i, gw := range e.gws {
		appended0[i] = gw.Stats().Collections["notes"].Appended
	}
	// The gateways' streams read every insert (for their live clients).
	// Each batch waits for them, so that the paging is measured alone and
	// the streams never fall far behind: the embedded server fails a
	// change-stream getMore whose ~15,000 1-KiB events make a reply over
	// 16 MiB + 16 KiB (BSONObjectTooLarge, ending the gateway's stream)
	// instead of cutting the batch short as mongod does.
	deadline := time.Now().Add(2 * time.Minute)
	caughtUp := func(n int) error {
		for i, gw := range e.gws {
			for {
				cs := gw.Stats().Collections["notes"]
				if cs.Appended >= appended0[i]+uint64(n) {
					break
				}
				if cs.State != "open" || time.Now().After(deadline) {
					return fmt.Errorf("gateway %d's change stream of notes read %d of %d inserts (state %s %s)",
						i, cs.Appended-appended0[i], n, cs.State, cs.Error)
				}
				time.Sleep(time.Millisecond)
			}
		}
		return nil
	}
	batch := make([]any, 0, 1000)
	for i := 0; i < docs; i++ {
		batch = append(batch, bson.D{{Key: "_id", Value: fmt.Sprintf("s-%07d", i)}, {Key: "owner", Value: gwSnapshotOwner}, {Key: "pad", Value: syncPad}})
		if len(batch) == cap(batch) || i == docs-1 {
			if _, err := notes.InsertMany(ctx, batch); err != nil {
				return GatewaySnapshot{}, fmt.Errorf("fill: %w", err)
			}
			batch = batch[:0]
			if err := caughtUp(i + 1); err != nil {
				return GatewaySnapshot{}, err
			}
			if (i+1)%20000 == 0 {
				progress(fmt.Sprintf("inserted %s of %s documents", num(i+1), num(docs)))
			}
		}
	}
	tok, err := e.token(gwSnapshotOwner)
	if err != nil {
		return GatewaySnapshot{}, err
	}
	hc := newGatewayHTTPClient()
	defer hc.CloseIdleConnections()
	var res GatewaySnapshot
	after := ""
	start := time.Now()
	for {
		u := e.urls[0] + "/v1/snapshot?collection=notes&limit=1000"
		if after != "" {
			u += "&after=" + url.QueryEscape(after)
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
		if err != nil {
			return res, err
		}
		req.Header.Set("Authorization", "Bearer "+tok)
		r, err := hc.Do(req)
		if err != nil {
			return res, err
		}
		body, err := io.ReadAll(r.Body)
		r.Body.Close()
		if err != nil {
			return res, err
		}
		if r.StatusCode == http.StatusTooManyRequests {
			res.Retries++
			secs, _ := strconv.Atoi(r.Header.Get("Retry-After"))
			time.Sleep(time.Duration(max(secs, 1)) * time.Second)
			continue
		}
		if r.StatusCode != http.StatusOK {
			return res, fmt.Errorf("GET %s: %d %s", u, r.StatusCode, body)
		}
		var page struct {
			Documents []json.RawMessage `json:"documents"`
			Next      *string           `json:"next"`
			Cursor    string            `json:"cursor"`
		}
		if err := json.Unmarshal(body, &page); err != nil {
			return res, fmt.Errorf("page %d: %w", res.Pages, err)
		}
		if res.Pages == 0 && page.Cursor == "" {
			return res, errors.New("the first snapshot page has no cursor")
		}
		res.Pages++
		res.Docs += len(page.Documents)
		if page.Next == nil {
			break
		}
		after = *page.Next
	}
	res.Elapsed = time.Since(start)
	if res.Docs != docs {
		return res, fmt.Errorf("the snapshot paged %d documents, want %d", res.Docs, docs)
	}
	return res, nil
}

// runGateway measures the gateway suite.
func runGateway(ctx context.Context, cfg Config, client *mongo.Client) ([]Row, error) {
	var rows []Row
	add := func(name, value, target, met string) {
		rows = append(rows, Row{Group: "gateway", Name: name, Value: value, Target: target, Met: met})
	}
	const instances = 2
	clients := cfg.GatewayClients
	// A server of its own: the cursor count must be the gateways' alone.
	// On the suites' shared server, cursors the earlier suites left open
	// closed during this one (the count came out 2 to 3 instead of 4 in
	// mongotide bench all, 4 alone).
	srv, err := embedded.Start(ctx, embedded.Config{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		return rows, fmt.Errorf("start the gateway suite's server: %w", err)
	}
	defer srv.Stop(context.WithoutCancel(ctx))
	client, err = mongo.Connect(options.Client().ApplyURI(srv.URI()))
	if err != nil {
		return rows, err
	}
	defer client.Disconnect(context.WithoutCancel(ctx))
	step(cfg, "gateway: %d instances serving %s on one database of a server of their own, %s owners", instances, strings.Join(gwCollections, ","), num(clients))
	e, err := startGatewayEnv(ctx, client, instances, clients)
	if e != nil {
		defer e.close(ctx)
	}
	if err != nil {
		return rows, fmt.Errorf("start the gateways: %w", err)
	}
	kib := func(b float64) string { return fmt.Sprintf("%.1f KiB", b/1024) }
	const memTarget = 64 << 10

	// Memory first, while the process is at its smallest.
	var serverSide float64
	if cfg.GatewayClientProcess != nil {
		step(cfg, "gateway: %s idle live SSE clients in a child process, gateway memory before and after", num(clients))
		if serverSide, err = idleClientsInProcess(ctx, cfg, e); err != nil {
			return rows, fmt.Errorf("idle clients: %w", err)
		}
		add("memory per idle live SSE client, gateway side (clients in a child process)",
			kib(serverSide)+" (heap+stacks in use after GC, "+num(clients)+" clients)", "<= 64 KiB", met(serverSide <= memTarget))
	}

	step(cfg, "gateway: %s live SSE clients in this process (net/http, one JWT owner each)", num(clients))
	hc := newGatewayHTTPClient()
	defer hc.CloseIdleConnections()
	before := memInUse()
	conns, err := dialMany(ctx, hc, e.urls, e.tokens)
	if err != nil {
		return rows, err
	}
	both := perClient(before, memInUse(), clients)
	if cfg.GatewayClientProcess != nil {
		add("memory per idle live SSE client, net/http client side",
			kib(max(0, both-serverSide))+" (same clients in this process: "+kib(both)+" minus the gateway side)", "reported", "")
	} else {
		m := "yes"
		if both > memTarget {
			m = "n/a: clients in this process; the CLI measures the gateway side alone"
		}
		add("memory per idle live SSE client, gateway + net/http client in one process", kib(both)+" (heap+stacks in use after GC)", "<= 64 KiB (gateway side)", m)
	}

	step(cfg, "gateway: %s writes/s for %s after a 1 s warm-up, each to a random client's document", num(cfg.GatewayRate), cfg.GatewayDuration)
	fo, err := gatewayFanout(ctx, client, e, conns, cfg.GatewayRate, cfg.GatewayDuration)
	if err != nil {
		return rows, err
	}
	add(fmt.Sprintf("live fan-out, %s SSE clients: write->owner's event p50 / p99", num(clients)),
		fmt.Sprintf("%s / %s (%s writes at %s/s, each delivered once, to its owner only)", dur(fo.P50), dur(fo.P99), num(fo.Writes), num(int(fo.Rate+0.5))),
		"p99 < 100 ms", met(fo.P99 < 100*time.Millisecond))
	want := int64(instances * len(gwCollections))
	cur := strconv.FormatInt(fo.MaxCursors, 10)
	if fo.MinCursors != fo.MaxCursors {
		cur = fmt.Sprintf("%d to %d", fo.MinCursors, fo.MaxCursors)
	}
	add(fmt.Sprintf("server cursors with %s live clients (%d instances x %d collections)", num(clients), instances, len(gwCollections)),
		fmt.Sprintf("%s (serverStatus cursors open beyond those before start; gateways' server_streams %d)", cur, e.streams()),
		fmt.Sprintf("= %d", want), met(fo.MinCursors == want && fo.MaxCursors == want))
	if err := e.waitLive(ctx, 0); err != nil {
		return rows, err
	}

	step(cfg, "gateway: initial sync of %s 1-KiB documents of one owner through GET /v1/snapshot", num(cfg.GatewayDocs))
	sn, err := gatewaySnapshot(ctx, e, cfg.GatewayDocs, func(s string) { step(cfg, "gateway: %s", s) })
	if err != nil {
		return rows, fmt.Errorf("snapshot: %w", err)
	}
	dps := float64(sn.Docs) / sn.Elapsed.Seconds()
	v := fmt.Sprintf("%s (%d pages of 1,000 in %s)", rate(dps, "docs/s"), sn.Pages, dur(sn.Elapsed))
	if sn.Retries > 0 {
		v += fmt.Sprintf(", %d rate-limited pages waited out", sn.Retries)
	}
	add(fmt.Sprintf("initial sync: GET /v1/snapshot of %s 1-KiB docs, one client", num(sn.Docs)), v, ">= 20,000 docs/s", met(dps >= 20_000))
	return rows, nil
}
