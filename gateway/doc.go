// Package gateway is an HTTP server in front of MongoDB for devices and
// browsers: they pull changes, page an initial snapshot and read or query
// documents holding only a bearer token, while the gateway alone holds the
// database credentials and the change streams.
//
//	gw, err := gateway.New(gateway.Config{
//		Database:      client.Database("app"),
//		Collections:   map[string]gateway.Rule{"notes": {OwnerField: "owner", ReadRoles: []string{"*"}}},
//		Authenticator: jwtAuth, // gateway.NewJWTAuthenticator(...)
//		CursorKey:     key,     // the same on every instance
//	})
//	if err := gw.Start(ctx); err != nil { ... } // opens one change stream per collection
//	defer gw.Stop(ctx)                          // ends live streams, closes the change streams
//	http.Handle("/", gw)
//
// # Design
//
// One shared change stream per collection per gateway (a listen
// subscription) appends every change to an in-memory ring; clients never
// open a server cursor of their own while their position is in the ring.
// A live request at the ring's edge waits for its owner's changes only, so
// a write wakes its owners' requests, not every connected client.
// A pull reads the ring from the client's cursor, keeps the caller's
// documents only (the rule's owner field must equal the principal's owner
// id), and returns the next cursor. A cursor older than the ring opens a
// change stream from its resume token for that request only.
//
// Cursors are opaque and HMAC-signed with Config.CursorKey: a resume token
// and cluster time per collection, bound to the owner and the collection
// list. They hold no instance state, so every instance sharing the key
// accepts them.
//
// Access fails closed: a collection without a Rule is 403 on every
// endpoint, and a request without a valid token is 401.
//
// Lifecycle, as in every mongotide package: Start(ctx) bounds the start
// only; Stop(ctx) is graceful and idempotent (live requests end, the HTTP
// listener, if Config.Addr is set, shuts down, the change streams close).
//
// # Exact types
//
// Documents and ids are written as relaxed extended JSON unless the
// request asks for json=canonical: relaxed turns an int64 that fits in 32
// bits into a plain number, read back as an int32, so a client keeping
// BSON would hold another document (another content hash) than the
// server. Requests may send either form.
//
// # Push
//
// POST /v1/operations applies a batch of insert / replace / patch
// (set/unset) / delete operations, each with a client operation id and the
// version it was based on. The gateway's database is the remote of package
// sync: each operation runs through sync.RemoteWriter, which in one
// transaction reads the document and its sync version entry, decides with
// sync's upload planner and conflict rules (Config.Conflict) and writes the
// document with its version entry, exactly as a sync replica's upload does,
// together with the operation's idempotency record. A repeated opId
// answers its first result and writes nothing. Every document the gateway
// returns comes with its version (sync's content hash of the stored BSON),
// which a push sends back as its base. A result that overwrote or lost to
// a concurrent edit carries sync's conflict record of it (the "conflict"
// object), for the device's own conflict log. Rule.WriteRoles says who
// may push; writes are owner-scoped like reads. POST /v1/compact (admin) drops old
// idempotency records and tombstones. See docs/gateway.md.
package gateway
