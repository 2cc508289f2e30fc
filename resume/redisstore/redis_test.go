package redisstore_test

import (
	"context"
	"testing"

	"github.com/mongotide/mongotide/internal/redistest"
	"github.com/mongotide/mongotide/resume"
	"github.com/mongotide/mongotide/resume/redisstore"
	"github.com/mongotide/mongotide/resume/resumetest"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestConformance(t *testing.T) {
	client := redistest.Client(t)
	n := 0
	resumetest.Run(t, func(t *testing.T) (resume.Store, resumetest.CorruptFunc) {
		// One server, a fresh prefix per subtest keeps subtests isolated.
		n++
		s := redisstore.New(client, "test"+string(rune('a'+n))+":")
		return s, func(t *testing.T, key string, raw []byte) {
			if err := client.Set(context.Background(), s.Key(key), raw, 0).Err(); err != nil {
				t.Fatal(err)
			}
		}
	})
}

func TestKeysUsePrefix(t *testing.T) {
	client := redistest.Client(t)
	s := redisstore.New(client, "app:resume:")
	ctx := context.Background()
	if err := s.Save(ctx, "books", resumetest.Token(1)); err != nil {
		t.Fatal(err)
	}
	keys, err := client.Keys(ctx, "*").Result()
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 1 || keys[0] != "app:resume:books" {
		t.Fatalf("redis keys = %v, want [app:resume:books]", keys)
	}
}
