package embedded

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"

	"github.com/xdg-go/scram"
	"go.mongodb.org/mongo-driver/v2/bson"
)

// Authentication: SCRAM-SHA-256 (RFC 7677) over saslStart/saslContinue, as
// mongod with --auth, users of Config.Users in the admin database.

const (
	mechSCRAMSHA256 = "SCRAM-SHA-256"
	authDB          = "admin"
	// scramIterations is mongod's default scramSHA256IterationCount.
	scramIterations = 15000
	saltLen         = 28
	// conversationID is the only SASL conversation id: a connection runs
	// one conversation at a time.
	conversationID int32 = 1

	codeProtocolError        int32 = 17
	codeAuthenticationFailed int32 = 18
	codeMechanismUnavailable int32 = 334
)

// authFreeCommands run before authentication, as on mongod: the handshake,
// the authentication commands themselves and harmless probes.
var authFreeCommands = map[string]bool{
	"hello": true, "isMaster": true, "ismaster": true, "saslStart": true, "saslContinue": true,
	"ping": true, "buildInfo": true, "buildinfo": true, "connectionStatus": true, "whatsmyuri": true,
}

// authenticator holds the users' stored SCRAM credentials; passwords are
// not kept.
type authenticator struct {
	server *scram.Server
}

// newAuthenticator derives the stored credentials of users; nil without
// users (authentication off).
func newAuthenticator(users []User) (*authenticator, error) {
	if len(users) == 0 {
		return nil, nil
	}
	creds := make(map[string]scram.StoredCredentials, len(users))
	for _, u := range users {
		client, err := scram.SHA256.NewClient(u.Name, u.Password, "")
		if err != nil {
			return nil, fmt.Errorf("%w: user %q: %v", ErrInvalidConfig, u.Name, err)
		}
		salt := make([]byte, saltLen)
		if _, err := rand.Read(salt); err != nil {
			return nil, fmt.Errorf("embedded: salt for user %q: %w", u.Name, err)
		}
		sc, err := client.GetStoredCredentialsWithError(scram.KeyFactors{Salt: string(salt), Iters: scramIterations})
		if err != nil {
			return nil, fmt.Errorf("%w: user %q: %v", ErrInvalidConfig, u.Name, err)
		}
		creds[u.Name] = sc
	}
	srv, err := scram.SHA256.NewServer(func(name string) (scram.StoredCredentials, error) {
		c, ok := creds[name]
		if !ok {
			return scram.StoredCredentials{}, fmt.Errorf("no user %q in %s", name, authDB)
		}
		return c, nil
	})
	if err != nil {
		return nil, fmt.Errorf("embedded: SCRAM server: %w", err)
	}
	return &authenticator{server: srv}, nil
}

// saslConversation is a connection's authentication in progress.
type saslConversation struct {
	conv *scram.ServerConversation
	// skipEmptyExchange: the client accepts done:true with the server's
	// final message instead of one more empty round.
	skipEmptyExchange bool
	// verified is set once the proof checked out and the client still
	// owes the empty round.
	verified bool
}

// checkAuthenticated refuses a command before authentication, with
// mongod's code and words.
func (c *conn) checkAuthenticated(name string) *commandError {
	if c.s.auth == nil || c.authUser != "" || authFreeCommands[name] {
		return nil
	}
	return errorf(codeUnauthorized, "Unauthorized", "Command %s requires authentication", name)
}

// authFailed is what the client learns of any failed authentication
// (mongod's message: no hint whether the user exists); the cause goes to
// the log.
func (c *conn) authFailed(user string, cause error) *commandError {
	c.logger.Warn("authentication failed", "user", user, "db", authDB, "mechanism", mechSCRAMSHA256, "reason", cause.Error())
	c.sasl = nil
	return errorf(codeAuthenticationFailed, "AuthenticationFailed", "Authentication failed.")
}

// saslStart begins a conversation: cmd is a saslStart command (or a
// hello's speculativeAuthenticate) and db the database it authenticates
// against. It returns the reply fields {conversationId, done, payload}.
func (c *conn) saslStart(cmd bson.D, db string) (bson.D, *commandError) {
	if c.s.auth == nil {
		return nil, errorf(codeAuthenticationFailed, "AuthenticationFailed",
			"Authentication failed: authentication is not supported by this server without users (it has none: set Config.Users, or mongotide embedded --auth --user NAME:PASSWORD); connect without credentials")
	}
	mech, _ := lookup(cmd, "mechanism")
	if mech != mechSCRAMSHA256 {
		return nil, errorf(codeMechanismUnavailable, "MechanismUnavailable",
			"Received authentication for mechanism %v which is not enabled (this server supports SCRAM-SHA-256 only)", mech)
	}
	if db != authDB {
		return nil, c.authFailed("", fmt.Errorf("users are defined in %s, not %s (set authSource=admin)", authDB, db))
	}
	payload, ok := binaryPayload(cmd)
	if !ok {
		return nil, errorf(codeBadValue, "BadValue", "saslStart payload must be binary data")
	}
	sc := &saslConversation{conv: c.s.auth.server.NewConversation()}
	if opts, ok := lookup(cmd, "options"); ok {
		if od, ok := opts.(bson.D); ok {
			skip, _ := lookup(od, "skipEmptyExchange")
			sc.skipEmptyExchange = skip == true
		}
	}
	out, err := sc.conv.Step(string(payload))
	if err != nil {
		return nil, c.authFailed(sc.conv.Username(), err)
	}
	c.sasl = sc
	c.authUser = ""
	return saslReply(false, out), nil
}

