package main

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/mongotide/mongotide/gateway"
	"github.com/spf13/cobra"
)

type serveFlags struct {
	addr, uri, db    string
	collections      []string
	ownerField       string
	writeRoles       []string
	secretFile       string
	origins          []string
	heartbeat        time.Duration
	shutdownDeadline time.Duration
	sseQueryToken    bool
}

func newServeCmd(stdout, stderr io.Writer) *cobra.Command {
	var f serveFlags
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Serve collections over HTTP: pull changes, snapshot, documents, push (the gateway)",
		Long: `Runs the gateway (package gateway, docs/gateway.md): clients holding a JWT pull the
changes of their own documents (live with long polling or server-sent events), page an
initial snapshot, read or query documents and push operations, without database
credentials.

Each --collections collection is owner-scoped: a client sees the documents whose
--owner-field equals its token's "sub" claim; every signed-in client may read, and
clients with one of --write-roles (default "*": every signed-in client) may push
their own documents.

--jwt-secret-file F holds the HS256 secret (at least 32 bytes; surrounding whitespace is
trimmed). Cursors are signed with a key derived from it, so every instance started with the
same file accepts the others' cursors. Without it, a random secret is generated for this run
and a development token (owner "dev", role admin, valid 24 h) is printed on stderr.

Without --uri it starts the embedded server. It prints its URL on stdout, then serves until
Ctrl-C, which ends live streams and exits.`,
		Example: `  mongotide serve
  mongotide serve --uri 'mongodb://localhost:27017/?replicaSet=rs0' --db app \
      --collections notes,tasks --jwt-secret-file /run/secrets/jwt --addr 0.0.0.0:8080`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runServe(cmd.Context(), f, stdout, stderr)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.addr, "addr", "127.0.0.1:8080", "HOST:PORT to listen on (port 0: any free port)")
	fl.StringVar(&f.uri, "uri", "", "MongoDB replica set URI (default: start the embedded server)")
	fl.StringVar(&f.db, "db", "mongotide_demo", "database name")
	fl.StringSliceVar(&f.collections, "collections", []string{"books"}, "collections to serve, comma separated")
	fl.StringVar(&f.ownerField, "owner-field", "owner", "document field holding the owner id")
	fl.StringSliceVar(&f.writeRoles, "write-roles", []string{"*"}, `roles that may push (POST /v1/operations), comma separated ("*": any signed-in client; "": nobody)`)
	fl.StringVar(&f.secretFile, "jwt-secret-file", "", "file holding the HS256 secret (default: a random one, with a dev token)")
	fl.StringSliceVar(&f.origins, "origins", nil, "CORS origins allowed, comma separated (* for any)")
	fl.DurationVar(&f.heartbeat, "heartbeat", 15*time.Second, "interval of SSE heartbeats")
	fl.BoolVar(&f.sseQueryToken, "sse-query-token", false, "accept the token as access_token in the URL of live=sse pulls (a browser's EventSource cannot send headers; URLs reach logs: use short-lived tokens)")
	fl.DurationVar(&f.shutdownDeadline, "shutdown-timeout", 10*time.Second, "how long Ctrl-C waits for requests to end")
	return cmd
}

func runServe(ctx context.Context, f serveFlags, stdout, stderr io.Writer) error {
	if len(f.collections) == 0 {
		return usageError{fmt.Errorf("--collections is empty")}
	}
	secret, dev, err := serveSecret(f.secretFile)
	if err != nil {
		return err
	}
	client, cleanup, err := connect(ctx, f.uri, stderr)
	if err != nil {
		return err
	}
	defer cleanup()
	auth, err := gateway.NewJWTAuthenticator(gateway.JWTConfig{HS256Secret: secret, QueryTokenForSSE: f.sseQueryToken})
	if err != nil {
		return usageError{err}
	}
	rules := map[string]gateway.Rule{}
	for _, c := range f.collections {
		rules[strings.TrimSpace(c)] = gateway.Rule{OwnerField: f.ownerField, ReadRoles: []string{"*"}, WriteRoles: f.writeRoles}
	}
	gw, err := gateway.New(gateway.Config{
		Database:       client.Database(f.db),
		Collections:    rules,
		Authenticator:  auth,
		CursorKey:      cursorKey(secret),
		Addr:           f.addr,
		AllowedOrigins: f.origins,
		Heartbeat:      f.heartbeat,
	})
	if err != nil {
		return usageError{err}
	}
	if err := gw.Start(ctx); err != nil {
		return err
	}
	if dev {
		tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{
			"sub": "dev", "roles": []string{"admin"}, "exp": time.Now().Add(24 * time.Hour).Unix(),
		}).SignedString(secret)
		if err == nil {
			fmt.Fprintf(stderr, "mongotide: no --jwt-secret-file: random secret for this run; development token (owner \"dev\", admin):\n%s\n", tok)
		}
	}
	fmt.Fprintf(stdout, "serving %s.%s on http://%s\n", f.db, strings.Join(f.collections, ","), gw.Addr())
	<-ctx.Done()
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), f.shutdownDeadline)
	defer cancel()
	if err := gw.Stop(sctx); err != nil {
		return fmt.Errorf("stop: %w", err)
	}
	return nil
}

// serveSecret reads the JWT secret, or makes a random one (dev is true).
func serveSecret(path string) (secret []byte, dev bool, err error) {
	if path == "" {
		secret = make([]byte, 32)
		_, err = rand.Read(secret)
		return secret, true, err
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, false, usageError{fmt.Errorf("--jwt-secret-file: %w", err)}
	}
	secret = []byte(strings.TrimSpace(string(b)))
	if len(secret) < 32 {
		return nil, false, usageError{fmt.Errorf("--jwt-secret-file %s: the secret must have at least 32 bytes, has %d", path, len(secret))}
	}
	return secret, false, nil
}

// cursorKey derives the cursor-signing key from the JWT secret, so that
// instances sharing the secret share the key, and a token can never be
// passed off as a cursor or the reverse.
func cursorKey(secret []byte) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte("mongotide serve cursor key"))
	return m.Sum(nil)
}
