// Command graphql-subscriptions serves a GraphQL subscription,
// bookChanged, fed by a mongotide change-stream listener, over WebSocket
// with the graphql-transport-ws protocol (the one the graphql-ws npm client
// speaks). Each connection authenticates in connection_init and only sees
// changes to its own books.
//
//	go run ./examples/graphql-subscriptions [-addr 127.0.0.1:8080]
//
// It runs on the embedded server unless MONGODB_URI names a replica set,
// and writes demo books every couple of seconds so there is something to see.
package main
