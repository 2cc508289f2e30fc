package redistest

import (
	"context"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestStartAnswersAndStops(t *testing.T) {
	var addr string
	t.Run("run", func(t *testing.T) {
		c := Client(t)
		ctx := context.Background()
		if err := c.Set(ctx, "k", "v", 0).Err(); err != nil {
			t.Fatalf("SET: %v", err)
		}
		got, err := c.Get(ctx, "k").Result()
		if err != nil || got != "v" {
			t.Fatalf("GET = %q, %v", got, err)
		}
		addr = c.Options().Addr
	})
	// After the subtest's cleanup the server must be gone.
	if err := ping(addr); err == nil {
		t.Fatalf("redis-server at %s still answers after cleanup", addr)
	}
}

func TestTwoServersAreIndependent(t *testing.T) {
	a, b := Client(t), Client(t)
	ctx := context.Background()
	if err := a.Set(ctx, "k", "a", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if n, err := b.Exists(ctx, "k").Result(); err != nil || n != 0 {
		t.Fatalf("second server sees the first one's key: %d, %v", n, err)
	}
}
