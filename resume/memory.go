package resume

import (
	"context"
	"sync"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// MemoryStore keeps tokens in process memory. Tokens are lost when the
// process exits; use it for tests and for listeners that may restart from
// "now".
type MemoryStore struct {
	mu     sync.Mutex
	tokens map[string][]byte
	fences map[string]uint64
}

// NewMemoryStore returns an empty MemoryStore.
func NewMemoryStore() *MemoryStore {
	return &MemoryStore{tokens: make(map[string][]byte), fences: make(map[string]uint64)}
}

// Load implements Store.
func (s *MemoryStore) Load(ctx context.Context, key string) (bson.Raw, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := CheckKey(key); err != nil {
		return nil, err
	}
	s.mu.Lock()
	raw, ok := s.tokens[key]
	s.mu.Unlock()
	if !ok {
		return nil, nil
	}
	// Hand out a copy so callers cannot mutate the stored token.
	return CheckLoaded(key, append([]byte(nil), raw...))
}

// Save implements Store.
func (s *MemoryStore) Save(ctx context.Context, key string, token bson.Raw) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := CheckSave(key, token); err != nil {
		return err
	}
	s.mu.Lock()
	s.tokens[key] = append([]byte(nil), token...)
	s.mu.Unlock()
	return nil
}

// putRaw stores bytes without validation; tests use it to simulate
// corruption.
func (s *MemoryStore) putRaw(key string, raw []byte) {
	s.mu.Lock()
	s.tokens[key] = append([]byte(nil), raw...)
	s.mu.Unlock()
}

// SaveFenced implements FencedStore.
func (s *MemoryStore) SaveFenced(ctx context.Context, key string, token bson.Raw, fence uint64) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := CheckSave(key, token); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if cur := s.fences[key]; fence < cur {
		return fenced(key, fence, cur)
	}
	s.fences[key] = fence
	s.tokens[key] = append([]byte(nil), token...)
	return nil
}
