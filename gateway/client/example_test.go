package client_test

import (
	"context"
	"fmt"
	"log"
	"net/http/httptest"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/mongotide/mongotide/embedded"
	"github.com/mongotide/mongotide/gateway"
	"github.com/mongotide/mongotide/gateway/client"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// A device's initial sync and live changes: alice takes a snapshot of her
// notes, then subscribes from the snapshot's cursor and gets a note
// written afterwards, not bob's. (The first half starts a gateway on an
// embedded server; a device has only the URL and a token.)
func Example() {
	ctx := context.Background()
	srv, err := embedded.Start(ctx, embedded.Config{})
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Stop(ctx)
	mc, err := mongo.Connect(options.Client().ApplyURI(srv.URI()))
	if err != nil {
		log.Fatal(err)
	}
	defer mc.Disconnect(ctx)
	notes := mc.Database("app").Collection("notes")
	secret := []byte("example-secret-example-secret-0123456789")
	auth, _ := gateway.NewJWTAuthenticator(gateway.JWTConfig{HS256Secret: secret})
	gw, err := gateway.New(gateway.Config{
		Database:      mc.Database("app"),
		Collections:   map[string]gateway.Rule{"notes": {OwnerField: "owner", ReadRoles: []string{"*"}}},
		Authenticator: auth,
		CursorKey:     []byte("example-cursor-key-example-cursor-key"),
	})
	if err != nil {
		log.Fatal(err)
	}
	if err := gw.Start(ctx); err != nil {
		log.Fatal(err)
	}
	defer gw.Stop(ctx)
	hs := httptest.NewServer(gw)
	defer hs.Close()
	tok, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{
		"sub": "alice", "exp": time.Now().Add(time.Hour).Unix(),
	}).SignedString(secret)
	notes.InsertOne(ctx, bson.D{{Key: "_id", Value: "n1"}, {Key: "owner", Value: "alice"}, {Key: "text", Value: "hello"}})

	// The device's side.
	c, err := client.New(client.Config{BaseURL: hs.URL, Token: tok})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close(ctx)
	// The device's store: documents by _id. Changes are applied as
	// upserts: one committed while the pages are read can come again as a
	// change, which then changes nothing.
	store := map[string]string{}
	cursor, err := c.Snapshot(ctx, "notes", 100, func(docs []client.Document) error {
		for _, d := range docs {
			store[d.ID().StringValue()] = d.Doc.Lookup("text").StringValue()
			fmt.Println("snapshot:", d.ID().StringValue(), store[d.ID().StringValue()])
		}
		return nil
	})
	if err != nil {
		log.Fatal(err)
	}
	news := make(chan string, 10)
	sub, err := c.Subscribe(ctx, []string{"notes"}, cursor, func(_ context.Context, ch client.Change) error {
		id, text := ch.ID.StringValue(), ch.Doc.Lookup("text").StringValue()
		if store[id] != text {
			store[id] = text
			news <- fmt.Sprint("live: ", ch.Op, " ", id, " ", text)
		}
		return nil
	})
	if err != nil {
		log.Fatal(err)
	}
	defer sub.Stop(ctx)

	notes.InsertOne(ctx, bson.D{{Key: "_id", Value: "b1"}, {Key: "owner", Value: "bob"}, {Key: "text", Value: "not for alice"}})
	notes.InsertOne(ctx, bson.D{{Key: "_id", Value: "n2"}, {Key: "owner", Value: "alice"}, {Key: "text", Value: "world"}})
	select {
	case s := <-news:
		fmt.Println(s)
	case <-time.After(20 * time.Second):
		fmt.Println("no change:", sub.Err())
	}
	// Output:
	// snapshot: n1 hello
	// live: insert n2 world
}