// saslContinue runs the next step of the connection's conversation.
func (c *conn) saslContinue(cmd bson.D) (bson.D, *commandError) {
	sc := c.sasl
	id, _ := lookup(cmd, "conversationId")
	if n, ok := asInt64(id); sc == nil || !ok || n != int64(conversationID) {
		return nil, errorf(codeProtocolError, "ProtocolError", "No SASL session state found for conversationId %v: send saslStart first", id)
	}
	payload, ok := binaryPayload(cmd)
	if !ok {
		return nil, errorf(codeBadValue, "BadValue", "saslContinue payload must be binary data")
	}
	if sc.verified {
		// The empty round of clients without skipEmptyExchange.
		c.sasl = nil
		return saslReply(true, ""), nil
	}
	out, err := sc.conv.Step(string(payload))
	if err != nil {
		return nil, c.authFailed(sc.conv.Username(), err)
	}
	if !sc.conv.Valid() {
		return nil, c.authFailed(sc.conv.Username(), errors.New("invalid proof"))
	}
	c.authUser = sc.conv.Username()
	c.logger.Debug("authenticated", "user", c.authUser, "db", authDB, "mechanism", mechSCRAMSHA256)
	if sc.skipEmptyExchange {
		c.sasl = nil
		return saslReply(true, out), nil
	}
	sc.verified = true
	return saslReply(false, out), nil
}

func saslReply(done bool, payload string) bson.D {
	return bson.D{
		{Key: "conversationId", Value: conversationID},
		{Key: "done", Value: done},
		{Key: "payload", Value: bson.Binary{Data: []byte(payload)}},
	}
}

func binaryPayload(cmd bson.D) ([]byte, bool) {
	v, _ := lookup(cmd, "payload")
	switch p := v.(type) {
	case bson.Binary:
		return p.Data, true
	case []byte:
		return p, true
	case string: // some clients send the payload as a string
		return []byte(p), true
	}
	return nil, false
}

func cmdSaslStart(ctx context.Context, _ *Server, req *request) (bson.D, error) {
	c := connFrom(ctx)
	if c == nil {
		return nil, errorf(codeAuthenticationFailed, "AuthenticationFailed", "authentication needs a connection")
	}
	out, ce := c.saslStart(req.Body, req.DB)
	if ce != nil {
		return nil, ce
	}
	return out, nil
}

func cmdSaslContinue(ctx context.Context, _ *Server, req *request) (bson.D, error) {
	c := connFrom(ctx)
	if c == nil {
		return nil, errorf(codeAuthenticationFailed, "AuthenticationFailed", "authentication needs a connection")
	}
	out, ce := c.saslContinue(req.Body)
	if ce != nil {
		return nil, ce
	}
	return out, nil
}

// helloAuthFields answers a handshake's saslSupportedMechs and runs its
// speculativeAuthenticate (the first SCRAM step inside hello, saving a
// round trip). A failed speculative attempt is left out of the reply, as
// mongod does: the driver then authenticates with saslStart and learns why.
func (s *Server) helloAuthFields(req *request, c *conn) bson.D {
	if s.auth == nil || c == nil {
		return nil
	}
	var out bson.D
	if _, ok := lookup(req.Body, "saslSupportedMechs"); ok {
		out = append(out, bson.E{Key: "saslSupportedMechs", Value: bson.A{mechSCRAMSHA256}})
	}
	if v, ok := lookup(req.Body, "speculativeAuthenticate"); ok {
		if sa, ok := v.(bson.D); ok {
			db, _ := lookup(sa, "db")
			dbs, _ := db.(string)
			if reply, ce := c.saslStart(sa, dbs); ce == nil {
				out = append(out, bson.E{Key: "speculativeAuthenticate", Value: reply})
			}
		}
	}
	return out
}

// authInfo is connectionStatus's authInfo for the connection.
func (c *conn) authInfo() bson.D {
	users, roles := bson.A{}, bson.A{}
	if c != nil && c.authUser != "" {
		users = append(users, bson.D{{Key: "user", Value: c.authUser}, {Key: "db", Value: authDB}})
		roles = append(roles, bson.D{{Key: "role", Value: "root"}, {Key: "db", Value: authDB}})
	}
	return bson.D{{Key: "authenticatedUsers", Value: users}, {Key: "authenticatedUserRoles", Value: roles}}
}

// authMechanisms is getParameter's authenticationMechanisms.
func (s *Server) authMechanisms() bson.A {
	if s.auth == nil {
		return bson.A{}
	}
	return bson.A{mechSCRAMSHA256}
}
