// Package redislease implements lease.Lease on Redis, a single node or a
// Redis Cluster: each lease is a hash with a TTL plus a fencing counter,
// both under one hash tag (one slot), changed only by Lua scripts.
package redislease

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/mongotide/mongotide/lease"
	"github.com/redis/go-redis/v9"
)

// DefaultPrefix starts every key.
const DefaultPrefix = "mongotide:lease:"

// Lease is a lease.Lease on Redis.
type Lease struct {
	rdb    redis.UniversalClient
	prefix string
}

var _ lease.Lease = (*Lease)(nil)

// New returns a Lease on rdb with keys under prefix (DefaultPrefix when
// empty).
func New(rdb redis.UniversalClient, prefix string) *Lease {
	if prefix == "" {
		prefix = DefaultPrefix
	}
	return &Lease{rdb: rdb, prefix: prefix}
}

// Keys returns the key of name's lease and of its fencing counter.
func (l *Lease) Keys(name string) (holderKey, fenceKey string) {
	tag := "{" + l.prefix + name + "}"
	return tag + ":holder", tag + ":fence"
}

// acquire: KEYS holder, fence; ARGV holder name, ttl ms. Returns the new
// token, or 0 when another holder has it.
var acquireScript = redis.NewScript(`
local cur = redis.call('HGET', KEYS[1], 'holder')
if cur and cur ~= ARGV[1] then return 0 end
local token = redis.call('INCR', KEYS[2])
redis.call('HSET', KEYS[1], 'holder', ARGV[1], 'token', token)
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return token
`)

// renew: KEYS holder; ARGV holder, token, ttl ms. 1 if renewed.
var renewScript = redis.NewScript(`
if redis.call('HGET', KEYS[1], 'holder') == ARGV[1] and redis.call('HGET', KEYS[1], 'token') == ARGV[2] then
  redis.call('PEXPIRE', KEYS[1], ARGV[3])
  return 1
end
return 0
`)

// release: KEYS holder; ARGV holder, token. 1 if released.
var releaseScript = redis.NewScript(`
if redis.call('HGET', KEYS[1], 'holder') == ARGV[1] and redis.call('HGET', KEYS[1], 'token') == ARGV[2] then
  return redis.call('DEL', KEYS[1])
end
return 0
`)

func check(name, holder string, ttl time.Duration) error {
	switch {
	case name == "":
		return errors.New("redislease: empty lease name")
	case holder == "":
		return errors.New("redislease: empty holder")
	case ttl < time.Millisecond:
		return fmt.Errorf("redislease: ttl %v is under 1ms", ttl)
	}
	return nil
}

// Acquire implements lease.Lease.
func (l *Lease) Acquire(ctx context.Context, name, holder string, ttl time.Duration) (lease.Grant, error) {
	if err := check(name, holder, ttl); err != nil {
		return lease.Grant{}, err
	}
	hk, fk := l.Keys(name)
	sent := time.Now()
	token, err := acquireScript.Run(ctx, l.rdb, []string{hk, fk}, holder, ttl.Milliseconds()).Int64()
	if err != nil {
		return lease.Grant{}, fmt.Errorf("redislease: acquire %q: %w", name, err)
	}
	if token == 0 {
		return lease.Grant{}, fmt.Errorf("%w: %q", lease.ErrHeld, name)
	}
	return lease.Grant{Name: name, Holder: holder, Token: uint64(token), Deadline: lease.DeadlineFor(sent, ttl)}, nil
}

// Renew implements lease.Lease.
func (l *Lease) Renew(ctx context.Context, g lease.Grant, ttl time.Duration) (lease.Grant, error) {
	if err := check(g.Name, g.Holder, ttl); err != nil {
		return g, err
	}
	hk, _ := l.Keys(g.Name)
	sent := time.Now()
	ok, err := renewScript.Run(ctx, l.rdb, []string{hk}, g.Holder, strconv.FormatUint(g.Token, 10), ttl.Milliseconds()).Int64()
	if err != nil {
		return g, fmt.Errorf("redislease: renew %q: %w", g.Name, err)
	}
	if ok != 1 {
		return g, fmt.Errorf("%w: %q (token %d)", lease.ErrLost, g.Name, g.Token)
	}
	g.Deadline = lease.DeadlineFor(sent, ttl)
	return g, nil
}

// Release implements lease.Lease.
func (l *Lease) Release(ctx context.Context, g lease.Grant) error {
	hk, _ := l.Keys(g.Name)
	if err := releaseScript.Run(ctx, l.rdb, []string{hk}, g.Holder, strconv.FormatUint(g.Token, 10)).Err(); err != nil {
		return fmt.Errorf("redislease: release %q: %w", g.Name, err)
	}
	return nil
}
