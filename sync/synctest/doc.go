// Package synctest is the conformance suite of sync's transports: the
// conflict outcome table (every pair of concurrent operations under every
// policy) and the offline tests run, unchanged, against a remote database
// (sync.Config.Remote) and through a gateway (sync.Config.Gateway), so the
// two ways of syncing are held to one behaviour.
//
// It is test support: import it from _test.go files only. Run starts its
// own embedded servers (and gateways) on loopback.
package synctest
