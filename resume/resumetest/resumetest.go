// Package resumetest is the conformance suite for resume.Store
// implementations. Every store in this module runs it; run it against a
// custom store with:
//
//	func TestConformance(t *testing.T) {
//		resumetest.Run(t, func(t *testing.T) (resume.Store, resumetest.CorruptFunc) {
//			s := newMyStore(t)
//			return s, func(t *testing.T, key string, raw []byte) { writeBehindTheStoresBack(t, key, raw) }
//		})
//	}
package resumetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/mongotide/mongotide/resume"
	"go.mongodb.org/mongo-driver/v2/bson"
)

// CorruptFunc stores raw under key bypassing the store's validation, the way
// a damaged disk, a bad manual edit or a foreign writer would. raw may be
// invalid BSON; a backend that can only hold documents may store such bytes
// in any form that its Load rejects.
type CorruptFunc func(t *testing.T, key string, raw []byte)

// Factory returns a fresh, empty store (isolated from other subtests) and its
// corruption hook.
type Factory func(t *testing.T) (resume.Store, CorruptFunc)

// Token builds a resume token of the shape MongoDB uses, {_data: "<hex>"},
// distinct for distinct n.
func Token(n int) bson.Raw {
	raw, err := bson.Marshal(bson.D{{Key: "_data", Value: fmt.Sprintf("8263%016X0000000000", n)}})
	if err != nil {
		panic(err) // a constant-shaped document always marshals
	}
	return raw
}

