package main

import (
	"github.com/mongotide/mongotide/internal/testenv"
	"strings"
	"testing"
)

// TestSlowClientDoesNotStallOthers: a client that stops reading is
// disconnected after WriteTimeout, while the others, sharing the same server
// stream, receive every event.
func TestSlowClientDoesNotStallOthers(t *testing.T) {
	f := newFixture(t)
	slow := initialise(t, dialSmall(t, f.url), "alice-token")
	fast := connect(t, f.url, "alice-token")
	slow.subscribe("s", allChanges, nil)
	fast.subscribe("f", allChanges, nil)
	testenv.Eventually(t, waitTimeout, "two listeners", func() bool { return f.res.active.Load() == 2 })

	// More events than the slow client's socket buffers and listener
	// buffer (256) can hold.
	const n = 1000
	docs := make([]any, n)
	for i := range docs {
		docs[i] = Book{Title: strings.Repeat("x", 1<<10), Owner: "alice"}
	}
	if _, err := f.books.Collection().InsertMany(t.Context(), docs); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < n; i++ {
		if c := fast.next("f"); c.Op != "INSERT" {
			t.Fatalf("event %d: %+v", i, c)
		}
	}
	testenv.Eventually(t, waitTimeout, "slow listener ended", func() bool { return f.res.active.Load() == 1 })
	for {
		m, err := slow.readErr()
		if err != nil {
			break // disconnected, as it should be
		}
		if m.Type != "next" {
			t.Fatalf("slow client got %+v, want next... then a disconnect", m)
		}
	}
}
