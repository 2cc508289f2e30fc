// Package redisstore is a resume.Store backed by Redis. It is separate from
// package resume so that programs which do not checkpoint to Redis do not
// link the Redis client.
package redisstore

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/mongotide/mongotide/resume"
	"github.com/redis/go-redis/v9"
	"go.mongodb.org/mongo-driver/v2/bson"
)

// Store keeps each token as a Redis string at prefix+key holding the raw
// BSON bytes. SET is atomic, so concurrent writers of one key leave exactly
// one of their values (last writer wins). Keys never expire: a checkpoint
// that silently vanished would restart a listener from "now" and lose events.
type Store struct {
	client *redis.Client
	prefix string
}

var _ resume.Store = (*Store)(nil)

// New returns a Store using client, namespacing keys with prefix (for
// example "mongotide:resume:"; may be empty). This is the
// resume.NewRedisStore of the design, moved here to keep go-redis out of
// package resume.
func New(client *redis.Client, prefix string) *Store {
	return &Store{client: client, prefix: prefix}
}

// Key returns the Redis key that holds key's token.
func (s *Store) Key(key string) string { return s.prefix + key }

// Load implements resume.Store.
func (s *Store) Load(ctx context.Context, key string) (bson.Raw, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := resume.CheckKey(key); err != nil {
		return nil, err
	}
	if s.client == nil {
		return nil, errors.New("redisstore: nil client")
	}
	raw, err := s.client.Get(ctx, s.Key(key)).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("redisstore: load key %q: %w", key, err)
	}
	return resume.CheckLoaded(key, raw)
}

// Save implements resume.Store.
func (s *Store) Save(ctx context.Context, key string, token bson.Raw) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := resume.CheckSave(key, token); err != nil {
		return err
	}
	if s.client == nil {
		return errors.New("redisstore: nil client")
	}
	if err := s.client.Set(ctx, s.Key(key), []byte(token), 0).Err(); err != nil {
		return fmt.Errorf("redisstore: save key %q: %w", key, err)
	}
	return nil
}

// fenceScript: KEYS token, fence; ARGV token bytes, fence. 1 if saved, else
// the greater fence stored.
var fenceScript = redis.NewScript(`
local cur = tonumber(redis.call('GET', KEYS[2]) or '0')
if tonumber(ARGV[2]) < cur then return {0, tostring(cur)} end
redis.call('SET', KEYS[1], ARGV[1])
redis.call('SET', KEYS[2], ARGV[2])
return {1, ''}
`)

// SaveFenced implements resume.FencedStore: the greatest fence seen is kept
// at the token's key + ":fence", compared and written with the token by one
// script.
func (s *Store) SaveFenced(ctx context.Context, key string, token bson.Raw, fence uint64) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := resume.CheckSave(key, token); err != nil {
		return err
	}
	if s.client == nil {
		return errors.New("redisstore: nil client")
	}
	res, err := fenceScript.Run(ctx, s.client, []string{s.Key(key), s.Key(key) + ":fence"}, []byte(token), strconv.FormatUint(fence, 10)).Slice()
	if err != nil {
		return fmt.Errorf("redisstore: save key %q: %w", key, err)
	}
	if ok, _ := res[0].(int64); ok != 1 {
		cur, _ := strconv.ParseUint(fmt.Sprint(res[1]), 10, 64)
		return resume.Fenced(key, fence, cur)
	}
	return nil
}

var _ resume.FencedStore = (*Store)(nil)
