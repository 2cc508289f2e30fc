// Package client is the Go client of the gateway's HTTP API (package
// gateway, docs/gateway.md) for a device or a backend service that holds
// only a bearer token: pull changes, long poll, a live subscription over
// server-sent events, snapshot paging, document reads and queries, push,
// and the gateway's health, readiness and statistics.
//
//	c, err := client.New(client.Config{
//		BaseURL: "https://sync.example.com",
//		Token:   jwt, // or TokenSource, called before every request
//	})
//	if err != nil { ... }              // wraps client.ErrInvalidConfig, names the field
//	defer c.Close(context.Background()) // stops its subscriptions
//
//	// Initial sync, then live changes from where the snapshot was taken.
//	cursor, err := c.Snapshot(ctx, "notes", 500, func(docs []client.Document) error {
//		return store(docs)
//	})
//	sub, err := c.Subscribe(ctx, []string{"notes"}, cursor, func(ctx context.Context, ch client.Change) error {
//		return apply(ch) // an error ends the subscription; the cursor stays before ch
//	})
//	...
//	<-sub.Closed()   // only after Stop or a terminal error:
//	err = sub.Err()  // errors.Is(err, client.ErrUnauthorized), client.ErrCursorExpired, ...
//
// # Documents
//
// Every request asks the gateway for canonical extended JSON (json=canonical),
// and the client reads answers with the driver's bson.UnmarshalExtJSON
// into bson.Raw, so every value keeps its BSON type: ObjectIDs, dates,
// int32 vs int64 vs double (relaxed extended JSON, the gateway's default,
// would turn an int64 that fits in 32 bits into an int32). A document read
// is byte for byte the server's, and its Version is sync.ContentHash of
// it. Decode a Doc with bson.Unmarshal into your own struct or a bson.M.
// Ids, pushed documents and query filters are sent as canonical extended
// JSON too, so what Push writes is stored with the types it had.
//
// # Errors and retries
//
// An error answer is an *APIError carrying the gateway's code and message;
// it wraps the sentinel of its status, for errors.Is: ErrUnauthorized
// (401), ErrForbidden (403), ErrNotFound (404), ErrCursorRejected (400
// bad_cursor), ErrCursorExpired (410: take a snapshot again), ErrBadRequest,
// ErrRateLimited (429), ErrUnavailable (5xx). Network errors, 5xx and 429
// are retried with Config.Backoff, up to Config.MaxRetries times (Health
// and Ready, which are probes, are not retried). Every method takes a
// context, which bounds the call and its retries.
//
// # Push is idempotent
//
// Push sends a batch of operations, each with an operation id (generated
// when left empty). A push that failed on the network or with a 5xx is
// sent again with the same ids; the gateway applies an operation id once
// and answers its repeats with the first result, so a lost answer never
// writes twice.
//
// # Subscriptions
//
// A Subscription reconnects by itself from the cursor of the last change
// its handler took, with Config.Backoff between attempts: after network
// errors, 5xx, a stream silent for Config.HeartbeatTimeout (the gateway
// sends heartbeats), or the gateway's shutdown event, so no change is lost
// or repeated across gateway restarts. It never stops silently: errors
// that reconnecting cannot cure (401, 403, a refused or expired cursor, a
// handler's error) end it, and Err says which.
//
// # Lifecycle
//
// The package has no package-level mutable state. The only goroutines it
// starts are one per Subscription, ended by Subscription.Stop or
// Client.Close, which also closes the HTTP client's idle connections.
package client
