package main

import (
	"bytes"
	"context"
	"sync"
	"testing"
	"time"

	"github.com/mongotide/mongotide/internal/redistest"
	"github.com/mongotide/mongotide/internal/testenv"
	"github.com/mongotide/mongotide/model"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// Two instances of the API behind (say) a load balancer, fed by one relay:
// one instance's leased publisher turns the collection's changes into a
// Redis stream, each instance consumes it as its own group, and every
// client, on either instance, gets its own books' changes in order.
func TestTwoInstancesFedByOneRelay(t *testing.T) {
	uri := testenv.URI(t)
	t.Setenv("MONGODB_URI", uri)
	rs := redistest.Start(t)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var mu sync.Mutex
	var out bytes.Buffer
	type instance struct {
		url  string
		done chan error
	}
	start := func(name string) instance {
		urls := make(chan string, 1)
		in := instance{done: make(chan error, 1)}
		go func() {
			in.done <- run(ctx, config{Addr: "127.0.0.1:0", Out: lockedWriter{&mu, &out}, Redis: rs.Addr, Instance: name,
				ready: func(u string) { urls <- u }})
		}()
		select {
		case in.url = <-urls:
		case err := <-in.done:
			t.Fatalf("instance %s: %v", name, err)
		}
		return in
	}
	i1, i2 := start("i1"), start("i2")

	alice1 := connect(t, i1.url, "alice-token")
	alice1.subscribe("1", allChanges, nil)
	bob2 := connect(t, i2.url, "bob-token")
	bob2.subscribe("1", allChanges, nil)
	alice2 := connect(t, i2.url, "alice-token")
	alice2.subscribe("1", allChanges, nil)

	books := model.New[Book](testenv.Connect(t, uri, options.Client()).Database("library").Collection("books"))
	// The relay starts publishing once an instance holds the lease: write
	// a warm-up book until alice's first subscription gets one.
	warm, stopWarm := context.WithCancel(ctx)
	go func() {
		for warm.Err() == nil {
			_, _ = books.Create(warm, Book{Title: "warmup", Owner: "alice"})
			select {
			case <-warm.Done():
			case <-time.After(100 * time.Millisecond):
			}
		}
	}()
	if c := alice1.next("1"); c.Book == nil || c.Book.Title != "warmup" {
		stopWarm()
		t.Fatalf("first change %+v, want a warm-up book", c)
	}
	stopWarm()
	for _, b := range []Book{{Title: "A1", Owner: "alice"}, {Title: "B1", Owner: "bob"}, {Title: "A2", Owner: "alice"}, {Title: "A3", Owner: "alice"}} {
		if _, err := books.Create(ctx, b); err != nil {
			t.Fatal(err)
		}
	}
	titles := func(w *wsClient, n int) []string {
		var got []string
		for len(got) < n {
			c := w.next("1")
			if c.Book == nil {
				t.Fatalf("change without a book: %+v", c)
			}
			if c.Book.Title != "warmup" {
				got = append(got, c.Book.Owner+":"+c.Book.Title)
			}
		}
		return got
	}
	for name, tc := range map[string]struct {
		w    *wsClient
		want string
	}{
		"alice on instance 1": {alice1, "[alice:A1 alice:A2 alice:A3]"},
		"alice on instance 2": {alice2, "[alice:A1 alice:A2 alice:A3]"},
		"bob on instance 2":   {bob2, "[bob:B1]"},
	} {
		n := 3
		if tc.want == "[bob:B1]" {
			n = 1
		}
		if got := titles(tc.w, n); fmtList(got) != tc.want {
			t.Errorf("%s: got %v, want %s", name, got, tc.want)
		}
	}
	cancel()
	for _, in := range []instance{i1, i2} {
		if err := <-in.done; err != nil {
			t.Fatalf("instance stopped with %v", err)
		}
	}
}

func fmtList(s []string) string {
	var b bytes.Buffer
	b.WriteString("[")
	for i, x := range s {
		if i > 0 {
			b.WriteString(" ")
		}
		b.WriteString(x)
	}
	b.WriteString("]")
	return b.String()
}
