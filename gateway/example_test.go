package gateway_test

import (
	"context"
	"log"
	"net/http"
	"os"
	"os/signal"

	"github.com/mongotide/mongotide/gateway"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// A gateway for a notes app: each user reads their own notes (owner ==
// the token's sub), the board is shared, and "audit" is not served at all
// (no rule: 403).
func Example() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	client, err := mongo.Connect(options.Client().ApplyURI(os.Getenv("MONGODB_URI")))
	if err != nil {
		log.Fatal(err)
	}
	defer client.Disconnect(context.Background())

	auth, err := gateway.NewJWTAuthenticator(gateway.JWTConfig{
		HS256Secret: []byte(os.Getenv("JWT_SECRET")),
	})
	if err != nil {
		log.Fatal(err)
	}
	gw, err := gateway.New(gateway.Config{
		Database: client.Database("app"),
		Collections: map[string]gateway.Rule{
			"notes": {OwnerField: "owner", ReadRoles: []string{"*"}},
			"board": {Shared: true, ReadRoles: []string{"member"}},
		},
		Authenticator:  auth,
		CursorKey:      []byte(os.Getenv("CURSOR_KEY")), // the same on every instance
		AllowedOrigins: []string{"https://notes.example"},
	})
	if err != nil {
		log.Fatal(err)
	}
	if err := gw.Start(ctx); err != nil {
		log.Fatal(err)
	}
	srv := &http.Server{Addr: ":8080", Handler: gw}
	go func() {
		<-ctx.Done()
		_ = gw.Stop(context.Background()) // ends SSE streams and long polls first
		_ = srv.Shutdown(context.Background())
	}()
	if err := srv.ListenAndServe(); err != http.ErrServerClosed {
		log.Fatal(err)
	}
}
