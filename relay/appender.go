package relay

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/cenkalti/backoff/v4"
	"github.com/redis/go-redis/v9"
	"go.mongodb.org/mongo-driver/v2/bson"
)

// appendScript appends a partition's share of a batch, in order, and stops
// at the first error other than "ID not above the stream's last one" (a
// duplicate, counted). What it appended is therefore always a prefix of
// what it was given, so retrying the same batch can neither skip an event
// nor append one twice.
//
// KEYS[1] the partition; ARGV[1] MAXLEN (0: none), ARGV[2] the field name,
// then the entries' IDs and values, in pairs.
const appendScript = `
local maxlen, field = tonumber(ARGV[1]), ARGV[2]
local appended, dups = 0, 0
for i = 3, #ARGV, 2 do
  local r
  if maxlen > 0 then
    r = redis.pcall('XADD', KEYS[1], 'MAXLEN', '~', maxlen, ARGV[i], field, ARGV[i+1])
  else
    r = redis.pcall('XADD', KEYS[1], ARGV[i], field, ARGV[i+1])
  end
  if type(r) == 'table' and r.err then
    if string.find(r.err, 'equal or smaller', 1, true) then
      dups = dups + 1
    else
      return {appended, dups, r.err}
    end
  else
    appended = appended + 1
  end
end
return {appended, dups, ''}
`

// entry is one event ready to append.
type entry struct {
	partition int
	pos       position
	token     bson.Raw
	body      []byte
}

// appender batches entries and appends them from one goroutine, group
// commit style: while a batch is on its way the next one fills, so batches
// grow with the load and an idle relay appends each event at once. A batch
// is retried until it is all in (or the appender stops); after it, the meta
// key records its last position, which is where a restarted publisher
// resumes (everything up to it is in the streams).
type appender struct {
	rdb      redis.UniversalClient
	keys     streamKeys
	field    string
	maxLen   int64
	maxBatch int
	maxBytes int
	onError  func(error)
	onDone   func(appended, dups int, last entry)
	script   *redis.Script

	mu      sync.Mutex
	cond    *sync.Cond // signalled when pending changes or stopping is set
	pending []entry
	bytes   int // of pending's bodies
	stopped bool
	done    chan struct{}
	// err is the error a stopped appender could not get past: the entries
	// still pending were not appended.
	err error
	// done0 is the last entry of the last batch appended entirely (run's
	// goroutine only).
	done0 entry
}

func newAppender(rdb redis.UniversalClient, k streamKeys, field string, maxLen int64, maxBatch, maxBytes int, onError func(error), onDone func(int, int, entry)) *appender {
	a := &appender{
		rdb: rdb, keys: k, field: field, maxLen: maxLen, maxBatch: maxBatch, maxBytes: maxBytes, onError: onError, onDone: onDone,
		script: redis.NewScript(appendScript), done: make(chan struct{}),
	}
	a.cond = sync.NewCond(&a.mu)
	return a
}

// add queues e, waiting while maxBatch entries are already queued.
func (a *appender) add(ctx context.Context, e entry) error {
	// A full queue waits for the appender, which waits for Redis: the
	// handler's ctx (the publisher stopping) must still wake it.
	defer context.AfterFunc(ctx, func() {
		a.mu.Lock()
		a.cond.Broadcast()
		a.mu.Unlock()
	})()
	a.mu.Lock()
	defer a.mu.Unlock()
	for len(a.pending) > 0 && (len(a.pending) >= a.maxBatch || a.bytes+len(e.body) > a.maxBytes) && !a.stopped {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		a.cond.Wait()
	}
	if a.stopped {
		return fmt.Errorf("relay: publisher %s is stopping", a.keys.name)
	}
	a.pending = append(a.pending, e)
	a.bytes += len(e.body)
	a.cond.Broadcast()
	return nil
}

// run appends batches until stop; ctx cuts retries short.
func (a *appender) run(ctx context.Context) {
	defer close(a.done)
	retry := backoff.NewExponentialBackOff()
	retry.InitialInterval, retry.MaxInterval, retry.MaxElapsedTime = 50*time.Millisecond, 2*time.Second, 0
	for {
		a.mu.Lock()
		for len(a.pending) == 0 && !a.stopped {
			a.cond.Wait()
		}
		if len(a.pending) == 0 {
			a.mu.Unlock()
			if err := a.recordLast(ctx); err != nil {
				a.onError(err)
			}
			return
		}
		batch := a.pending
		a.pending, a.bytes = make([]entry, 0, min(cap(batch), 1024)), 0
		a.cond.Broadcast()
		a.mu.Unlock()

		sent := make([]int, a.keys.partitions) // appended so far, per partition
		for {
			err := a.appendBatch(ctx, batch, sent)
			if err == nil {
				retry.Reset()
				break
			}
			a.onError(err)
			if !sleepCtx(ctx, retry.NextBackOff()) {
				a.mu.Lock()
				a.err = err
				a.pending = append(batch, a.pending...)
				for _, e := range batch {
					a.bytes += len(e.body)
				}
				a.mu.Unlock()
				return
			}
		}
	}
}