// Run runs every conformance check as a subtest.
func Run(t *testing.T, newStore Factory) {
	t.Helper()
	ctx := context.Background()

	t.Run("MissingKey", func(t *testing.T) {
		s, _ := newStore(t)
		tok, err := s.Load(ctx, "never-saved")
		if err != nil || tok != nil {
			t.Fatalf("Load(missing) = %v, %v; want nil, nil", tok, err)
		}
	})

	t.Run("RoundTripByteExact", func(t *testing.T) {
		s, _ := newStore(t)
		// A token with extra fields and an odd layout must come back unchanged.
		want, err := bson.Marshal(bson.D{
			{Key: "_data", Value: "826543A1B2000000012B022C0100296E5A1004"},
			{Key: "_typeBits", Value: bson.Binary{Subtype: 0, Data: []byte{0x40}}},
		})
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Save(ctx, "books-indexer", want); err != nil {
			t.Fatalf("Save: %v", err)
		}
		got, err := s.Load(ctx, "books-indexer")
		if err != nil {
			t.Fatalf("Load: %v", err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("Load = %v, want %v", got, bson.Raw(want))
		}
	})

	t.Run("Overwrite", func(t *testing.T) {
		s, _ := newStore(t)
		for i := 1; i <= 3; i++ {
			if err := s.Save(ctx, "k", Token(i)); err != nil {
				t.Fatalf("Save %d: %v", i, err)
			}
		}
		got, err := s.Load(ctx, "k")
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, Token(3)) {
			t.Fatalf("Load after overwrite = %v, want %v", got, Token(3))
		}
	})

	t.Run("KeysIsolated", func(t *testing.T) {
		s, _ := newStore(t)
		// Keys that a naive encoding could confuse: case, separators, prefixes.
		keys := []string{"a", "A", "a/b", "a_b", "a.b", "a%2Fb", "ab", "a b", "ünï", strings.Repeat("x", 300), strings.Repeat("x", 301)}
		for i, k := range keys {
			if err := s.Save(ctx, k, Token(i)); err != nil {
				t.Fatalf("Save(%q): %v", k, err)
			}
		}
		for i, k := range keys {
			got, err := s.Load(ctx, k)
			if err != nil {
				t.Fatalf("Load(%q): %v", k, err)
			}
			if !bytes.Equal(got, Token(i)) {
				t.Fatalf("Load(%q) = %v, want %v", k, got, Token(i))
			}
		}
		if tok, err := s.Load(ctx, "b"); err != nil || tok != nil {
			t.Fatalf("Load(unsaved key) = %v, %v; want nil, nil", tok, err)
		}
	})

	t.Run("ReturnedTokenIsACopy", func(t *testing.T) {
		s, _ := newStore(t)
		tok := Token(7)
		if err := s.Save(ctx, "k", tok); err != nil {
			t.Fatal(err)
		}
		tok[len(tok)-2] ^= 0xFF // caller reuses its buffer after Save
		got, err := s.Load(ctx, "k")
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, Token(7)) {
			t.Fatalf("store kept a reference to the caller's buffer: got %v", got)
		}
	})

	t.Run("ConcurrentWriters", func(t *testing.T) {
		s, _ := newStore(t)
		const writers, rounds = 8, 25
		valid := map[string]bool{}
		for w := 0; w < writers; w++ {
			for r := 0; r < rounds; r++ {
				valid[string(Token(w*1000+r))] = true
			}
		}
		var wg sync.WaitGroup
		errs := make(chan error, writers*rounds*2)
		for w := 0; w < writers; w++ {
			wg.Add(1)
			go func(w int) {
				defer wg.Done()
				for r := 0; r < rounds; r++ {
					if err := s.Save(ctx, "shared", Token(w*1000+r)); err != nil {
						errs <- fmt.Errorf("writer %d Save: %w", w, err)
						return
					}
					// Readers racing writers must only ever see a complete token.
					got, err := s.Load(ctx, "shared")
					if err != nil {
						errs <- fmt.Errorf("writer %d Load: %w", w, err)
						return
					}
					if got != nil && !valid[string(got)] {
						errs <- fmt.Errorf("writer %d read a torn token %x", w, []byte(got))
						return
					}
				}
			}(w)
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
		got, err := s.Load(ctx, "shared")
		if err != nil {
			t.Fatal(err)
		}
		// Last writer wins: the final value is some writer's final token.
		final := false
		for w := 0; w < writers; w++ {
			if bytes.Equal(got, Token(w*1000+rounds-1)) {
				final = true
			}
		}
		if !final {
			t.Fatalf("final value %v is not any writer's last token", got)
		}
	})

	t.Run("CorruptStoredToken", func(t *testing.T) {
		s, corrupt := newStore(t)
		if corrupt == nil {
			t.Fatal("the store under test provides no CorruptFunc; the suite needs one")
		}
		noData, err := bson.Marshal(bson.D{{Key: "token", Value: "x"}})
		if err != nil {
			t.Fatal(err)
		}
		cases := map[string][]byte{
			"garbage":       []byte("this is not bson"),
			"truncated":     Token(1)[:10],
			"missing-_data": noData,
		}
		for key, raw := range cases {
			corrupt(t, key, raw)
			tok, err := s.Load(ctx, key)
			if err == nil {
				t.Fatalf("Load(%s) = %v, nil; want an error", key, tok)
			}
			if !errors.Is(err, resume.ErrCorruptToken) {
				t.Errorf("Load(%s) error %v does not wrap ErrCorruptToken", key, err)
			}
			if !strings.Contains(err.Error(), fmt.Sprintf("%q", key)) {
				t.Errorf("Load(%s) error %q does not name the key", key, err)
			}
			if tok != nil {
				t.Errorf("Load(%s) returned a token alongside the error", key)
			}
			// The damage is repairable by saving a good token over it.
			if err := s.Save(ctx, key, Token(2)); err != nil {
				t.Fatalf("Save over corrupt %s: %v", key, err)
			}
			if got, err := s.Load(ctx, key); err != nil || !bytes.Equal(got, Token(2)) {
				t.Fatalf("Load after repair of %s = %v, %v", key, got, err)
			}
		}
	})

	t.Run("InvalidInput", func(t *testing.T) {
		s, _ := newStore(t)
		if err := s.Save(ctx, "k", bson.Raw("nope")); !errors.Is(err, resume.ErrInvalidToken) {
			t.Errorf("Save(garbage) = %v, want ErrInvalidToken", err)
		}
		noData, _ := bson.Marshal(bson.D{{Key: "x", Value: 1}})
		if err := s.Save(ctx, "k", noData); !errors.Is(err, resume.ErrInvalidToken) {
			t.Errorf("Save(no _data) = %v, want ErrInvalidToken", err)
		}
		if err := s.Save(ctx, "k", nil); !errors.Is(err, resume.ErrInvalidToken) {
			t.Errorf("Save(nil) = %v, want ErrInvalidToken", err)
		}
		if err := s.Save(ctx, "", Token(1)); !errors.Is(err, resume.ErrInvalidKey) {
			t.Errorf("Save(empty key) = %v, want ErrInvalidKey", err)
		}
		if _, err := s.Load(ctx, ""); !errors.Is(err, resume.ErrInvalidKey) {
			t.Errorf("Load(empty key) = %v, want ErrInvalidKey", err)
		}
		// A rejected Save must not have stored anything.
		if tok, err := s.Load(ctx, "k"); err != nil || tok != nil {
			t.Errorf("Load after rejected saves = %v, %v; want nil, nil", tok, err)
		}
	})

	t.Run("ContextCancelled", func(t *testing.T) {
		s, _ := newStore(t)
		if err := s.Save(ctx, "k", Token(1)); err != nil {
			t.Fatal(err)
		}
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		if err := s.Save(cctx, "k", Token(2)); !errors.Is(err, context.Canceled) {
			t.Errorf("Save(cancelled ctx) = %v, want context.Canceled", err)
		}
		if tok, err := s.Load(cctx, "k"); !errors.Is(err, context.Canceled) {
			t.Errorf("Load(cancelled ctx) = %v, %v; want context.Canceled", tok, err)
		}
		// The cancelled Save must not have taken effect.
		if got, err := s.Load(ctx, "k"); err != nil || !bytes.Equal(got, Token(1)) {
			t.Errorf("Load after cancelled Save = %v, %v; want token 1", got, err)
		}
	})

	// Fencing (resume.FencedStore): a writer whose lease was taken over
	// cannot overwrite its successor's checkpoint.
	fencedStore := func(t *testing.T) resume.FencedStore {
		s, _ := newStore(t)
		fs, ok := s.(resume.FencedStore)
		if !ok {
			t.Skipf("%T does not implement resume.FencedStore (fenced saves for leased listeners)", s)
		}
		return fs
	}
	t.Run("FencedSaveRefusesALowerFence", func(t *testing.T) {
		s := fencedStore(t)
		if err := s.SaveFenced(ctx, "k", Token(1), 5); err != nil {
			t.Fatal(err)
		}
		if err := s.SaveFenced(ctx, "k", Token(2), 3); !errors.Is(err, resume.ErrFenced) {
			t.Fatalf("SaveFenced(fence 3 after 5) = %v, want ErrFenced", err)
		}
		if got, err := s.Load(ctx, "k"); err != nil || !bytes.Equal(got, Token(1)) {
			t.Fatalf("Load after a fenced-off save = %v, %v; want token 1", got, err)
		}
		if err := s.SaveFenced(ctx, "k", Token(3), 5); err != nil {
			t.Fatalf("SaveFenced(same fence) = %v, want nil", err)
		}
		if err := s.SaveFenced(ctx, "k", Token(4), 9); err != nil {
			t.Fatal(err)
		}
		if err := s.SaveFenced(ctx, "k", Token(5), 5); !errors.Is(err, resume.ErrFenced) {
			t.Fatalf("SaveFenced(fence 5 after 9) = %v, want ErrFenced", err)
		}
		if got, err := s.Load(ctx, "k"); err != nil || !bytes.Equal(got, Token(4)) {
			t.Fatalf("Load = %v, %v; want token 4", got, err)
		}
		// Fences are per key.
		if err := s.SaveFenced(ctx, "other", Token(6), 1); err != nil {
			t.Fatalf("a fence of another key applied: %v", err)
		}
	})
	t.Run("FencedSaveConcurrent", func(t *testing.T) {
		s := fencedStore(t)
		var wg sync.WaitGroup
		for f := 1; f <= 16; f++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := s.SaveFenced(ctx, "k", Token(f), uint64(f)); err != nil && !errors.Is(err, resume.ErrFenced) {
					t.Error(err)
				}
			}()
		}
		wg.Wait()
		// Whatever the order, the greatest fence's token is the one kept.
		if got, err := s.Load(ctx, "k"); err != nil || !bytes.Equal(got, Token(16)) {
			t.Fatalf("Load = %v, %v; want the token saved with the greatest fence (16)", got, err)
		}
	})
}
