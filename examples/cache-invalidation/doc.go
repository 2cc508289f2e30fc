// Command cache-invalidation shows a read-through Redis cache of MongoDB
// documents that change streams keep fresh: every update, replace or delete,
// whoever makes it, evicts the cached copy within the listener's lag.
//
//	go run ./examples/cache-invalidation
//
// It runs on the embedded server and a throwaway redis-server by default;
// set MONGODB_URI (a replica set) and/or REDIS_URL to use your own.
package main