// appendBatch sends each partition's share of batch through appendScript
// in one pipeline, with the meta key's update for the batch before.
func (a *appender) appendBatch(ctx context.Context, batch []entry, sent []int) error {
	// Sized first: growing these slices entry by entry was a fifth of the
	// publisher's CPU time.
	sizes := make([]int, a.keys.partitions)
	for _, e := range batch {
		sizes[e.partition] += 2
	}
	args := make([][]any, a.keys.partitions)
	for p, n := range sizes {
		if n > 0 {
			args[p] = make([]any, 2, 2+n)
			args[p][0], args[p][1] = a.maxLen, a.field
		}
	}
	for _, e := range batch {
		args[e.partition] = append(args[e.partition], e.pos.entryID(), e.body)
	}
	cmds := make([]*redis.Cmd, a.keys.partitions)
	_, err := a.rdb.Pipelined(ctx, func(pipe redis.Pipeliner) error {
		// The previous batch is all in: record it (no round trip of its
		// own; a failure here only means a restart meets more duplicates).
		if a.done0.token != nil {
			pipe.HSet(ctx, a.keys.meta(), metaID, a.done0.pos.entryID(), metaToken, []byte(a.done0.token))
		}
		for p, av := range args {
			if av != nil {
				cmds[p] = a.script.EvalSha(ctx, pipe, []string{a.keys.partition(p)}, av...)
			}
		}
		return nil
	})
	if err != nil && isNoScript(err) {
		if lerr := a.script.Load(ctx, a.rdb).Err(); lerr != nil {
			return fmt.Errorf("relay: load the append script: %w", lerr)
		}
		return fmt.Errorf("relay: append script was not loaded (a restarted or failed-over Redis); loaded, retrying: %w", err)
	}
	var appended, dups int
	var firstErr error
	for p, cmd := range cmds {
		if cmd == nil {
			continue
		}
		res, cerr := cmd.Slice()
		if cerr != nil {
			if firstErr == nil {
				firstErr = fmt.Errorf("relay: append to %s: %w", a.keys.partition(p), cerr)
			}
			continue
		}
		n, _ := res[0].(int64)
		d, _ := res[1].(int64)
		msg, _ := res[2].(string)
		// A retried batch meets what it appended before as duplicates.
		prev := sent[p]
		sent[p] += int(n)
		appended += int(n)
		dups += max(0, int(d)-prev)
		if msg != "" && firstErr == nil {
			firstErr = fmt.Errorf("relay: append to %s: %s", a.keys.partition(p), msg)
		}
	}
	if appended > 0 || dups > 0 {
		a.onDone(appended, dups, entry{})
	}
	if firstErr != nil {
		return firstErr
	}
	last := batch[len(batch)-1]
	a.done0 = last
	a.onDone(0, 0, last)
	return nil
}

// recordLast writes the last complete batch's position to the meta key
// (the next batch's pipeline does it while running).
func (a *appender) recordLast(ctx context.Context) error {
	if a.done0.token == nil {
		return nil
	}
	if err := a.rdb.HSet(ctx, a.keys.meta(), metaID, a.done0.pos.entryID(), metaToken, []byte(a.done0.token)).Err(); err != nil {
		return fmt.Errorf("relay: record position in %s: %w", a.keys.meta(), err)
	}
	return nil
}

func isNoScript(err error) bool { return err != nil && strings.HasPrefix(err.Error(), "NOSCRIPT") }

// stop makes run return once the queue is empty (or ctx ends while a batch
// keeps failing) and waits for it. It returns the error that kept entries
// from being appended, if any.
func (a *appender) stop(ctx context.Context) error {
	a.mu.Lock()
	a.stopped = true
	a.cond.Broadcast()
	a.mu.Unlock()
	select {
	case <-a.done:
	case <-ctx.Done():
		return ctx.Err()
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.err != nil {
		return fmt.Errorf("relay: %d events not appended (a restart publishes them): %w", len(a.pending), a.err)
	}
	return nil
}
