// Package lease is the interface of named, expiring, exclusive leases with
// fencing tokens, which let one process of many do something at a time
// (deliver a listener's events, publish a relay) and let the others take
// over when it dies.
//
// A Grant is valid until its Deadline, computed on the holder's clock as
// the time the request was sent plus the TTL minus a drift margin: the
// server starts its TTL only when the request arrives, so the holder always
// believes itself the holder for less long than the server does. A holder
// must stop acting on the lease at its Deadline unless a Renew succeeded
// before it; another process can only acquire the lease after the server
// let it expire, which is after that Deadline (given clocks that run at
// rates within the drift margin of each other; pauses, such as SIGSTOP or a
// long GC, do not matter because the holder checks the Deadline on a
// monotonic clock before acting).
//
// Work that a paused holder had already started is not undone by the lease
// (a listener's handler call that passed the deadline check just before the
// process was stopped finishes when it continues, one per worker):
// fencing tokens are for that. Each Acquire hands out a token greater than
// every earlier one for the name, and stores that accept fenced writes
// (resume.FencedStore) refuse a write carrying a token lower than one they
// have seen, so a holder that woke up late cannot overwrite its
// successor's checkpoint.
//
// lease/redislease implements it on Redis (single node or Cluster).
package lease
